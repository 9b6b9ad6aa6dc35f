"""Sweeps: search spaces, the Deflated Sharpe Ratio, config errors and the CLI end to end."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantjax.cli.main import main
from quantjax.config import from_dict
from quantjax.errors import ConfigError
from quantjax.sweep import dsr
from quantjax.sweep.config import SearchConfig
from quantjax.sweep.space import group_trials, make_trials


def _search(**kw) -> SearchConfig:
    return from_dict(SearchConfig, kw)


def test_grid_is_cartesian_product_and_accepts_nested_keys():
    s = _search(method="grid", params={"train": {"learning_rate": [1e-3, 1e-2]},
                                       "model.hidden_size": [8, 16, 32], "train.seed": 3})
    t = make_trials(s)
    assert len(t) == 6
    assert t[0] == {"train.learning_rate": 1e-3, "model.hidden_size": 8, "train.seed": 3}
    assert {(x["train.learning_rate"], x["model.hidden_size"]) for x in t} == {
        (a, b) for a in (1e-3, 1e-2) for b in (8, 16, 32)}


def test_random_search_is_seeded_and_in_range():
    params = {"a": {"log_uniform": [1e-4, 1e-2]}, "b": {"uniform": [0, 1]},
              "c": {"int_uniform": [2, 4]}, "d": [[1, 1], [1, 2]]}
    t1 = make_trials(_search(method="random", n_trials=20, seed=3, params=params))
    t2 = make_trials(_search(method="random", n_trials=20, seed=3, params=params))
    assert t1 == t2 and len(t1) == 20
    assert all(1e-4 <= x["a"] <= 1e-2 and 0 <= x["b"] <= 1 and x["c"] in (2, 3, 4)
               and x["d"] in ([1, 1], [1, 2]) for x in t1)
    assert make_trials(_search(method="random", n_trials=20, seed=4, params=params)) != t1


@pytest.mark.parametrize("params, msg", [
    ({"a": {"uniform": [0, 1]}}, "grid search needs a list"),
    ({"a": []}, "empty list"),
    ({"a": {"log_uniform": [0, 1]}}, "bounds must be > 0"),
])
def test_bad_search_space_is_a_config_error(params, msg):
    method = "random" if "log_uniform" in str(params) else "grid"
    with pytest.raises(ConfigError, match=msg):
        make_trials(_search(method=method, params=params))


def test_static_keys_are_grouped():
    trials = make_trials(_search(params={"train.learning_rate": [1, 2], "model.hidden_size": [8, 16]}))
    groups = group_trials(trials, lambda k: k.startswith("train."))
    assert [g[0] for g in groups] == [{"model.hidden_size": 8}, {"model.hidden_size": 16}]
    assert [g[1] for g in groups] == [[0, 2], [1, 3]]


def test_dsr_worked_example_of_bailey_lopez_de_prado_2014():
    """Numerical example of Bailey & Lopez de Prado (2014), "The Deflated Sharpe Ratio",
    J. Portfolio Management 40(5): N = 100 trials, variance of the annualized trial Sharpe
    ratios 1/2, T = 1250 daily returns (250 per year), best annualized SR 2.5, skewness -3,
    kurtosis 10 -> SR_0 = 0.1132 per day and DSR = 0.9004."""
    sr = 2.5 / math.sqrt(250)
    out = dsr.deflated_sharpe_ratio(sr, 100, 0.5 / 250, 1250, skew=-3.0, kurtosis=10.0)
    assert out["sr0"] == pytest.approx(0.1132, abs=5e-5)
    assert out["dsr"] == pytest.approx(0.9004, abs=5e-5)
    # hand computation of the same formula, step by step
    g = 0.5772156649015329
    z = (1 - g) * stats.norm.ppf(1 - 1 / 100) + g * stats.norm.ppf(1 - 1 / (100 * math.e))
    sr0 = math.sqrt(0.5 / 250) * z
    den = math.sqrt(1 + 3 * sr + (10 - 1) / 4 * sr**2)
    assert out["dsr"] == pytest.approx(stats.norm.cdf((sr - sr0) * math.sqrt(1249) / den), rel=1e-12)


def test_dsr_properties():
    # one trial: no deflation, DSR = PSR against 0
    one = dsr.deflated_sharpe_ratio(0.1, 1, 0.0, 500, 0.0, 3.0)
    assert one["sr0"] == 0.0
    assert one["dsr"] == pytest.approx(stats.norm.cdf(0.1 * math.sqrt(499) / math.sqrt(1 + 0.01 / 2)))
    # more trials or more dispersion -> a higher bar -> a lower DSR
    a = dsr.deflated_sharpe_ratio(0.1, 10, 1e-3, 500)["dsr"]
    b = dsr.deflated_sharpe_ratio(0.1, 1000, 1e-3, 500)["dsr"]
    c = dsr.deflated_sharpe_ratio(0.1, 10, 1e-2, 500)["dsr"]
    assert b < a and c < a
    # dsr_of_best uses sample moments of the returns and ddof=1 variance of the Sharpes
    r = np.random.default_rng(0).standard_normal(400) * 0.01 + 0.002
    srs = np.array([0.05, 0.1, 0.2, np.nan])
    out = dsr.dsr_of_best(r, srs)
    assert out["n_trials"] == 3 and out["var_sharpe"] == pytest.approx(np.var(srs[:3], ddof=1))
    assert out["sharpe"] == pytest.approx(r.mean() / r.std(ddof=1))


def _write(tmp_path, text: str):
    p = tmp_path / "sweep.yaml"
    p.write_text(text)
    return str(p)


def test_unknown_keys_are_errors(tmp_path, capsys):
    bad = _write(tmp_path, "sweep: {kind: backtest, colour: red}\nsearch: {params: {risk.stop_loss: [0.01]}}\n")
    assert main(["sweep", "--config", bad, "--workdir", str(tmp_path / "o")]) == 2
    assert "sweep.colour" in capsys.readouterr().err
    bad = _write(tmp_path, "sweep: {kind: backtest}\nsearch: {params: {risk.stop_los: [0.01]}}\n")
    assert main(["sweep", "--config", bad, "--workdir", str(tmp_path / "o")]) == 2
    assert "risk.stop_los" in capsys.readouterr().err
    bad = _write(tmp_path, "sweep: {kind: backtest}\nsearch: {params: {risk.stop_loss: [-1]}}\n")
    assert main(["sweep", "--config", bad, "--workdir", str(tmp_path / "o")]) == 2
    assert "risk.stop_loss" in capsys.readouterr().err


BT_YAML = """
sweep:
  kind: backtest
  overrides: ["synthetic.symbols=3", "synthetic.steps=400", "risk.max_drawdown=0.0"]
  max_parallel: 4
search:
  method: grid
  params:
    strategy.confidence: [0.4, 0.6, 0.8]
    strategy.kelly_fraction: [0.5, 1.0]
    risk.fee_rate: [0.0, 0.001]
    strategy.min_edge: 0.0
    synthetic.seed: [0, 1]
"""


def test_backtest_sweep_cli(tmp_path):
    cfg = _write(tmp_path, BT_YAML)
    out = tmp_path / "run"
    assert main(["sweep", "--config", cfg, "--workdir", str(out), "--no-progress",
                 "--set", "sweep.objective=total_return"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    df = pd.read_parquet(out / "trials.parquet")
    assert len(df) == m["n_trials"] == 24 and m["n_groups"] == 2  # synthetic.seed is static
    assert df.equals(pd.read_csv(out / "trials.csv")) or len(pd.read_csv(out / "trials.csv")) == 24
    assert {"strategy.confidence", "risk.fee_rate", "sharpe", "sharpe_per_period", "max_drawdown",
            "n_trades", "psr"} <= set(df.columns)
    assert m["best_trial"] == int(df["total_return"].idxmax())
    d = m["dsr"]
    assert d["n_trials"] == 24 and 0.0 <= d["dsr"] <= 1.0
    assert d["var_sharpe"] == pytest.approx(np.var(df["sharpe_per_period"], ddof=1))
    assert m["deflated_sharpe_ratio"] == d["dsr"] and "best_sharpe" in m
    # costs matter: with fees every (confidence, kelly, seed) trial ends lower
    lo = df[df["risk.fee_rate"] == 0.0].set_index(["strategy.confidence", "strategy.kelly_fraction",
                                                   "synthetic.seed"])["final_equity"]
    hi = df[df["risk.fee_rate"] == 0.001].set_index(lo.index.names)["final_equity"]
    assert (hi.loc[lo.index] < lo).mean() > 0.5
    assert json.loads((out / "best" / "params.json").read_text())["trial"] == m["best_trial"]
    assert len(np.loadtxt(out / "best" / "returns.csv", skiprows=1)) == 400
    assert (out / "config.yaml").is_file() and (out / "best" / "config.yaml").is_file()
    assert [g["chunk"] for g in m["groups"]] == [4, 4]  # --max-parallel via the config


HFT_YAML = """
sweep:
  kind: hft
  base_config: configs/hft_lstm_tiny.yaml
  overrides: ["model.sequence_length=4", "model.hidden_size=4", "model.attention_heads=1",
              "model.causal=true",
              "train.epochs=1", "train.batch_size=32", "data.synthetic.symbols=2",
              "data.synthetic.steps=700", "data.features.groups=[returns, volatility]",
              "data.features.timeframes=[5]", "data.features.lags=[1]",
              "data.features.stat_windows=[10]"]
search:
  method: grid
  params:
    train.learning_rate: [0.001, 0.01]
    model.dropout: [0.0, 0.2]
"""


def test_hft_sweep_cli_checkpoints_best(tmp_path):
    from quantjax.train.checkpoint import load_for_inference

    cfg = _write(tmp_path, HFT_YAML)
    out = tmp_path / "run"
    assert main(["sweep", "--config", cfg, "--workdir", str(tmp_path / "refused"),
                 "--max-parallel", "2"]) == 2  # strategy sweeps only: never silently ignored
    assert main(["sweep", "--config", cfg, "--workdir", str(out), "--no-progress",
                 "--set", "sweep.chunk=2"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    df = pd.read_csv(out / "trials.csv")
    assert len(df) == 4 and m["n_groups"] == 1 and m["groups"][0]["n_chunks"] == 2
    assert {"train.learning_rate", "model.dropout", "val_score", "val_accuracy", "best_epoch",
            "steps"} <= set(df.columns)
    assert m["best_trial"] == int(df["val_score"].idxmax())
    model_cfg, params, scaler, extra = load_for_inference(out / "best")
    assert model_cfg.hidden_size == 4 and len(scaler.mean) == extra["n_features"]
    assert extra["config"]["train"]["learning_rate"] == m["best_params"]["train.learning_rate"]


def test_chunk_size_from_memory_estimate(monkeypatch):
    from quantjax.sweep import memory

    monkeypatch.setattr(memory, "device_free_bytes", lambda: 1000)
    # 0.5 * 1000 - 100 shared = 400 bytes -> 4 trials of 100 bytes per device, x2 devices
    assert memory.chunk_size(100, 100, 100, 2, 0.5) == 8
    assert memory.chunk_size(5, 100, 100, 2, 0.5) == 6  # capped: 5 trials padded to 6
    assert memory.chunk_size(100, 10**6, 0, 2, 0.5) == 2  # never below one per device
    assert memory.chunk_size(100, 100, 100, 4, 0.5, max_parallel=5) == 8  # --max-parallel
    import jax
    import jax.numpy as jnp

    # the activation estimate counts scan bodies times their length
    one = memory.fn_bytes(lambda x: jnp.sin(x) * 2, jax.ShapeDtypeStruct((10,), jnp.float32))
    scan = memory.fn_bytes(lambda x: jax.lax.scan(lambda c, _: (jnp.sin(c) * 2, None), x,
                                                  None, length=7)[0],
                           jax.ShapeDtypeStruct((10,), jnp.float32))
    assert one == 80 and scan >= 7 * 80


def test_sweep_cli_uses_one_cpu_device_per_core_with_identical_results(tmp_path):
    """``quantjax sweep`` exposes one XLA CPU device per core by default (trials sharded over
    them); the trial table equals a ``--cpu-devices 1`` run exactly."""
    import os
    import subprocess
    import sys

    cfg = _write(tmp_path, BT_YAML)
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "QUANTJAX_CPU_DEVICES", "QUANTJAX_FAST_CPU_LOOPS")}
    env["JAX_PLATFORMS"] = "cpu"
    tables = {}
    for n in ("2", "1"):
        out = tmp_path / f"run{n}"
        subprocess.run([sys.executable, "-m", "quantjax.cli.main", "sweep", "--config", cfg,
                        "--workdir", str(out), "--no-progress", "--cpu-devices", n],
                       env=env, check=True, capture_output=True, timeout=600)
        assert json.loads((out / "metrics.json").read_text())["n_devices"] == int(n)
        tables[n] = pd.read_parquet(out / "trials.parquet")
    pd.testing.assert_frame_equal(tables["2"], tables["1"])


def test_sweep_cli_rejects_bad_cpu_devices(tmp_path, capsys):
    cfg = _write(tmp_path, BT_YAML)
    assert main(["sweep", "--config", cfg, "--workdir", str(tmp_path / "o"),
                 "--cpu-devices", "0"]) == 2
    assert "--cpu-devices" in capsys.readouterr().err


def test_sweep_cli_rejects_bad_cpu_devices_env(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("QUANTJAX_CPU_DEVICES", "two")
    cfg = _write(tmp_path, BT_YAML)
    assert main(["sweep", "--config", cfg, "--workdir", str(tmp_path / "o")]) == 2
    assert "QUANTJAX_CPU_DEVICES" in capsys.readouterr().err


def _bt_sweep(params: dict) -> tuple[list[bool], list[dict]]:
    """Rows of a small backtest sweep and the ``execution`` flag of each compiled program."""
    from quantjax.sweep import backtest_sweep
    from quantjax.sweep.config import SweepConfig

    cfg = from_dict(SweepConfig, {
        "sweep": {"kind": "backtest", "shard": False,
                  "overrides": ["synthetic.symbols=3", "synthetic.steps=300"]},
        "search": {"method": "grid", "params": params}})
    seen: list[bool] = []
    real = backtest_sweep.make_program

    def spy(long_only, execution):
        seen.append(execution)
        return real(long_only, execution)

    backtest_sweep.make_program = spy
    try:
        res = backtest_sweep.run_backtest_sweep(cfg, make_trials(cfg.search), log=lambda s: None)
    finally:
        backtest_sweep.make_program = real
    return seen, res["rows"]


def test_backtest_sweep_tracks_execution_state_only_when_a_trial_needs_it():
    """Traced risk params cannot tell the engine whether latency/limit/impact/carry are on, so
    the sweep decides from the trials: off unless one sets them (the rules then cost nothing);
    with every switch at 0 the two programs give bitwise equal rows."""
    seen, plain = _bt_sweep({"strategy.confidence": [0.4, 0.6]})
    assert seen == [False]
    seen, both = _bt_sweep({"strategy.confidence": [0.4, 0.6], "risk.latency": [0.0, 2.0]})
    assert seen == [True]
    at0 = [r for r in both if r["risk.latency"] == 0.0]
    for a, b in zip(plain, at0, strict=True):
        assert a["final_equity"] == b["final_equity"] and a["n_trades"] == b["n_trades"]
    at2 = [r for r in both if r["risk.latency"] == 2.0]
    assert any(a["final_equity"] != b["final_equity"] for a, b in zip(at0, at2, strict=True))
