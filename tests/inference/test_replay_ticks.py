"""The real Binance recording end to end (the session fixture ``real_ticks_replay``: import,
1 s bars, the tiny model trained on them, export, replay with every execution rule on and its
decisions executed on every tick): the replay's tick execution (metrics.json,
fills.parquet), and the vectorized tick backtest against the tick-by-tick replay. The report of
that replay: tests/report/test_replay_report.py."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from quantjax.backtest.config import BacktestConfig
from quantjax.backtest.pipeline import builtin_signals
from quantjax.backtest.runner import simulate
from quantjax.backtest.tick_series import bar_signals_on_ticks, replay_ticks, tick_series
from quantjax.data.market_io import load_market
from quantjax.data.ticks import read_ticks
from quantjax.risk import init, make_params


@pytest.fixture(scope="module")
def replayed(real_ticks_replay):
    return real_ticks_replay / "imp", real_ticks_replay / "replay"


def test_replay_executes_model_decisions_on_every_tick(replayed):
    imp, out = replayed
    m = json.loads((out / "metrics.json").read_text())
    ex = m["tick_execution"]
    ticks = read_ticks(imp / "ticks.parquet")
    assert ex["tick_steps"] == ticks.timestamp.size
    assert m["predictions"] > 0
    fills = pd.read_parquet(out / "fills.parquet")
    assert list(fills.columns) == ["timestamp", "symbol", "qty", "price", "fee", "kind"]
    assert len(fills) == ex["fills"]
    counters = ex["execution"]
    assert counters["n_sent"] > 0 and np.isfinite(ex["pnl"])
    assert counters["n_limit_fills"] <= ex["fills"]


def test_real_ticks_vectorized_equals_tick_by_tick_with_every_rule_on(replayed):
    imp, _ = replayed
    ticks = read_ticks(imp / "ticks.parquet")
    ticks = ticks._replace(**{k: getattr(ticks, k)[:2500] for k in ticks._fields
                              if k != "symbols"})
    market, _ = load_market(imp / "bars.parquet")
    series = tick_series(ticks)
    sig = bar_signals_on_ticks(ticks.timestamp, series.valid, market.timestamps,
                               builtin_signals(BacktestConfig(), market))
    params = make_params(latency=20.0, limit_orders=1.0, queue_model=1.0, limit_expiry=1000.0,
                         impact_k=0.5, funding_rate=0.1095, stop_loss=0.0, take_profit=0.0)
    state = init(params, 1)
    _, vec = simulate(params, state, series, jnp.asarray(sig, jnp.float32), mode="portfolio")
    final, rep = replay_ticks(params, state, series, sig)
    assert int(final.execution.n_limit_fills[0]) > 0 and np.count_nonzero(rep.order_qty) > 0
    for name in ("order_qty", "order_price", "exit_qty", "position", "cash", "equity"):
        np.testing.assert_array_equal(np.asarray(getattr(vec, name)), getattr(rep, name),
                                      err_msg=name)
    # limit fills only on trades at or through the limit, within the trade's size
    i, s = np.nonzero(rep.order_qty)
    assert series.volume[i, s].min() > 0
    assert np.all(np.abs(rep.order_qty[i, s]) <= series.volume[i, s] * (1 + 1e-6))
    buy = rep.order_qty[i, s] > 0
    trade = series.close[i, s]
    assert np.all(np.where(buy, trade <= rep.order_price[i, s] + 1e-2,
                           trade >= rep.order_price[i, s] - 1e-2))


def test_decisions_land_on_the_first_tick_at_or_after_the_bar_end(replayed):
    imp, _ = replayed
    ticks = read_ticks(imp / "ticks.parquet")
    series = tick_series(ticks)
    bars = pd.read_parquet(imp / "bars.parquet")
    bar_ts = bars["timestamp"].astype("int64").to_numpy()[:5]
    sig = bar_signals_on_ticks(ticks.timestamp, series.valid, bar_ts,
                               np.array([[1.0, np.nan, -1.0, 0.5, 0.0]]))
    steps = np.flatnonzero(np.isfinite(sig[:, 0]))
    assert steps.size == 4
    for k, i in zip([0, 2, 3, 4], steps, strict=True):
        assert ticks.timestamp[i] >= bar_ts[k] and series.valid[i, 0]
        earlier = np.flatnonzero(series.valid[:i, 0])
        assert earlier.size == 0 or ticks.timestamp[earlier[-1]] < bar_ts[k]
