"""The execution rules on bars: latency, limit orders (trade-through, expiry), square-root
impact, carry, and bitwise neutrality of the execution state with every switch off."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantjax.backtest.config import BacktestConfig
from quantjax.backtest.runner import market_series, run, simulate
from quantjax.config import from_dict
from quantjax.data.market import FIELDS, MarketArrays
from quantjax.errors import ConfigError
from quantjax.risk import init, make_params
from quantjax.risk.rules.carry import SECONDS_PER_YEAR

from support.toy_market import random_market

DAY = 86_400 * 10**9
HOUR = 3_600 * 10**9
NO_RULES = dict(stop_loss=0.0, take_profit=0.0, max_drawdown=0.0, rebalance_band=0.0,
                slippage_bps=0.0, fee_rate=0.0, initial_cash=10_000.0)


def bars(ohlc, bar_ns=DAY, volume=1e9) -> MarketArrays:
    """One-symbol market from rows (open, high, low, close)."""
    a = np.asarray(ohlc, np.float64)
    values = np.stack([a[:, 0], a[:, 1], a[:, 2], a[:, 3], np.full(len(a), volume)], -1)[None]
    ts = np.arange(len(a), dtype=np.int64) * bar_ns + 19_724 * DAY
    return MarketArrays(values, np.ones((1, len(a)), bool), ts, ("X",), tuple(FIELDS[:5]))


def go(market, sig, **kw):
    res = run(make_params(**{**NO_RULES, **kw}), market, np.asarray(sig, np.float64)[None])
    return res.records, res.state


def rising(n):
    return [(100.0 + t, 100.5 + t, 99.5 + t, 100.0 + t) for t in range(n)]


@pytest.mark.parametrize("latency, fill_bar", [(0, 1), (1, 2), (3, 4)])
def test_latency_in_bars_delays_the_fill_to_the_arrival_open(latency, fill_bar):
    r, _ = go(bars(rising(6)), [1.0] + [np.nan] * 5, latency=latency)
    assert np.flatnonzero(r["order_qty"][0]).tolist() == [fill_bar]
    assert r["order_price"][0, fill_bar] == 100.0 + fill_bar


def test_limit_buy_fills_only_when_traded_through():
    rows = [(100, 100, 100, 100), (100, 100.5, 100.0, 100.2), (100.3, 100.4, 99.9, 100.0),
            (100, 100, 100, 100)]
    r, st = go(bars(rows), [1.0, np.nan, np.nan, np.nan], limit_orders=1.0)
    # at the limit (low == 100.0) is not through; 99.9 is
    assert np.flatnonzero(r["order_qty"][0]).tolist() == [2]
    assert r["order_price"][0, 2] == 100.0
    assert int(st.execution.n_limit_orders[0]) == 1 and int(st.execution.n_limit_fills[0]) == 1
    # ten ticks behind the touch: 99.9 is the limit, never traded through
    r, _ = go(bars(rows), [1.0, np.nan, np.nan, np.nan], limit_orders=1.0,
              limit_offset_ticks=10.0)
    assert not r["order_qty"].any()


@pytest.mark.parametrize("expiry, fills", [(1.0, False), (2.0, True), (0.0, True)])
def test_limit_order_expires(expiry, fills):
    rows = [(100, 100, 100, 100), (100, 100.5, 100.0, 100.2), (100.3, 100.4, 99.9, 100.0)]
    r, st = go(bars(rows), [1.0, np.nan, np.nan], limit_orders=1.0, limit_expiry=expiry)
    assert bool(r["order_qty"].any()) == fills
    assert int(st.execution.n_expired[0]) == (0 if fills else 1)


def test_limit_sell_is_symmetric_and_partial_fills_follow_volume():
    rows = [(100, 100, 100, 100), (100, 100.1, 99.8, 100), (100, 100.2, 99.9, 100),
            (100, 100.3, 99.9, 100)]
    r, st = go(bars(rows, volume=10.0), [-1.0, np.nan, np.nan, np.nan], limit_orders=1.0)
    q = r["order_qty"][0]
    # a 100-unit sell at 100 fills when the high passes 100.005, at most the 10 units traded
    assert q.tolist() == [0.0, -10.0, -10.0, -10.0]
    assert set(r["order_price"][0, 1:].tolist()) == {100.0}
    assert int(st.execution.n_limit_fills[0]) == 3


def ewma(x, halflife):
    lam = 2.0 ** (-1.0 / halflife)
    out = np.empty_like(x)
    out[0] = x[0]
    for i in range(1, len(x)):
        out[i] = lam * out[i - 1] + (1 - lam) * x[i]
    return out


def test_square_root_impact_from_causal_estimates():
    m = random_market(1, 40, seed=3, vol=0.01)
    sig = np.full(40, np.nan)
    sig[30] = 1.0
    k, hl = 0.5, 10.0
    r, st = go(m, sig, impact_k=k, impact_halflife=hl)
    t = 31
    q = abs(float(r["order_qty"][0, t]))
    close, vol = m.field("close")[0], m.field("volume")[0]
    var = ewma((close[1:t] / close[:t - 1] - 1.0) ** 2, hl)[-1]  # returns up to bar t-1
    volume = ewma(vol[:t], hl)[-1]
    expected = m.field("open")[0, t] * (1 + k * np.sqrt(var) * np.sqrt(q / volume))
    assert r["order_price"][0, t] == pytest.approx(expected, rel=2e-5)
    assert float(st.execution.impact_paid[0]) == pytest.approx(
        q * (r["order_price"][0, t] - m.field("open")[0, t]), rel=1e-3)


def test_carry_charges_borrow_on_shorts_and_funding_per_bar():
    rows = [(100, 100, 100, 100)] * 5
    r, st = go(bars(rows, bar_ns=HOUR), [-1.0] + [np.nan] * 4, borrow_rate=0.1,
               funding_rate=0.05)
    pos = float(r["position"][0, 1])
    assert pos < 0
    hour = 3600 / SECONDS_PER_YEAR
    expected = (0.1 * -pos + 0.05 * pos) * 100.0 * hour  # borrow paid, funding received
    assert r["carry"][0, :2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(r["carry"][0, 2:], expected, rtol=1e-5)
    assert float(st.execution.carry_paid[0]) == pytest.approx(3 * expected, rel=1e-5)
    np.testing.assert_allclose(np.diff(r["cash"][0, 1:]), -r["carry"][0, 2:], atol=4e-3)  # f32


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_execution_state_with_every_switch_off_is_bitwise_neutral(mode):
    m = random_market(3, 60, seed=5, quotes=True, missing=0.1, vol=0.02)
    rng = np.random.default_rng(1)
    sig = np.where(rng.random((3, 60)) < 0.3, rng.choice([-1.0, -0.5, 0.0, 1.0], (3, 60)),
                   np.nan)
    params = make_params(trailing_stop=0.01, max_volume_frac=0.5, daily_loss_limit=0.01)
    series = market_series(m, np.float32)
    sig_t = jnp.asarray(sig.T, jnp.float32)

    def state(execution):
        if mode == "independent":
            return jax.vmap(lambda _: init(params, execution=execution))(jnp.arange(3))
        return init(params, 3, execution=execution)

    assert state(None).execution is None
    _, off = simulate(params, state(False), series, sig_t, mode=mode)
    _, on = simulate(params, state(True), series, sig_t, mode=mode)
    for name in off._fields:
        np.testing.assert_array_equal(np.asarray(getattr(on, name)),
                                      np.asarray(getattr(off, name)), err_msg=name)


def test_risk_config_rejects_out_of_bounds_execution_keys():
    with pytest.raises(ConfigError, match="risk.limit_orders"):
        from_dict(BacktestConfig, {"risk": {"limit_orders": 2.0}})
    with pytest.raises(ConfigError, match="risk.latency"):
        from_dict(BacktestConfig, {"risk": {"latency": -1.0}})
