"""Signals file reader (public contract) and the ``quantjax backtest`` command."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantjax.backtest.signals import read_signals
from quantjax.cli.main import main
from quantjax.errors import DataError

from support.toy_market import random_market


@pytest.fixture(autouse=True)
def _no_fast_loops_in_pytest(monkeypatch):
    # the CLI would set XLA_FLAGS for the rest of this pytest process if JAX had not started
    monkeypatch.setenv("QUANTJAX_FAST_CPU_LOOPS", "0")


def test_cli_enables_fast_cpu_loops_only_for_cpu():
    import os
    import subprocess
    import sys

    # one fresh process (JAX not started): opt-out, non-CPU platform, then CPU
    code = """
import os
from quantjax.cli.backtest import _fast_cpu_loops
def flag():
    return "small_while_loop" in os.environ.get("XLA_FLAGS", "")
os.environ.update(JAX_PLATFORMS="cpu", QUANTJAX_FAST_CPU_LOOPS="0")
a = (_fast_cpu_loops(), flag())
os.environ.update(JAX_PLATFORMS="cuda", QUANTJAX_FAST_CPU_LOOPS="1")
b = (_fast_cpu_loops(), flag())
os.environ["JAX_PLATFORMS"] = "cpu"
c = (_fast_cpu_loops(), flag())
print(a, b, c)
"""
    env = {k: v for k, v in os.environ.items()
           if k not in ("XLA_FLAGS", "QUANTJAX_FAST_CPU_LOOPS")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "(False, False) (False, False) (True, True)"


@pytest.fixture(scope="module")
def market():
    return random_market(2, 30, seed=0)


def _ts(market, t):
    return pd.Timestamp(market.timestamps[t], tz="UTC").isoformat()


def _write(tmp_path, rows, name="sig.csv"):
    df = pd.DataFrame(rows)
    path = tmp_path / name
    if name.endswith(".parquet"):
        df.to_parquet(path, index=False)
    else:
        df.to_csv(path, index=False)
    return path


def test_reads_target_csv_and_parquet(tmp_path, market):
    rows = {"timestamp": [_ts(market, 3), _ts(market, 5)], "symbol": ["S001", "S000"],
            "target": [0.5, -1.0]}
    for name in ("sig.csv", "sig.parquet"):
        sig = read_signals(_write(tmp_path, rows, name), market)
        assert sig.shape == (2, 30)
        assert sig[1, 3] == 0.5 and sig[0, 5] == -1.0
        assert np.isnan(sig).sum() == 58


def test_reads_entry_exit(tmp_path, market):
    rows = {"timestamp": [_ts(market, 2), _ts(market, 6)], "symbol": ["S000", "S000"],
            "entry": [True, False], "exit": [False, True]}
    sig = read_signals(_write(tmp_path, rows), market)
    assert sig[0, 2] == 1.0 and sig[0, 6] == 0.0 and np.isnan(sig[0, 3])


@pytest.mark.parametrize("rows, match", [
    ({"timestamp": ["x"], "symbol": ["S000"]}, "needs a 'target'"),
    ({"timestamp": [0], "symbol": ["NOPE"], "target": [0.1]}, "unknown symbol 'NOPE'"),
    ({"timestamp": ["2030-01-01T00:00:00Z"], "symbol": ["S000"], "target": [0.1]},
     "row 0: timestamp 2030-01-01T00:00:00Z .*not a timestamp"),
    (None, "row 1 .*target 1.5 is out of"),
    (None, "row 0 .*target is nan"),
    (None, "both"),
    (None, "duplicate signal for symbol S000"),
])
def test_reader_errors_name_row_symbol_timestamp(tmp_path, market, rows, match):
    t0, t1 = _ts(market, 0), _ts(market, 1)
    if rows is None:
        cases = {
            "out of": {"timestamp": [t0, t1], "symbol": ["S000", "S000"], "target": [0.1, 1.5]},
            "nan": {"timestamp": [t0], "symbol": ["S000"], "target": [np.nan]},
            "both": {"timestamp": [t0], "symbol": ["S000"], "target": [0.1], "entry": [True],
                     "exit": [False]},
            "duplicate": {"timestamp": [t0, t0], "symbol": ["S000", "S000"], "target": [0, 0]},
        }
        rows = next(v for k, v in cases.items() if k in match)
    if rows["timestamp"] == [0]:
        rows["timestamp"] = [t0]
    with pytest.raises(DataError, match=match):
        read_signals(_write(tmp_path, rows), market)


def _daily_csv(tmp_path, n=120):
    m = random_market(2, n, seed=3)
    rows = []
    for s, sym in enumerate(m.symbols):
        for t in range(n):
            o, h, lo, c, v = m.values[s, t, :5]
            rows.append({"timestamp": pd.Timestamp(m.timestamps[t], tz="UTC").strftime("%Y-%m-%d"),
                         "symbol": sym, "open": o, "high": h, "low": lo, "close": c, "volume": v})
    path = tmp_path / "daily.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path, m


def test_cli_daily_ohlcv_with_signals_and_momentum(tmp_path, capsys):
    data, m = _daily_csv(tmp_path)
    out = tmp_path / "bt"
    rc = main(["backtest", "--data", str(data), "--strategy", "momentum", "--out", str(out),
               "--set", "backtest.benchmark=equal_weight", "--set", "backtest.mode=portfolio"])
    assert rc == 0
    for f in ("config.yaml", "metrics.json", "equity.parquet", "trades.parquet", "returns.csv"):
        assert (out / f).is_file(), f
    js = json.loads((out / "metrics.json").read_text())
    assert js["periods_per_year"] == 252.0 and js["mode"] == "portfolio"
    assert "beta" in js["portfolio"] and set(js["per_symbol"]) == set(m.symbols)
    # the same run through a signals file gives the same equity
    sig_rows = {"timestamp": [pd.Timestamp(m.timestamps[10], tz="UTC").isoformat()],
                "symbol": [m.symbols[0]], "target": [1.0]}
    sig = _write(tmp_path, sig_rows)
    out2 = tmp_path / "bt2"
    rc = main(["backtest", "--data", str(data), "--signals", str(sig), "--out", str(out2),
               "--set", "backtest.chunk_steps=50"])
    assert rc == 0
    eq = pd.read_parquet(out2 / "equity.parquet")
    assert (eq[eq.symbol == m.symbols[1]]["position"] == 0).all()


def test_cli_errors_exit_2(tmp_path, capsys, monkeypatch):
    data, _ = _daily_csv(tmp_path, 30)
    rc = main(["backtest", "--data", str(data), "--checkpoint", str(tmp_path), "--out",
               str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert rc == 2 and "checkpoint" in err and "\n" == err[-1] and err.count("\n") == 1
    rc = main(["backtest", "--data", str(data), "--out", str(tmp_path / "y"),
               "--set", "strategy.name=ofi"])
    assert rc == 2 and "bid_volume" in capsys.readouterr().err
    rc = main(["backtest", "--data", str(data), "--set", "risk.stop_los=0.1"])
    assert rc == 2 and "risk.stop_los" in capsys.readouterr().err


def test_cli_synthetic_with_quotes(tmp_path):
    out = tmp_path / "syn"
    rc = main(["backtest", "--synthetic", "--out", str(out), "--set", "synthetic.steps=300",
               "--set", "synthetic.symbols=2"])
    assert rc == 0
    js = json.loads((out / "metrics.json").read_text())
    assert js["n_steps"] == 300 and js["periods_per_year"] > 252


def test_cli_checkpoint_hook_uses_model_signal(tmp_path, monkeypatch):
    """--checkpoint runs the model strategy on the run's predict_market outputs."""
    from quantjax.hft import predict as hft_predict

    def fake_predict(run_dir, market):
        S, T = market.n_symbols, market.n_steps
        rng = np.random.default_rng(0)
        logits = rng.normal(0, 2, (S, T, 3))
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        return probs, rng.normal(0, 0.01, (S, T)), np.full((S, T), 0.01)

    monkeypatch.setattr(hft_predict, "predict_market", fake_predict)
    data, _ = _daily_csv(tmp_path, 60)
    out = tmp_path / "model"
    rc = main(["backtest", "--data", str(data), "--checkpoint", str(tmp_path), "--out", str(out)])
    assert rc == 0
    js = json.loads((out / "metrics.json").read_text())
    assert js["portfolio"]["n_fills"] > 0


def test_periods_per_year_inference():
    from quantjax.backtest.pipeline import infer_periods_per_year, synthetic_periods_per_year
    from quantjax.config.data import SynthMarketConfig

    day = 86_400 * 10**9
    business = np.array([0, 1, 2, 3, 4, 7, 8, 9, 10, 11]) * day
    assert infer_periods_per_year(business) == 252.0
    assert infer_periods_per_year(np.arange(10) * 7 * day) == pytest.approx(365.25 / 7)
    minutes = np.concatenate([d * day + np.arange(390) * 60 * 10**9 for d in range(3)])
    assert infer_periods_per_year(minutes) == 252.0 * 390
    assert synthetic_periods_per_year(SynthMarketConfig()) == 252.0 * 23_400
