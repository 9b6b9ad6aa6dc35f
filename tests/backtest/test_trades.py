"""record="trades" (sparse fill events) gives exactly what record="full" gives."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from quantjax.backtest import events as fills
from quantjax.backtest import outputs, strategies
from quantjax.backtest.runner import (
    init_state,
    market_series,
    run,
    run_chunked,
    simulate,
    simulate_trades,
    slice_series,
    trades_records,
)
from quantjax.jsonio import jsonable
from quantjax.risk import StepRecord, make_params

from support.paths import child_env
from support.shared_market import STEPS, SYMBOLS, shared_market
from support.toy_market import random_market

RULES = dict(max_drawdown=0.08, trailing_stop=0.03, daily_loss_limit=0.03, fee_fixed=0.5,
             stop_loss=0.01, take_profit=0.01)


def _same_records(a, b):
    assert set(a) == set(b) == set(StepRecord._fields)
    for k in StepRecord._fields:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        assert x.dtype == y.dtype and x.shape == y.shape, k
        np.testing.assert_array_equal(x, y, err_msg=k)


def _market_and_signal(quotes=False, seed=3):
    m = shared_market(seed, missing=0.08, quotes=quotes, bar_seconds=3600, vol=0.015)
    sig = strategies.momentum_signal(m.field("close"), 3)
    sig = np.where(m.mask, sig, np.nan)
    return m, sig


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
@pytest.mark.parametrize("quotes", [False, True])
def test_trades_level_equals_full(mode, quotes):
    m, sig = _market_and_signal(quotes)
    p = make_params(**RULES)
    full = run(p, m, sig, mode=mode, record="full")
    tr = run(p, m, sig, mode=mode, record="trades")
    assert tr.record == "trades" and tr.events is not None and full.events is None
    assert len(tr.events["step"]) > 10
    assert tr.events["order_reason"].dtype == np.int8
    _same_records(full.records, tr.records)
    # the scenario exercises stops and the breaker
    assert np.any(full.records["exit_qty"] != 0)
    # identical trade log, equity table, returns and metrics
    pd.testing.assert_frame_equal(outputs.trade_log(full), outputs.trade_log(tr))
    pd.testing.assert_frame_equal(outputs.equity_frame(full), outputs.equity_frame(tr))
    pd.testing.assert_frame_equal(outputs.returns_frame(full), outputs.returns_frame(tr))
    a = outputs.compute_metrics(full, outputs.trade_log(full), 252.0)
    b = outputs.compute_metrics(tr, outputs.trade_log(tr), 252.0)
    assert json.dumps(jsonable(a)) == json.dumps(jsonable(b))


def test_breaker_and_write_results_identical(tmp_path):
    m, sig = _market_and_signal(seed=5)
    p = make_params(max_drawdown=0.02, stop_loss=0.0, take_profit=0.0)
    full = run(p, m, sig, record="full")
    tr = run(p, m, sig, record="trades")
    assert full.records["breaker"].any() and not full.records["breaker"].all()
    _same_records(full.records, tr.records)
    outputs.write_results(full, tmp_path / "full", 252.0)
    outputs.write_results(tr, tmp_path / "trades", 252.0)
    for f in ("metrics.json", "returns.csv"):
        assert (tmp_path / "full" / f).read_bytes() == (tmp_path / "trades" / f).read_bytes(), f
    for f in ("equity.parquet", "trades.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "full" / f),
                                      pd.read_parquet(tmp_path / "trades" / f))


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_overflow_reruns_and_chunked_trades_equal_one_shot(mode):
    m, sig = _market_and_signal(seed=7)
    p = make_params(**RULES)
    series = market_series(m)
    sig_t = np.ascontiguousarray(sig.T, np.float32)
    st0 = init_state(p, m.n_symbols, mode)
    _, small = simulate(p, st0, series, sig_t, mode=mode, record="trades", capacity=4)
    assert int(small.events.count) > 4  # overflowed: the count still says how many
    with pytest.raises(OverflowError):
        fills.host_events(small.events)
    _, tr = simulate_trades(p, st0, series, sig_t, mode=mode, capacity=4)  # re-runs larger
    assert len(tr.events["step"]) == int(small.events.count)
    full = run(p, m, sig, mode=mode, record="full")
    _same_records(full.records, trades_records(tr, series, st0, mode))
    chunks = ((slice_series(series, a, a + 37), sig_t[a:a + 37]) for a in range(0, STEPS, 37))
    st, ch = run_chunked(p, chunks, m.n_symbols, mode=mode, record="trades")
    _same_records(full.records, trades_records(ch, series, st0, mode))
    np.testing.assert_array_equal(np.asarray(st.cash), full.state.cash)


def test_no_trades_gives_empty_log():
    m = shared_market(0)
    res = run(make_params(), m, np.full((SYMBOLS, STEPS), np.nan), record="trades")
    assert len(res.events["step"]) == 0
    assert (res.records["cash"] == np.float32(100_000.0)).all()
    assert not res.records["breaker"].any()
    assert len(outputs.trade_log(res)) == 0


CHILD = r"""
import sys, numpy as np
from quantjax.platform import enable_fast_cpu_loops
assert enable_fast_cpu_loops()
from quantjax.backtest import strategies
from quantjax.backtest.runner import run
from support.toy_market import random_market
from quantjax.risk import make_params
m = random_market(3, 120, seed=2, missing=0.05, bar_seconds=3600)
sig = strategies.momentum_signal(m.field("close"), 4)
p = make_params(max_drawdown=0.05, trailing_stop=0.02)
for rec in ("full", "trades"):
    r = run(p, m, sig, record=rec).records
    np.savez(sys.argv[1] + rec + ".npz", **{k: np.asarray(r[k]) for k in r})
"""


def test_fast_cpu_loops_are_bitwise_identical(tmp_path):
    env = {k: v for k, v in child_env(JAX_PLATFORMS="cpu").items() if k != "XLA_FLAGS"}
    subprocess.run([sys.executable, "-c", CHILD, str(tmp_path / "fast")], env=env, check=True)
    # this pytest process runs with XLA's defaults (unless XLA_FLAGS says otherwise)
    m = random_market(3, 120, seed=2, missing=0.05, bar_seconds=3600)
    sig = strategies.momentum_signal(m.field("close"), 4)
    ref = run(make_params(max_drawdown=0.05, trailing_stop=0.02), m, sig, record="full").records
    for name in ("fastfull", "fasttrades"):
        got = np.load(tmp_path / f"{name}.npz")
        for k in StepRecord._fields:
            np.testing.assert_array_equal(np.asarray(ref[k]), got[k], err_msg=f"{name} {k}")


@pytest.mark.parametrize("chunk", [0, 45])
def test_pipeline_trades_equals_full(chunk):
    import dataclasses

    from quantjax.backtest import pipeline
    from quantjax.backtest.config import BacktestConfig

    cfg = BacktestConfig()
    cfg = dataclasses.replace(cfg, backtest=dataclasses.replace(cfg.backtest, chunk_steps=chunk))
    m, sig = _market_and_signal(seed=11)
    full = pipeline.run_backtest(cfg, m, sig, record="full")
    tr = pipeline.run_backtest(cfg, m, sig)
    assert tr.record == "trades"
    _same_records(full.records, tr.records)


@settings(max_examples=5, deadline=None)
@given(seed=hst.integers(0, 10_000), sl=hst.sampled_from([0.0, 0.005, 0.02]),
       tp=hst.sampled_from([0.0, 0.004, 0.01]), trail=hst.sampled_from([0.0, 0.01]),
       dd=hst.sampled_from([0.0, 0.03]), band=hst.sampled_from([0.0, 0.01]),
       missing=hst.sampled_from([0.0, 0.1]))
def test_trades_equals_full_property(seed, sl, tp, trail, dd, band, missing):
    m = shared_market(seed, missing=missing, bar_seconds=3600, vol=0.01)
    rng = np.random.default_rng(seed)
    shape = (SYMBOLS, STEPS)
    sig = np.where(rng.random(shape) < 0.2, rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], shape),
                   np.nan)
    p = make_params(stop_loss=sl, take_profit=tp, trailing_stop=trail, max_drawdown=dd,
                    rebalance_band=band, fee_fixed=0.25)
    _same_records(run(p, m, sig, record="full").records, run(p, m, sig, record="trades").records)


def test_trades_equals_full_in_float64():
    import jax

    m, sig = _market_and_signal(seed=13)
    with jax.enable_x64(True):
        p = make_params(dtype=np.float64, **RULES)
        full = run(p, m, sig, record="full")
        tr = run(p, m, sig, record="trades")
    assert tr.events["order_qty"].dtype == np.float64
    _same_records(full.records, tr.records)
