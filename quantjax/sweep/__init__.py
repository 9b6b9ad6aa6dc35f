"""Hyperparameter and strategy sweeps: vmapped trials, sharding, the Deflated Sharpe Ratio.

``run_sweep(cfg, workdir)`` (:mod:`quantjax.sweep.run`) dispatches on ``sweep.kind``:
training sweeps (:mod:`quantjax.sweep.train_sweep`) and strategy sweeps
(:mod:`quantjax.sweep.backtest_sweep`). See docs/sweep.md.
"""
