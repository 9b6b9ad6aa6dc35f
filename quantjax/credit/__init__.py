"""Credit-risk logic around the transformer: metrics, calibration, the logistic-regression
baseline, decisions, reason codes, the training task, cross-validation and scoring."""
