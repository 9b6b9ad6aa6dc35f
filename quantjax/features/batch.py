"""Every feature of the spec's ``engineer_hft_features`` and ``calculate_technical_indicators``
as pure jnp code over one symbol's ``[T]`` arrays, vmapped over symbols and jitted.

``compute_symbol(inputs, cfg, has_quotes) -> (values[T, F], valid[T, F])``.

Validity rule (documented in docs/features.md): feature f at bar t is valid iff bar t exists,
``t >= lookback_f`` and no bar in ``[t - lookback_f, t]`` is missing, and the value is finite.
EWM features (MACD family) follow pandas ``ewm(adjust=True)``: valid at every existing bar
after the first observation (a missing bar keeps its weight slot but adds no observation).
Invalid entries are 0. Degenerate denominators use the fallbacks listed in ``FALLBACKS``.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.features import rolling as R
from quantjax.features.config import FeaturesConfig
from quantjax.features.prep import SymbolInputs

EWM = -1  # lookback marker of the EWM rule

QUOTE_FEATURES = (
    "bid_ask_spread",
    "mid_price",
    "price_to_mid",
    "order_flow_imbalance",
    "liquidity_ratio",
)

FALLBACKS = {
    "volatility_ratio_*": "1 when the lagged reference volatility is 0",
    "order_flow_imbalance": "0 when bid_volume + ask_volume == 0",
    "liquidity_ratio": "0 when bid_volume + ask_volume == 0",
    "vwap / price_to_vwap": "vwap = close and price_to_vwap = 1 when the window volume is 0",
    "volume_intensity": "1 when the mean window volume is 0",
    "trend_strength": "0 when prices are constant over the window",
    "returns_skew_* / returns_kurt_*": "0 when the window variance is <= 1e-12 x mean square",
    "rsi": "50 when there is neither gain nor loss in the window",
    "bb_position": "0.5 when the band width is 0",
    "stoch_k": "50 when highest high == lowest low",
}


def lookbacks(cfg: FeaturesConfig, has_quotes: bool) -> dict[str, int]:
    """Ordered ``{feature name: lookback in bars}`` (``EWM`` for the pandas-EWM rule)."""
    g = set(cfg.groups)
    ref = cfg.vol_ref_window
    out: dict[str, int] = {}
    if "returns" in g:
        out.update(returns=1, log_returns=1, price_acceleration=2)
    if "volatility" in g:
        for w in cfg.vol_windows:
            out[f"volatility_{w}"] = w
        for w in cfg.vol_windows:
            out[f"volatility_ratio_{w}"] = max(w, ref + 1)
    if "microstructure" in g and has_quotes:
        out.update({n: 0 for n in QUOTE_FEATURES})
    if "volume" in g:
        out.update(
            vwap=cfg.vwap_window - 1,
            price_to_vwap=cfg.vwap_window - 1,
            volume_intensity=cfg.volume_window - 1,
        )
    if "time" in g:
        out.update(hour=0, minute=0, second=0, time_since_open=0)
    if "regime" in g:
        out["volatility_regime"] = ref + cfg.regime_window - 1
    if "trend" in g:
        out["trend_strength"] = cfg.trend_window - 1
    if "cross_timeframe" in g:
        for m in cfg.timeframes:
            out[f"momentum_tf{m}"] = cfg.tf_momentum_periods * m
            out[f"volatility_tf{m}"] = cfg.tf_vol_periods * m
    if "lags" in g:
        for lag in cfg.lags:
            out[f"returns_lag_{lag}"] = 1 + lag
            out[f"volatility_lag_{lag}"] = ref + lag
    if "rolling_stats" in g:
        for w in cfg.stat_windows:
            for s in ("mean", "std", "skew", "kurt"):
                out[f"returns_{s}_{w}"] = w
    if "rsi" in g:
        out["rsi"] = cfg.rsi_window
    if "macd" in g:
        out.update(macd=EWM, macd_signal=EWM, macd_histogram=EWM)
    if "bollinger" in g:
        out.update(bb_upper=cfg.bb_window - 1, bb_lower=cfg.bb_window - 1)
        out["bb_position"] = cfg.bb_window - 1
    if "stochastic" in g:
        out["stoch_k"] = cfg.stoch_window - 1
        out["stoch_d"] = cfg.stoch_window + cfg.stoch_smooth - 2
    if "atr" in g:
        out["atr"] = cfg.atr_window
    return out


def feature_names(cfg: FeaturesConfig, has_quotes: bool) -> tuple[str, ...]:
    """Names of the F feature columns, in output order."""
    return tuple(lookbacks(cfg, has_quotes))


def dropped_features(cfg: FeaturesConfig, has_quotes: bool) -> tuple[str, ...]:
    """Features of the selected groups that cannot be computed (no quote fields)."""
    if has_quotes or "microstructure" not in cfg.groups:
        return ()
    return QUOTE_FEATURES


def max_lookback(cfg: FeaturesConfig, has_quotes: bool) -> int:
    """The longest lookback of the selected features (warm-up length)."""
    return max([0, *lookbacks(cfg, has_quotes).values()])


def _div(a, b, fallback):
    ok = b != 0
    return jnp.where(ok, a / jnp.where(ok, b, 1.0), fallback)


def _std(s1, s2, n):
    """Sample std (ddof=1) from window sums, clamped at 0."""
    return jnp.sqrt(jnp.maximum((s2 - s1 * s1 / n) / (n - 1), 0.0))


def _rolling_std(mo, w):
    """pandas ``rolling(w).std()`` (ddof=1) from stable rolling moments."""
    return jnp.sqrt(jnp.maximum(mo.m2 / (w - 1), 0.0))


def _moments(mo, w):
    """pandas rolling mean/std/skew/kurt (bias-corrected) over w bars from moments."""
    n = float(w)
    B = mo.m2 / n
    C = mo.m3 / n
    D = mo.m4 / n
    degenerate = B <= 1e-12 * (B + mo.mean * mo.mean)
    Bs = jnp.where(degenerate, 1.0, B)
    skew = np.sqrt(n * (n - 1)) * C / ((n - 2) * Bs * jnp.sqrt(Bs))
    kurt = ((n * n - 1) * D / (Bs * Bs) - 3 * (n - 1) ** 2) / ((n - 2) * (n - 3))
    std = jnp.sqrt(jnp.maximum(mo.m2 / (n - 1), 0.0))
    skew = jnp.where(degenerate, 0.0, skew)
    return mo.mean, std, skew, jnp.where(degenerate, 0.0, kurt)


def _ewm_rel(o, d, span):
    """``ema_t - x_t`` of a price by pandas ``ewm(span, adjust=True)`` from increments
    ``d_t = x_t - x_{t-1}`` and observation flags ``o``; returns ``(rel, weight_sum)``."""
    beta = 1.0 - 2.0 / (span + 1.0)
    D = R.linear_recurrence(beta, o)
    E = R.linear_recurrence(beta, -beta * d * R.shift(D, 1))
    return _div(E, D, 0.0), D


def _ewm(o, x, span):
    beta = 1.0 - 2.0 / (span + 1.0)
    N = R.linear_recurrence(beta, o * x)
    D = R.linear_recurrence(beta, o)
    return _div(N, D, 0.0)


def compute_values(x: SymbolInputs, cfg: FeaturesConfig, has_quotes: bool) -> dict:
    """Raw feature values ``{name: [T] float32}`` (invalid positions not yet masked)."""
    g = set(cfg.groups)
    ch, cl = x.close_hi, x.close_lo
    T = ch.shape[0]
    close = ch + cl
    v = {}

    def lag_price(n):
        return R.shift(ch, n, 1.0), R.shift(cl, n, 0.0)

    def pct(n):  # close_t / close_{t-n} - 1
        ph, pl = lag_price(n)
        return _div(R.diff_hl(ch, cl, ph, pl), ph + pl, 0.0)

    dc = R.diff_hl(ch, cl, *lag_price(1))
    t_idx = jnp.arange(T)
    ret_ok = x.present & R.shift(x.present, 1, False) & (t_idx >= 1)
    ret = jnp.where(ret_ok, pct(1), 0.0)  # garbage one-bar returns would skew the anchors
    ref = cfg.vol_ref_window
    stat_w = set(cfg.stat_windows) if "rolling_stats" in g else set()
    mom = {w: R.rolling_moments(ret, w, order=4 if w in stat_w else 2)
           for w in sorted({*cfg.vol_windows, ref, *stat_w})}
    vol = {w: _rolling_std(mom[w], w) for w in {*cfg.vol_windows, ref}}

    if "returns" in g:
        v["returns"] = ret
        v["log_returns"] = jnp.log1p(jnp.maximum(ret, -1.0 + 1e-7))
        v["price_acceleration"] = ret - R.shift(ret, 1)
    if "volatility" in g:
        for w in cfg.vol_windows:
            v[f"volatility_{w}"] = vol[w]
        prev = R.shift(vol[ref], 1)
        for w in cfg.vol_windows:
            v[f"volatility_ratio_{w}"] = _div(vol[w], prev, 1.0)
    if "microstructure" in g and has_quotes:
        v.update(microstructure_features(ch, cl, close, x))
    if "volume" in g:
        W = cfg.vwap_window
        y = R.anchored_blocks(ch, cl, ch, cl, W)
        vb = R._blocks(x.volume, W, 0.0)
        sv = R.reduce_blocks(vb, vb, T, W)
        rel = _div(R.reduce_blocks(vb * y.pre, vb * y.suf, T, W), sv, y.out)
        y_out = y.out
        vwap = ch + (cl + (rel - y_out))  # close + (vwap - close), no cancellation
        v["vwap"] = vwap
        v["price_to_vwap"] = 1.0 + _div(y_out - rel, vwap, 0.0)
        mean_v = R.window_reduce(x.volume, cfg.volume_window) / cfg.volume_window
        v["volume_intensity"] = _div(x.volume, mean_v, 1.0)
    if "time" in g:
        v.update(time_features(x.sod, x.subsec))
    if "regime" in g:
        W = cfg.regime_window
        # vol > pandas' linear-interpolation quantile <=> rank count >= floor(q (W-1)) + 1;
        # count_below is exact: O(T*W) compares up to its crossover W, O(T log W) above
        below = R.count_below(vol[ref], W)
        rank = int(np.floor(cfg.regime_quantile * (W - 1))) + 1
        v["volatility_regime"] = (below >= rank).astype(jnp.float32)
    if "trend" in g:
        W = cfg.trend_window
        y = R.anchored_blocks(ch, cl, ch, cl, W)
        q_pre, q_suf, offset = R.anchored_offset(T, W)
        s1 = R.reduce_blocks(y.pre, y.suf, T, W)
        s2 = R.reduce_blocks(y.pre * y.pre, y.suf * y.suf, T, W)
        sq = R.reduce_blocks(q_pre * y.pre, q_suf * y.suf, T, W)
        cov = sq - offset * s1 - 0.5 * (W - 1) * s1
        var_y = s2 - s1 * s1 / W
        v["trend_strength"] = trend_correlation(cov, var_y, W)
    if "cross_timeframe" in g:
        n_vol = cfg.tf_vol_periods
        for m in cfg.timeframes:
            v[f"momentum_tf{m}"] = pct(cfg.tf_momentum_periods * m)
            rm = pct(m)
            s1 = R.strided_window_sum(rm, n_vol, m)
            s2 = R.strided_window_sum(rm * rm, n_vol, m)
            v[f"volatility_tf{m}"] = _std(s1, s2, n_vol)
    if "lags" in g:
        for lag in cfg.lags:
            v[f"returns_lag_{lag}"] = R.shift(ret, lag)
            v[f"volatility_lag_{lag}"] = R.shift(vol[ref], lag)
    if "rolling_stats" in g:
        for w in cfg.stat_windows:
            mean, std, skew, kurt = _moments(mom[w], w)
            v[f"returns_mean_{w}"] = mean
            v[f"returns_std_{w}"] = std
            v[f"returns_skew_{w}"] = skew
            v[f"returns_kurt_{w}"] = kurt
    if "rsi" in g:
        W = cfg.rsi_window
        gain = R.window_reduce(jnp.maximum(dc, 0.0), W)
        loss = R.window_reduce(jnp.maximum(-dc, 0.0), W)
        v["rsi"] = _div(100.0 * gain, gain + loss, 50.0)
    if "macd" in g:
        o = x.present.astype(jnp.float32)
        d = jnp.where(jnp.arange(T) > 0, dc, 0.0)
        fast, w_fast = _ewm_rel(o, d, cfg.macd_fast)
        slow, _ = _ewm_rel(o, d, cfg.macd_slow)
        macd = fast - slow
        seen = (w_fast > 0).astype(jnp.float32)
        signal = _ewm(seen, macd, cfg.macd_signal)
        v["macd"] = macd
        v["macd_signal"] = signal
        v["macd_histogram"] = macd - signal
    if "bollinger" in g:
        W = cfg.bb_window
        y = R.anchored_blocks(ch, cl, ch, cl, W)
        s1 = R.reduce_blocks(y.pre, y.suf, T, W)
        s2 = R.reduce_blocks(y.pre * y.pre, y.suf * y.suf, T, W)
        mean_rel = s1 / W
        band = cfg.bb_width * _std(s1, s2, W)
        dev = mean_rel - y.out  # bb_mean - close
        v["bb_upper"] = ch + (cl + (dev + band))
        v["bb_lower"] = ch + (cl + (dev - band))
        v["bb_position"] = _div(band - dev, 2.0 * band, 0.5)
    if "stochastic" in g:
        W = cfg.stoch_window
        lo = R.anchored_blocks(x.low_hi, x.low_lo, ch, cl, W)
        hi = R.anchored_blocks(x.high_hi, x.high_lo, ch, cl, W)
        c_out = R.anchored_blocks(ch, cl, ch, cl, W).out
        lowest = R.reduce_blocks(lo.pre, lo.suf, T, W, "min")
        highest = R.reduce_blocks(hi.pre, hi.suf, T, W, "max")
        k = _div(100.0 * (c_out - lowest), highest - lowest, 50.0)
        v["stoch_k"] = k
        v["stoch_d"] = R.window_reduce(k, cfg.stoch_smooth) / cfg.stoch_smooth
    if "atr" in g:
        c1h, c1l = lag_price(1)
        tr = jnp.maximum(
            R.diff_hl(x.high_hi, x.high_lo, x.low_hi, x.low_lo),
            jnp.maximum(
                jnp.abs(R.diff_hl(x.high_hi, x.high_lo, c1h, c1l)),
                jnp.abs(R.diff_hl(x.low_hi, x.low_lo, c1h, c1l)),
            ),
        )
        v["atr"] = R.window_reduce(tr, cfg.atr_window) / cfg.atr_window
    return v


def trend_correlation(cov: jax.Array, var_y: jax.Array, W: int) -> jax.Array:
    """Correlation of a W-bar window with time (``trend_strength``) from its centred moments:
    ``cov = sum((i - mean_i) * y)``, ``var_y = sum((y - mean_y)^2)``; 0 for a flat window. Also
    used by the streaming features."""
    var_i = W * (W * W - 1) / 12.0
    ok = var_y > 0
    corr = cov / jnp.sqrt(var_i * jnp.where(ok, var_y, 1.0))
    return jnp.where(ok, jnp.clip(corr, -1.0, 1.0), 0.0)


def microstructure_features(ch: jax.Array, cl: jax.Array, close: jax.Array, x) -> dict[str, jax.Array]:
    """bid_ask_spread, mid_price, price_to_mid, order_flow_imbalance and liquidity_ratio from the
    close as a ``(hi, lo)`` float32 pair (``ch, cl``), the close ``close`` and ``x`` with fields
    ``bid_hi, bid_lo, ask_hi, ask_lo, bid_volume, ask_volume, volume``; any shape. Also used by
    the streaming features (same formulas, so the two stay equal)."""
    c_bid = R.diff_hl(ch, cl, x.bid_hi, x.bid_lo)
    c_ask = R.diff_hl(ch, cl, x.ask_hi, x.ask_lo)
    mid = 0.5 * (x.bid_hi + x.ask_hi) + 0.5 * (x.bid_lo + x.ask_lo)
    depth = x.bid_volume + x.ask_volume
    return {"bid_ask_spread": _div(c_bid - c_ask, close, 0.0), "mid_price": mid,
            "price_to_mid": 1.0 + _div(0.5 * (c_bid + c_ask), mid, 0.0),
            "order_flow_imbalance": _div(x.bid_volume - x.ask_volume, depth, 0.0),
            "liquidity_ratio": _div(x.volume, depth, 0.0)}


def time_features(sod: jax.Array, subsec: jax.Array) -> dict[str, jax.Array]:
    """hour, minute, second and time_since_open (hours) from seconds of day ``sod`` (int) and
    its fraction ``subsec``; any shape. Also used by the streaming features."""
    sod = sod.astype(jnp.float32)  # < 2**24: exact; floor of exact quotients is exact
    hour = jnp.floor(sod / 3600.0)
    rest = sod - 3600.0 * hour
    minute = jnp.floor(rest / 60.0)
    return {"hour": hour, "minute": minute, "second": rest - 60.0 * minute,
            "time_since_open": sod / 3600.0 + subsec / 3600.0}


def compute_symbol(
    x: SymbolInputs, cfg: FeaturesConfig, has_quotes: bool
) -> tuple[jax.Array, jax.Array]:
    """Features of one symbol: ``(values[T, F] float32, valid[T, F] bool)``; values are 0
    where invalid and finite everywhere. Column order: :func:`feature_names`."""
    lbs = lookbacks(cfg, has_quotes)
    vals = compute_values(x, cfg, has_quotes)
    assert set(vals) == set(lbs), sorted(set(vals) ^ set(lbs))
    T = x.close_hi.shape[0]
    present = x.present
    missing_cs = jnp.cumsum((~present).astype(jnp.int32))
    t = jnp.arange(T)
    seen = jnp.cumsum(present.astype(jnp.int32)) > 0
    by_lb = {}
    cols, oks = [], []
    for name, lb in lbs.items():
        if lb == EWM:
            ok = present & seen
        else:
            if lb not in by_lb:
                by_lb[lb] = (t >= lb) & (R.missing_count(missing_cs, lb) == 0)
            ok = by_lb[lb]
        if name in QUOTE_FEATURES:
            ok = ok & x.quote_ok
        val = vals[name].astype(jnp.float32)
        ok = ok & jnp.isfinite(val)
        cols.append(jnp.where(ok, val, 0.0))
        oks.append(ok)
    return jnp.stack(cols, axis=-1), jnp.stack(oks, axis=-1)


@partial(jax.jit, static_argnames=("cfg", "has_quotes"))
def compute_batch(
    x: SymbolInputs, cfg: FeaturesConfig, has_quotes: bool
) -> tuple[jax.Array, jax.Array]:
    """``compute_symbol`` vmapped over symbols: ``x`` leaves ``[S, T]`` ->
    ``(values[S, T, F], valid[S, T, F])``."""
    return jax.vmap(lambda xs: compute_symbol(xs, cfg, has_quotes))(x)
