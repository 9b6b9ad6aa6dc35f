"""Checkpoint-driven strategy sweeps: a tiny `quantjax train hft` run, then strategy sweeps
over its best checkpoint and over its predictions.npz (raw Sharpe + DSR of the best trial)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from quantjax.cli.main import main

TINY = ["model.sequence_length=4", "model.hidden_size=4", "model.attention_heads=1",
        "model.causal=true", "train.epochs=1", "train.batch_size=32",
        "data.synthetic.symbols=2", "data.synthetic.steps=700",
        "data.features.groups=[returns, volatility]", "data.features.timeframes=[5]",
        "data.features.lags=[1]", "data.features.stat_windows=[10]"]

SWEEP = """
sweep:
  kind: backtest
  overrides: ["risk.max_drawdown=0.0"]
  objective: sharpe
search:
  method: grid
  params:
    strategy.confidence: [0.34, 0.4, 0.5]
    strategy.kelly_fraction: [0.5, 1.0]
    risk.stop_loss: [0.005, 0.02]
    risk.fee_rate: [0.0, 0.0005]
backtest:
  signal: {signal}
  {key}: {path}
"""


@pytest.fixture(scope="module")
def hft_run(tmp_path_factory):
    # its own run (not the shared tiny run): the assertions below were written for the
    # predictions of this causal 700-bar model
    run = tmp_path_factory.mktemp("hft") / "run"
    args = ["train", "hft", "--synthetic", "--config", "configs/hft_lstm_tiny.yaml",
            "--workdir", str(run), "--no-progress"]
    for o in TINY:
        args += ["--set", o]
    assert main(args) == 0
    assert (run / "predictions.npz").is_file()
    return run


def _sweep(tmp_path, signal: str, key: str, path, *extra) -> dict:
    cfg = tmp_path / f"{signal}.yaml"
    cfg.write_text(SWEEP.format(signal=signal, key=key, path=path))
    out = tmp_path / signal
    assert main(["sweep", "--config", str(cfg), "--workdir", str(out), "--no-progress",
                 *extra]) == 0
    m = json.loads((out / "metrics.json").read_text())
    m["_df"] = pd.read_parquet(out / "trials.parquet")
    return m


def test_checkpoint_and_predictions_strategy_sweeps(hft_run, tmp_path):
    run_cfg = yaml.safe_load((hft_run / "config.yaml").read_text())
    T = run_cfg["data"]["synthetic"]["steps"]
    test_frac = run_cfg["data"]["split"][2]
    with np.load(hft_run / "predictions.npz") as z:
        t_pred = np.asarray(z["index"])[:, 1]

    mc = _sweep(tmp_path, "checkpoint", "checkpoint", hft_run)
    mp = _sweep(tmp_path, "predictions", "predictions", hft_run / "predictions.npz")
    for m in (mc, mp):
        df = m["_df"]
        assert m["n_trials"] == len(df) == 24 and m["kind"] == "backtest"
        assert m["best_trial"] == int(df["sharpe"].idxmax())
        assert m["best_sharpe"] == pytest.approx(df["sharpe"].max())
        d = m["dsr"]
        # trials that never trade have no Sharpe ratio and do not count in N
        assert d["n_trials"] == int(np.isfinite(df["sharpe_per_period"]).sum()) >= 2
        assert d["dsr"] is None or 0.0 <= d["dsr"] <= 1.0
        assert m["deflated_sharpe_ratio"] == d["dsr"]
        assert df["n_trades"].max() > 0  # the model's predictions do trade
    # period auto: out-of-sample bars only
    gc, gp = mc["groups"][0], mp["groups"][0]
    assert gc["signal"]["source"] == "checkpoint" and gc["symbols"] == 2
    assert gc["signal"]["first_bar"] == int(np.floor((1 - test_frac) * T))
    assert gc["steps"] == T - gc["signal"]["first_bar"]
    assert gp["signal"]["first_bar"] == t_pred.min()
    assert gp["steps"] == t_pred.max() - t_pred.min() + 1
    # a higher confidence gate trades less (same other params)
    df = mp["_df"]
    keys = ["strategy.kelly_fraction", "risk.stop_loss", "risk.fee_rate"]
    lo = df[df["strategy.confidence"] == 0.34].set_index(keys)["n_trades"]
    hi = df[df["strategy.confidence"] == 0.5].set_index(keys)["n_trades"]
    assert (hi.loc[lo.index] <= lo).all()


def test_model_signal_config_errors(hft_run, tmp_path, capsys):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("sweep: {kind: backtest}\nsearch: {params: {risk.stop_loss: [0.01]}}\n"
                   "backtest: {signal: checkpoint}\n")
    assert main(["sweep", "--config", str(cfg), "--workdir", str(tmp_path / "o")]) == 2
    assert "backtest.checkpoint" in capsys.readouterr().err
    bad = tmp_path / "bad.npz"
    np.savez(bad, index=np.array([[0, 10**6]], np.int32), direction_probs=np.ones((1, 3)) / 3,
             pred_return=np.zeros(1), pred_vol=np.ones(1))
    (tmp_path / "config.yaml").write_text((hft_run / "config.yaml").read_text())
    cfg.write_text("sweep: {kind: backtest}\nsearch: {params: {risk.stop_loss: [0.01]}}\n"
                   f"backtest: {{signal: predictions, predictions: {bad}}}\n")
    assert main(["sweep", "--config", str(cfg), "--workdir", str(tmp_path / "o")]) == 2
    assert "t 1000000" in capsys.readouterr().err


def test_training_program_has_no_lapack_qr():
    """Neither the init nor the vmapped trainer calls LAPACK's QR (the orthogonal init is a
    jnp Householder QR): concurrent LAPACK QRs deadlocked sweeps on CPU."""
    from quantjax.config import load
    from quantjax.hft.config import HFTConfig
    from quantjax.sweep.config import SweepSection
    from quantjax.sweep.tasks import prepare_hft
    from quantjax.sweep.train_sweep import init_params, make_init, make_program, stack

    cfg = load(HFTConfig, "configs/hft_lstm_tiny.yaml", TINY)
    prep = prepare_hft(cfg, SweepSection(kind="hft"), {})
    hps = [prep.hparams(cfg), prep.hparams(cfg)._replace(seed=np.int32(1))]
    assert "geqrf" not in make_init(prep.task, cfg.train).lower(hps[0]).as_text()
    p0 = init_params(prep.task, cfg.train, hps)
    text = make_program(prep.task, cfg.train).lower(stack(hps), p0, prep.data).as_text()
    assert "geqrf" not in text
