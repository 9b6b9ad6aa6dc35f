"""Hypothesis property tests of the engine invariants (fixed shapes: one compile per mode)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.backtest.runner import run
from quantjax.risk import BREAKER, make_params

from support.shared_market import STEPS, SYMBOLS, shared_market

S, T = SYMBOLS, STEPS  # the backtest tests' shape: their compiled programs are shared
SETTINGS = settings(max_examples=6, deadline=None, derandomize=True)

params_st = st.fixed_dictionaries({
    "fee_rate": st.sampled_from([0.0, 0.0005, 0.003]),
    "fee_fixed": st.sampled_from([0.0, 2.0]),
    "slippage_bps": st.sampled_from([0.0, 5.0]),
    "stop_loss": st.sampled_from([0.0, 0.01, 0.03]),
    "take_profit": st.sampled_from([0.0, 0.01, 0.05]),
    "trailing_stop": st.sampled_from([0.0, 0.02]),
    "max_position": st.sampled_from([0.3, 1.0]),
    "max_order": st.sampled_from([0.2, 1.0]),
    "max_leverage": st.sampled_from([0.5, 1.0, 2.0]),
    "max_net": st.sampled_from([0.3, 1.0]),
    "max_drawdown": st.sampled_from([0.0, 0.02, 0.05]),
    "daily_loss_limit": st.sampled_from([0.0, 0.01]),
})
case_st = st.tuples(st.integers(0, 10_000), params_st, st.sampled_from(["independent", "portfolio"]))


def _case(seed, kw, mode, sig=None, market=None):
    m = market or shared_market(seed, missing=0.1, vol=0.02)
    rng = np.random.default_rng(seed + 1)
    if sig is None:
        sig = np.where(rng.random((S, T)) < 0.3, rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], (S, T)),
                       np.nan)
    return m, sig, run(make_params(**kw), m, sig, mode=mode).records


def _book_sum(x, mode):
    return x if mode == "independent" else x.sum(axis=0)


@SETTINGS
@given(case_st)
def test_equity_identity_fees_and_limits(case):
    seed, kw, mode = case
    _, _, r = _case(seed, kw, mode)
    value = np.where(r["position"] != 0, r["position"] * r["price"], 0.0)
    eq = r["cash"] + _book_sum(value, mode)
    np.testing.assert_allclose(eq, r["equity"], rtol=2e-6, atol=1e-2)
    assert np.all(r["order_fee"] >= 0) and np.all(r["exit_fee"] >= 0)
    # limits at fill time: a fill never takes exposure above the limit (or increases it)
    pos_after = r["position"] - r["exit_qty"]
    pos_before = np.concatenate([np.zeros((S, 1)), r["position"][:, :-1]], axis=1)
    px = np.where(r["order_qty"] != 0, r["order_price"], 1.0)
    cash_before = np.concatenate([np.full(r["cash"].shape[:-1] + (1,), 10**5),
                                  r["cash"][..., :-1]], axis=-1)
    filled = r["order_qty"] != 0
    tol = 1 + 2e-3
    if mode == "independent":
        eq_fill = cash_before + pos_before * px
        lim = min(kw["max_position"], kw["max_leverage"])
        grew = np.abs(pos_after) > np.abs(pos_before) * tol
        ok = np.abs(pos_after * px) <= lim * eq_fill * tol + 1e-3
        assert np.all(ok | ~(filled & grew))
        order_ok = np.abs(r["order_qty"] * px) <= kw["max_order"] * eq_fill * tol + 1e-3
        assert np.all(order_ok | ~filled | (pos_after == 0))
    else:
        prev_px = np.concatenate([np.zeros((S, 1)), r["price"][:, :-1]], axis=1)
        ref = np.where(filled, r["order_price"], prev_px)
        eq_fill = cash_before + np.nansum(pos_before * ref, axis=0)
        gross_after = np.nansum(np.abs(pos_after * ref), axis=0)
        gross_before = np.nansum(np.abs(pos_before * ref), axis=0)
        bound = np.maximum(kw["max_leverage"] * eq_fill, gross_before) * tol + 1e-3
        assert np.all((gross_after <= bound) | ~filled.any(axis=0))


@SETTINGS
@given(case_st)
def test_no_trades_while_breaker_tripped(case):
    seed, kw, mode = case
    kw = {**kw, "max_drawdown": 0.01}
    _, _, r = _case(seed, kw, mode)
    assert r["breaker"].any()  # the tight threshold does trip in these cases
    brk = r["breaker"] if r["breaker"].ndim == 2 else np.broadcast_to(r["breaker"], (S, T))
    for s in range(S):
        tripped = np.flatnonzero(brk[s])
        if len(tripped) == 0:
            continue
        t0 = tripped[0]
        later = slice(t0 + 1, None)
        oq = r["order_qty"][s, later]
        # only flattening orders (reason breaker) after the trip, and never a new position
        assert np.all((oq == 0) | (r["order_reason"][s, later] == BREAKER))
        pos = r["position"][s, t0:]
        assert np.all(np.diff(np.abs(pos)) <= 1e-6 * np.abs(pos[:-1]))
        assert pos[-1] == 0 or np.all(oq == 0)  # flattened unless no valid bar came


@SETTINGS
@given(case_st)
def test_zero_signal_means_no_trades(case):
    seed, kw, mode = case
    _, _, r = _case(seed, kw, mode, sig=np.zeros((S, T)))
    assert np.all(r["order_qty"] == 0) and np.all(r["exit_qty"] == 0)
    assert np.all(r["equity"] == 100_000.0)


@settings(max_examples=4, deadline=None, derandomize=True)
@given(case_st, st.integers(1, T - 2))
def test_no_look_ahead_and_determinism(case, t0):
    seed, kw, mode = case
    m, sig, r = _case(seed, kw, mode)
    values = m.values.copy()
    rng = np.random.default_rng(seed + 7)
    values[:, t0 + 1:, :4] *= rng.uniform(0.8, 1.2, values[:, t0 + 1:, :1].shape)
    perturbed = m._replace(values=values)
    sig2 = sig.copy()
    sig2[:, t0 + 1:] = rng.choice([-1.0, 1.0, np.nan], sig2[:, t0 + 1:].shape)
    _, _, r2 = _case(seed, kw, mode, sig=sig2, market=perturbed)
    for k in r:
        np.testing.assert_array_equal(r[k][..., : t0 + 1], r2[k][..., : t0 + 1], err_msg=k)
    _, _, r3 = _case(seed, kw, mode)
    for k in r:
        np.testing.assert_array_equal(r[k], r3[k], err_msg=k)
