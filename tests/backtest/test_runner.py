"""Runner, chunked mode, outputs (trade log, metrics.json) and strategies."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantjax.backtest import outputs, strategies
from quantjax.backtest.runner import (
    init_state,
    market_series,
    run,
    run_chunked,
    simulate,
    slice_series,
)
from quantjax.risk import make_params

from support.shared_market import STEPS, SYMBOLS, shared_market


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_chunked_equals_one_shot(mode):
    m = shared_market(4, missing=0.05, bar_seconds=3600)
    sig = strategies.momentum_signal(m.field("close"), 5)
    p = make_params(max_drawdown=0.1, trailing_stop=0.02, daily_loss_limit=0.02)
    series = market_series(m)
    sig_t = np.ascontiguousarray(sig.T, np.float32)
    st0 = init_state(p, SYMBOLS, mode)
    full_state, full = simulate(p, st0, series, sig_t, mode=mode)
    # 12 equal chunks (one compiled chunk program; ragged last chunks: tests/backtest/test_trades)
    chunks = ((slice_series(series, a, a + 20), sig_t[a:a + 20]) for a in range(0, STEPS, 20))
    state, recs = run_chunked(p, chunks, SYMBOLS, mode=mode, record="full")
    for k, v in full._asdict().items():
        np.testing.assert_array_equal(np.asarray(v), recs._asdict()[k], err_msg=k)
    jax.tree.map(lambda a, b: np.testing.assert_array_equal(np.asarray(a), np.asarray(b)),
                 full_state, state)
    # the O(T) record level gives the same total equity
    _, tot = run_chunked(p, ((slice_series(series, a, a + 20), sig_t[a:a + 20])
                             for a in range(0, STEPS, 20)), SYMBOLS, mode=mode, record="total")
    np.testing.assert_allclose(tot, np.asarray(full.equity).reshape(STEPS, -1).sum(1), rtol=1e-6)


@pytest.mark.parametrize("mode", ["independent", "portfolio"])
def test_trade_log_pnl_adds_up(mode):
    m = shared_market(2, missing=0.05)
    sig = strategies.momentum_signal(m.field("close"), 7)
    res = run(make_params(max_drawdown=0.15, fee_fixed=1.0), m, sig, mode=mode)
    trades = outputs.trade_log(res)
    assert len(trades) > 5
    assert set(trades.columns) == set(outputs.TRADE_COLUMNS)
    pnl = trades["pnl"].sum()
    assert pnl == pytest.approx(res.total_equity()[-1] - res.total_initial(), rel=1e-4, abs=1.0)
    assert (trades["fees"] >= 0).all()
    assert (trades["exit_time"] >= trades["entry_time"]).all()
    # returns: compounding the per-period returns gives the final equity
    r = outputs.total_returns(res)
    assert np.prod(1 + r) * res.total_initial() == pytest.approx(res.total_equity()[-1])
    # per-symbol returns in portfolio mode are contributions that sum to the total
    if mode == "portfolio":
        np.testing.assert_allclose(outputs.book_returns(res).sum(0), r, atol=1e-6)


def test_write_results_files(tmp_path):
    import json

    import pandas as pd

    m = shared_market(1)
    sig = strategies.momentum_signal(m.field("close"), 5, long_only=True)
    res = run(make_params(), m, sig)
    bench = np.random.default_rng(0).normal(0, 0.01, STEPS)
    metrics = outputs.write_results(res, tmp_path, 252.0, bench)
    for f in ("metrics.json", "equity.parquet", "trades.parquet", "returns.csv"):
        assert (tmp_path / f).is_file()
    js = json.loads((tmp_path / "metrics.json").read_text())
    assert set(js["per_symbol"]) == set(m.symbols)
    for key in ("sharpe", "max_drawdown", "var_95", "cvar_95", "psr", "win_rate", "turnover",
                "exposure", "n_trades", "alpha", "beta", "information_ratio", "var_backtest"):
        assert key in js["portfolio"], key
    eq = pd.read_parquet(tmp_path / "equity.parquet")
    assert len(eq) == SYMBOLS * STEPS
    ret = pd.read_csv(tmp_path / "returns.csv")
    assert len(ret) == STEPS and metrics["portfolio"]["n_trades"] >= 0
    np.testing.assert_allclose(ret["benchmark"], bench)


def test_model_signal_rules():
    sp = strategies.make_strategy_params(kelly_fraction=1.0, vol_target=0.01)
    probs = jnp.array([[0.1, 0.1, 0.8], [0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.3, 0.05, 0.65]])
    tgt = strategies.model_signal(sp, probs, jnp.array([0.001, -0.001, 0.0, 0.001]),
                                  jnp.full(4, 0.01), jnp.full(4, 0.01))
    kelly = (0.8 * 0.005 - 0.2 * 0.003) / 0.005
    np.testing.assert_allclose(np.asarray(tgt), [min(kelly, 1.0), -min(kelly, 1.0), 0.0, 0.0],
                               rtol=1e-6)
    # vol targeting: doubling the EWMA vol halves the size
    sp2 = sp._replace(kelly_fraction=jnp.float32(0.25))
    a = strategies.model_signal(sp2, probs[0], 0.001, 0.01, 0.01)
    b = strategies.model_signal(sp2, probs[0], 0.001, 0.01, 0.02)
    assert float(b) == pytest.approx(float(a) / 2, rel=1e-6)
    # min position and NaN
    sp3 = sp2._replace(min_position=jnp.float32(0.9))
    assert float(strategies.model_signal(sp3, probs[0], 0.001, 0.01, 0.02)) == pytest.approx(0.9)
    assert np.isnan(float(strategies.model_signal(sp, probs[0], 0.001, 0.01, jnp.nan)))


def test_ewma_vol_is_causal():
    r = np.random.default_rng(0).normal(0, 0.01, (2, 50))
    v = strategies.ewma_vol(r, 5.0)
    r2 = r.copy()
    r2[:, 30:] = 1.0
    v2 = strategies.ewma_vol(r2, 5.0)
    np.testing.assert_array_equal(v[:, :31], v2[:, :31])
    assert np.isnan(v[0, 0])


def test_differentiable_sharpe_gradient_matches_finite_differences():
    from quantjax.backtest.differentiable import soft_sharpe

    with jax.enable_x64(True):
        rng = np.random.default_rng(0)
        S, T = 2, 200
        logits = rng.normal(0, 2, (S, T, 3))
        probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
        ar = rng.normal(0, 0.01, (S, T)) + 0.003 * (probs[..., 2] - probs[..., 0])
        pr = rng.normal(0, 0.001, (S, T))
        pv = np.abs(rng.normal(0.01, 0.002, (S, T)))
        ev = np.abs(rng.normal(0.01, 0.002, (S, T)))
        p = strategies.make_strategy_params(jnp.float64, confidence=0.6, temperature=0.05)

        @jax.jit
        def f(p):
            return soft_sharpe(p, probs, pr, pv, ev, ar, 0.0005)

        g = jax.grad(f)(p)
        for name in ("confidence", "kelly_fraction", "vol_target", "max_position"):
            v, h = float(getattr(p, name)), 1e-6
            hi = f(p._replace(**{name: jnp.float64(v + h)}))
            lo = f(p._replace(**{name: jnp.float64(v - h)}))
            fd = float(hi - lo) / (2 * h)
            assert float(getattr(g, name)) == pytest.approx(fd, rel=1e-5, abs=1e-8), name


def test_trade_log_partial_reduction_and_flip():
    from quantjax.data.market import FIELDS, MarketArrays

    px = np.array([100.0, 100, 110, 120, 100, 90, 90])
    vals = np.stack([px, px, px, px, np.full(7, 1e9)], axis=-1)[None]
    ts = np.arange(7, dtype=np.int64) * 86_400 * 10**9
    m = MarketArrays(vals, np.ones((1, 7), bool), ts, ("X",), FIELDS[:5])
    sig = np.array([[1.0, np.nan, 0.5, -1.0, np.nan, 0.0, np.nan]])
    p = make_params(fee_rate=0.0, slippage_bps=0.0, stop_loss=0.0, take_profit=0.0,
                    max_drawdown=0.0, initial_cash=1000.0)
    res = run(p, m, sig)
    tr = outputs.trade_log(res)
    assert list(tr["side"]) == ["long", "short"]
    assert list(tr["exit_reason"]) == ["signal", "signal"]
    # long 10 @100, sell 5.xx @120 (t=3), rest @100 (t=4 flip); short closed @90 (t=6)
    assert tr["entry_price"].iloc[0] == pytest.approx(100.0)
    assert tr["size"].iloc[0] == pytest.approx(10.0)
    assert tr["pnl"].sum() == pytest.approx(res.total_equity()[-1] - 1000.0, rel=1e-5)
    assert tr["exit_price"].iloc[1] == pytest.approx(90.0)
