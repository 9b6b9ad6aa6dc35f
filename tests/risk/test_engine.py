"""Scenario tests of the risk engine: fills, costs, stops, limits, breaker, modes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantjax.backtest.runner import init_state, run, simulate
from quantjax.data.market import FIELDS, MarketArrays
from quantjax.risk import (
    BREAKER,
    DAILY_LIMIT,
    SIGNAL,
    STOP_LOSS,
    TAKE_PROFIT,
    TRAILING,
    MarketStep,
    init,
    make_params,
    reset_breaker,
    step,
)

from support.shared_market import STEPS, SYMBOLS, first_steps, pad_steps, shared_market
from support.toy_market import random_market

DAY = 86_400 * 10**9
NO_RULES = dict(fee_rate=0.0, slippage_bps=0.0, stop_loss=0.0, take_profit=0.0,
                max_drawdown=0.0, rebalance_band=0.0, initial_cash=10_000.0)


def bars(ohlc, quotes=None, mask=None, bar_ns=DAY, volume=1e9) -> MarketArrays:
    """One-symbol market from rows (open, high, low, close)."""
    a = np.asarray(ohlc, np.float64)
    cols = [a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(len(a), volume)]
    fields = list(FIELDS[:5])
    if quotes is not None:
        q = np.asarray(quotes, np.float64)
        cols += [q[:, 0], q[:, 1], np.ones(len(a)), np.ones(len(a))]
        fields += list(FIELDS[5:])
    values = np.stack(cols, axis=-1)[None]
    m = np.ones((1, len(a)), bool) if mask is None else np.asarray(mask, bool)[None]
    values[~m] = np.nan
    ts = np.arange(len(a), dtype=np.int64) * bar_ns + 19_724 * DAY
    return MarketArrays(values, m, ts, ("X",), tuple(fields))


def go(market, sig, mode="independent", **kw):
    """Records of the scenario, run padded to SCENARIO_STEPS bars (one compiled program for
    all scenarios; causal, so the scenario's own steps are unchanged)."""
    params = make_params(dtype=jnp.float32, **{**NO_RULES, **kw})
    padded, sig = pad_steps(market, np.asarray(sig, np.float64)[None])
    return first_steps(run(params, padded, sig, mode=mode).records, market.n_steps)


def flat(n, px=100.0):
    return [(px, px, px, px)] * n


def test_order_fills_at_next_open():
    m = bars([(100, 101, 99, 100), (102, 103, 101, 102), (104, 105, 103, 104)])
    r = go(m, [1.0, np.nan, np.nan])
    assert r["order_qty"][0, 0] == 0  # decided at t=0, nothing filled yet
    assert r["order_price"][0, 1] == pytest.approx(102.0)
    assert r["position"][0, 1] == pytest.approx(10_000 / 102, rel=1e-6)
    assert r["order_reason"][0, 1] == SIGNAL
    # equity marked at the close of t=2
    assert r["equity"][0, 2] == pytest.approx(10_000 / 102 * 104, rel=1e-6)


def test_fees_and_slippage():
    m = bars([(100, 100, 100, 100)] * 3)
    r = go(m, [1.0, np.nan, np.nan], fee_rate=0.001, slippage_bps=10.0, fee_fixed=1.0)
    px = 100 * 1.001
    assert r["order_price"][0, 1] == pytest.approx(px, rel=1e-6)
    q = r["order_qty"][0, 1]
    assert q == pytest.approx((10_000 - 1.0) / (px * 1.001), rel=1e-5)
    assert r["order_fee"][0, 1] == pytest.approx(q * px * 0.001 + 1.0, rel=1e-5)
    assert r["cash"][0, 1] >= -1e-3  # sizing leaves no negative cash


def test_quotes_fill_at_ask_and_bid():
    rows = flat(4)
    quotes = [(99.0, 101.0)] * 4
    m = bars(rows, quotes=quotes)
    r = go(m, [1.0, 0.0, np.nan, np.nan])
    assert r["order_price"][0, 1] == pytest.approx(101.0)  # buy at the ask (mid + half spread)
    assert r["order_price"][0, 2] == pytest.approx(99.0)  # sell at the bid
    assert r["position"][0, 2] == 0


def test_stop_loss_and_gap_fill_at_open():
    # long entry at 100 (t=1); t=2 low touches the 2% stop at 98
    m = bars([(100, 100, 100, 100), (100, 100, 100, 100), (99, 99.5, 97, 98.5)])
    r = go(m, [1.0, np.nan, np.nan], stop_loss=0.02)
    assert r["exit_reason"][0, 2] == STOP_LOSS
    assert r["exit_price"][0, 2] == pytest.approx(98.0)
    # gap: opens at 95 below the stop -> fills at the open
    m = bars([(100, 100, 100, 100), (100, 100, 100, 100), (95, 96, 94, 95.5)])
    r = go(m, [1.0, np.nan, np.nan], stop_loss=0.02)
    assert r["exit_reason"][0, 2] == STOP_LOSS
    assert r["exit_price"][0, 2] == pytest.approx(95.0)


def test_stop_loss_first_when_both_touched():
    m = bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 102, 97, 100)])
    r = go(m, [1.0, np.nan, np.nan], stop_loss=0.02, take_profit=0.01)
    assert r["exit_reason"][0, 2] == STOP_LOSS
    assert r["exit_price"][0, 2] == pytest.approx(98.0)


def test_take_profit_and_short_side():
    m = bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 101.5, 99.5, 100)])
    r = go(m, [1.0, np.nan, np.nan], stop_loss=0.02, take_profit=0.01)
    assert r["exit_reason"][0, 2] == TAKE_PROFIT
    assert r["exit_price"][0, 2] == pytest.approx(101.0)
    # short: take profit below, stop above
    m = bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 100.5, 98.5, 100)])
    r = go(m, [-1.0, np.nan, np.nan], stop_loss=0.02, take_profit=0.01)
    assert r["position"][0, 1] < 0
    assert r["exit_reason"][0, 2] == TAKE_PROFIT
    assert r["exit_price"][0, 2] == pytest.approx(99.0)
    m = bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 102.5, 99.5, 100)])
    r = go(m, [-1.0, np.nan, np.nan], stop_loss=0.02, take_profit=0.01)
    assert r["exit_reason"][0, 2] == STOP_LOSS
    assert r["exit_price"][0, 2] == pytest.approx(102.0)


def test_trailing_stop_uses_prior_extreme():
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (105, 110, 104, 109),
            (108, 108, 104, 105)]
    r = go(bars(rows), [1.0, np.nan, np.nan, np.nan], trailing_stop=0.05)
    # best price before t=3 is 110 -> trailing level 104.5; t=3 low 104 hits it
    assert r["exit_reason"][0, 2] == 0
    assert r["exit_reason"][0, 3] == TRAILING
    assert r["exit_price"][0, 3] == pytest.approx(104.5)


def test_masked_bar_order_waits():
    rows = [(100, 100, 100, 100), (101, 101, 101, 101), (102, 102, 102, 102)]
    r = go(bars(rows, mask=[True, False, True]), [1.0, np.nan, np.nan])
    assert r["order_qty"][0, 1] == 0
    assert r["order_price"][0, 2] == pytest.approx(102.0)
    assert r["price"][0, 1] == pytest.approx(100.0)  # masked bar keeps the last close


def test_breaker_flattens_and_halts_until_reset():
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 90, 90),
            (90, 90, 90, 90), (90, 90, 90, 90), (90, 90, 90, 90)]
    r = go(bars(rows), [1.0, np.nan, np.nan, 1.0, 1.0, 1.0], max_drawdown=0.05)
    assert r["breaker"][0, 2] and not r["breaker"][0, 1]
    assert r["order_reason"][0, 3] == BREAKER
    assert r["position"][0, 3] == 0
    assert np.all(r["position"][0, 3:] == 0) and np.all(r["order_qty"][0, 4:] == 0)
    # reset_breaker lets a book trade again
    p = make_params(**{**NO_RULES, "max_drawdown": 0.05})
    st = init(p)._replace(breaker=jnp.asarray(True), peak_equity=jnp.float32(20_000))
    st = reset_breaker(st)
    assert not bool(st.breaker) and float(st.peak_equity) == pytest.approx(10_000)


def test_daily_loss_limit_halts_for_the_day():
    rows = [(100, 100, 100, 100), (100, 100, 100, 100), (100, 100, 96, 96),
            (96, 96, 96, 96), (96, 96, 96, 96), (96, 96, 96, 96)]
    m = bars(rows, bar_ns=DAY // 4)  # four bars per day: t=4 is the next day
    r = go(m, [1.0, np.nan, np.nan, 1.0, 1.0, np.nan], daily_loss_limit=0.03)
    assert r["order_reason"][0, 3] == DAILY_LIMIT
    assert r["position"][0, 3] == 0
    assert r["order_qty"][0, 4] == 0  # the t=3 signal was refused (halted)
    assert r["position"][0, 5] > 0  # next day: the t=4 decision fills at t=5


def test_max_order_and_volume_cap():
    rows = flat(4)
    r = go(bars(rows), [1.0, np.nan, np.nan, np.nan], max_order=0.25)
    assert abs(r["order_qty"][0, 1]) * 100 == pytest.approx(2_500, rel=1e-5)
    r = go(bars(rows, volume=10.0), [1.0, 1.0, 1.0, np.nan], max_volume_frac=0.5)
    assert r["order_qty"][0, 1] == pytest.approx(5.0)
    assert r["position"][0, 3] == pytest.approx(15.0)


def test_zero_signal_no_trades_and_constant_equity():
    m = shared_market(3, missing=0.1)
    params = make_params()
    res = run(params, m, np.zeros((SYMBOLS, STEPS)))
    assert np.all(res.records["order_qty"] == 0) and np.all(res.records["exit_qty"] == 0)
    assert np.all(res.records["equity"] == float(params.initial_cash))


def test_portfolio_gross_and_net_limits():
    m = shared_market(1)
    sig = np.full((SYMBOLS, STEPS), np.nan)
    sig[:, 0] = [1.0, 1.0, 1.0, -1.0]
    params = make_params(**{**NO_RULES, "max_leverage": 1.5, "max_net": 0.5})
    r = run(params, m, sig, mode="portfolio").records
    val = r["order_qty"][:, 1] * r["order_price"][:, 1]
    eq = 10_000.0
    assert np.abs(val).sum() <= 1.5 * eq * (1 + 1e-5)
    assert abs(val.sum()) <= 0.5 * eq * (1 + 1e-5)
    assert np.all(val[:3] > 0) and val[3] < 0


def test_portfolio_of_one_equals_independent():
    m = random_market(1, 80, seed=5, missing=0.1)
    sig = np.random.default_rng(0).choice([-1.0, 0.0, 1.0, np.nan], (1, 80))
    p = make_params()
    a = run(p, m, sig, mode="independent").records
    b = run(p, m, sig, mode="portfolio").records
    np.testing.assert_array_equal(a["position"], b["position"])
    np.testing.assert_array_equal(a["equity"][0], b["equity"])


def test_vmap_over_a_batch_of_params():
    m = shared_market(2)
    sig = np.random.default_rng(1).choice([-1.0, 0.0, 1.0, np.nan], (SYMBOLS, STEPS))
    from quantjax.backtest.runner import market_series

    series = market_series(m)
    sig_t = np.ascontiguousarray(sig.T, np.float32)
    stops = jnp.array([0.005, 0.02, 0.05], jnp.float32)
    batch = jax.vmap(lambda s: make_params(stop_loss=0.0)._replace(stop_loss=s))(stops)

    def one(p):
        st = init_state(p, SYMBOLS, "independent")
        return simulate(p, st, series, sig_t, record="equity")[1]

    eq = jax.vmap(one)(batch)
    assert eq.shape == (3, STEPS, SYMBOLS)
    for i, s in enumerate([0.005, 0.02, 0.05]):
        ref = run(make_params(stop_loss=s), m, sig, record="equity").records["equity"]
        np.testing.assert_allclose(np.asarray(eq[i]).T, ref, rtol=1e-6)


def test_step_is_usable_tick_by_tick():
    p = make_params(**NO_RULES)
    st = init(p)
    ticks = [(100.0, 1.0), (101.0, np.nan), (102.0, 0.0), (103.0, np.nan)]
    jstep = jax.jit(step)
    for i, (px, sig) in enumerate(ticks):
        m = MarketStep(*(jnp.float32(px),) * 4, jnp.float32(1e9), jnp.asarray(True),
                       jnp.int32(i))
        st, rec = jstep(p, st, m, jnp.float32(sig))
    assert float(st.position) == 0.0
    assert float(rec.equity) == pytest.approx(10_000 / 101 * 103, rel=1e-6)  # in at 101, out at 103
