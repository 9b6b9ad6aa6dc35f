"""Hypothesis properties of the execution rules (fixed shapes: one compile per program).

- a limit buy never fills above its limit, a limit sell never below, and only where the
  market traded at (queue) or through (trade-through) the limit;
- with latency L, no fill uses a price from before decision + L;
- partial fills never exceed the volume traded at the price;
- the accounting identity holds with impact and carry;
- the vectorized backtest (``simulate``) and the tick-by-tick replay give identical fills.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.backtest.runner import init_state, run, simulate
from quantjax.backtest.tick_series import replay_ticks, tick_series
from quantjax.risk import init, make_params, step

from support.toy_market import random_market
from support.toy_ticks import random_ticks

N, S = 80, 2
SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)
QUIET = dict(stop_loss=0.0, take_profit=0.0, max_drawdown=0.0)  # no exits, no halts

limit_st = st.fixed_dictionaries({
    "queue_model": st.sampled_from([0.0, 1.0]),
    "limit_offset_ticks": st.sampled_from([0.0, 1.0, 2.0]),
    "latency": st.sampled_from([0.0, 5.0, 30.0]),
    "limit_expiry": st.sampled_from([0.0, 50.0, 300.0]),
    "max_volume_frac": st.sampled_from([0.0, 0.5]),
    "queue_power": st.sampled_from([1.0, 3.0]),
})


def tick_signals(series, seed, p=0.15):
    """Random targets on valid tick steps of each symbol (NaN elsewhere), ``[N, S]``."""
    rng = np.random.default_rng(seed + 7)
    pick = (rng.random(series.valid.shape) < p) & series.valid
    return np.where(pick, rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], series.valid.shape), np.nan)


step_once = jax.jit(step)  # one program (and one trace) for every example


def stepwise(params, series, sig):
    """The tick-by-tick loop, keeping the state after every step (portfolio book)."""
    fn = step_once
    state = init(params, S, execution=True)
    out = []
    for i in range(series.valid.shape[0]):
        state, rec = fn(params, state, jax.tree.map(lambda a, i=i: a[i], series),
                        jnp.asarray(sig[i], jnp.float32))
        out.append((jax.device_get(state), jax.device_get(rec)))
    return out


@SETTINGS
@given(st.integers(0, 10_000), limit_st)
def test_limit_fills_at_or_better_than_the_limit_and_within_traded_volume(seed, kw):
    series = tick_series(random_ticks(N, S, seed))
    sig = tick_signals(series, seed)
    params = make_params(limit_orders=1.0, **QUIET, **kw)
    tol = 1e-3
    for i, (state, rec) in enumerate(stepwise(params, series, sig)):
        for s in np.flatnonzero(rec.order_qty):
            q, px = float(rec.order_qty[s]), float(rec.order_price[s])
            limit = float(state.execution.work_price[s])  # the order that filled (it stays)
            trade = float(series.close[i, s])
            assert series.volume[i, s] > 0  # fills only on trades
            if q > 0:
                assert px <= limit + tol and trade <= px + tol  # the market sold at/below
            else:
                assert px >= limit - tol and trade >= px - tol
            cap = series.volume[i, s] * (kw["max_volume_frac"] or 1.0)
            assert abs(q) <= cap * (1 + 1e-5)
            if kw["queue_model"] == 0.0:  # trade-through: strictly beyond the limit
                assert (trade < px - 0.004) if q > 0 else (trade > px + 0.004)


@SETTINGS
@given(st.integers(0, 10_000), st.sampled_from([0.0, 1.0, 10.0, 50.0, 200.0]),
       st.sampled_from([0.0, 3.0]))
def test_no_fill_before_decision_plus_latency_and_fills_use_arrival_quotes(seed, latency, slip):
    ticks = random_ticks(N, S, seed)
    series = tick_series(ticks)
    sig = tick_signals(series, seed)
    params = make_params(latency=latency, slippage_bps=slip, **QUIET)
    _, rec = simulate(params, init(params, S, execution=True), series,
                      jnp.asarray(sig, jnp.float32), mode="portfolio")
    qty, price = np.asarray(rec.order_qty), np.asarray(rec.order_price)
    ts = ticks.timestamp
    for i, s in zip(*np.nonzero(qty), strict=True):
        decided = np.flatnonzero(np.isfinite(sig[:i, s]))
        assert decided.size and ts[i] - ts[decided[0]] >= latency * 1e6
        quote = series.ask[i, s] if qty[i, s] > 0 else series.bid[i, s]
        side = np.sign(qty[i, s])
        np.testing.assert_allclose(price[i, s], quote * (1 + side * slip * 1e-4), rtol=1e-6)


@SETTINGS
@given(st.integers(0, 10_000), st.sampled_from(["independent", "portfolio"]),
       st.fixed_dictionaries({
           "impact_k": st.sampled_from([0.5, 3.0]),
           "borrow_rate": st.sampled_from([0.0, 0.3]),
           "funding_rate": st.sampled_from([-0.5, 0.2]),
           "latency": st.sampled_from([0.0, 2.0]),
           "limit_orders": st.sampled_from([0.0, 1.0]),
           "fee_rate": st.sampled_from([0.0, 0.001]),
       }))
def test_accounting_identity_with_impact_and_carry(seed, mode, kw):
    m = random_market(3, 50, seed=seed, missing=0.1, vol=0.02, bar_seconds=3600)
    rng = np.random.default_rng(seed + 1)
    sig = np.where(rng.random((3, 50)) < 0.3, rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], (3, 50)),
                   np.nan)
    res = run(make_params(**kw), m, sig, mode=mode)
    r = res.records
    value = np.where(r["position"] != 0, r["position"] * r["price"], 0.0)
    book = value if mode == "independent" else value.sum(axis=0)
    np.testing.assert_allclose(r["cash"] + book, r["equity"], rtol=2e-6, atol=1e-2)
    flow = (r["order_qty"] * r["order_price"] + r["order_fee"] + r["exit_qty"] * r["exit_price"]
            + r["exit_fee"] + r["carry"]).astype(np.float64)
    flow = flow if mode == "independent" else flow.sum(axis=0)
    cash = np.asarray(r["cash"], np.float64)
    prev = np.concatenate([np.full(cash.shape[:-1] + (1,), 100_000.0), cash[..., :-1]], axis=-1)
    np.testing.assert_allclose(cash - prev, -flow, rtol=1e-4, atol=0.05)
    ex = res.state.execution
    assert np.all(np.asarray(ex.impact_paid) >= 0)
    np.testing.assert_allclose(np.asarray(ex.carry_paid).sum(), r["carry"].sum(), rtol=1e-4,
                               atol=1e-3)


@SETTINGS
@given(st.integers(0, 10_000), st.sampled_from(["independent", "portfolio"]), limit_st,
       st.sampled_from([0.0, 1.0]))
def test_vectorized_backtest_equals_tick_by_tick_replay(seed, mode, kw, limit_orders):
    series = tick_series(random_ticks(N, S, seed))
    sig = tick_signals(series, seed)
    params = make_params(limit_orders=limit_orders, impact_k=0.5, borrow_rate=0.2, **kw)
    state = init_state(params, S, mode)
    _, vec = simulate(params, state, series, jnp.asarray(sig, jnp.float32), mode=mode)
    _, rep = replay_ticks(params, state, series, sig, mode)
    for name in ("order_qty", "order_price", "order_fee", "exit_qty", "exit_price", "position",
                 "cash", "equity", "carry"):
        np.testing.assert_array_equal(np.asarray(getattr(vec, name)), getattr(rep, name),
                                      err_msg=name)
