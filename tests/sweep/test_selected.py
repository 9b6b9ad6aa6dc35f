"""A training sweep ends in a test number: the selected trial is scored once on the test split;
a credit sweep's best/ is complete (calibrated, scorable, exportable)."""

from __future__ import annotations

import json

from quantjax.cli.main import main

from support.paths import CONFIGS, GERMAN_CSV

HFT_YAML = f"""
sweep:
  kind: hft
  base_config: {CONFIGS / "hft_lstm_tiny.yaml"}
  # the model, features and data of test_sweep's HFT sweep (2 trials a program there too), so
  # the vmapped training program compiled by one of them is a cache hit in the other
  overrides: ["model.sequence_length=4", "model.hidden_size=4", "model.attention_heads=1",
              "model.causal=true",
              "train.epochs=1", "train.batch_size=32", "data.synthetic.symbols=2",
              "data.synthetic.steps=700", "data.features.groups=[returns, volatility]",
              "data.features.timeframes=[5]", "data.features.lags=[1]",
              "data.features.stat_windows=[10]", "evaluation.oracle_paths=50",
              "evaluation.bootstrap_resamples=100"]
search:
  method: grid
  params:
    train.learning_rate: [0.001, 0.01]
"""

CREDIT_YAML = f"""
sweep:
  kind: credit
  base_config: {CONFIGS / "credit_transformer_tiny.yaml"}
  data: {GERMAN_CSV}
  schema: {CONFIGS / "credit_schema_german.yaml"}
  overrides: ["train.epochs=2", "train.start_from_epoch=0", "decision.ig_steps=4"]
search:
  method: grid
  params:
    train.learning_rate: [0.0003, 0.003]
"""


def _sweep(tmp_path, text):
    cfg = tmp_path / "sweep.yaml"
    cfg.write_text(text)
    out = tmp_path / "run"
    assert main(["sweep", "--config", str(cfg), "--workdir", str(out), "--no-progress"]) == 0
    return out, json.loads((out / "metrics.json").read_text())


def test_hft_sweep_scores_the_selected_trial_on_test(tmp_path):
    out, m = _sweep(tmp_path, HFT_YAML)
    best = m["best"]
    assert best["trial"] == m["best_trial"] and best["n_trials"] == m["n_trials"] == 2
    test = best["test"]
    for key in ("directional_accuracy", "directional_accuracy_ci", "ic", "rank_ic", "icir",
                "bayes_accuracy", "bayes_accuracy_population", "linear_baseline_accuracy"):
        assert key in test, key
    gap = best["val_to_test_gap"]["val_accuracy-directional_accuracy"]
    assert gap == best["val"]["val_accuracy"] - test["directional_accuracy"]


def test_credit_sweep_best_is_calibrated_scorable_and_exportable(tmp_path):
    out, m = _sweep(tmp_path, CREDIT_YAML)
    best = out / "best"
    cal = json.loads((best / "calibration.json").read_text())
    assert cal["temperature"] > 0 and "encoder" in cal
    test = m["best"]["test"]
    assert {"auc", "ks", "brier", "auc_ci", "ks_ci", "brier_ci", "accuracy_ci"} <= set(test)
    assert test["auc_ci"][0] <= test["auc"] <= test["auc_ci"][1]
    assert "val_score-auc" in m["best"]["val_to_test_gap"]
    assert main(["score", "credit", "--checkpoint", str(best), "--data", str(GERMAN_CSV),
                 "--out", str(tmp_path / "scored.csv"), "--no-explain"]) == 0
    assert main(["export", "--checkpoint", str(best), "--out", str(tmp_path / "c.qjx")]) == 0
    assert (tmp_path / "c.qjx").stat().st_size > 0
