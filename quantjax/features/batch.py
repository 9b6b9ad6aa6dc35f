"""Every feature of the spec's ``engineer_hft_features`` and ``calculate_technical_indicators``
as pure jnp code over one symbol's ``[T]`` arrays, vmapped over symbols and jitted.

``compute_symbol(inputs, cfg, has_quotes) -> (values[T, F], valid[T, F])``.

This module is where a feature is defined: :func:`feature_groups` is the one list of feature
names (with their lookbacks), :func:`batch_values` the batch formula of each group, and the
pointwise formulas below it (``rsi_from_sums``, ``bollinger_bands`` ...) are reused by the
incremental features of :mod:`quantjax.features.incremental`, so both paths compute the same
float32 operations. Generic helpers (``safe_div`` ...) are in :mod:`quantjax.features.numeric`.

Validity rule (documented in docs/features.md): feature f at bar t is valid iff bar t exists,
``t >= lookback_f`` and no bar in ``[t - lookback_f, t]`` is missing, and the value is finite.
EWM features (MACD family) follow pandas ``ewm(adjust=True)``: valid at every existing bar
after the first observation (a missing bar keeps its weight slot but adds no observation).
Invalid entries are 0. Degenerate denominators use the fallbacks listed in ``FALLBACKS``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.features import rolling
from quantjax.features.config import FeaturesConfig
from quantjax.features.numeric import (
    ewm_decay,
    finite_or_zero,
    moment_stats,
    pct_change,
    price_diff,
    safe_div,
    std_from_m2,
    std_from_sums,
)
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

# ``{group: ((feature name, lookback in bars), ...)}``: see :func:`feature_groups`
FeatureGroups = dict[str, tuple[tuple[str, int], ...]]


def feature_groups(cfg: FeaturesConfig, has_quotes: bool) -> FeatureGroups:
    """The features of the selected groups, ``{group: ((name, lookback), ...)}`` in output order
    (``EWM`` marks the pandas-EWM validity rule). The one list of feature names: the batch and
    incremental formulas return one value per entry, in this order. A window listed twice in
    the config gives a repeated entry; its second value is dropped (:func:`stack_features`)."""
    g = set(cfg.groups)
    ref = cfg.vol_ref_window
    out: FeatureGroups = {}
    if "returns" in g:
        out["returns"] = (("returns", 1), ("log_returns", 1), ("price_acceleration", 2))
    if "volatility" in g:
        ws = cfg.vol_windows
        out["volatility"] = (*((f"volatility_{w}", w) for w in ws),
                             *((f"volatility_ratio_{w}", max(w, ref + 1)) for w in ws))
    if "microstructure" in g and has_quotes:
        out["microstructure"] = tuple((n, 0) for n in QUOTE_FEATURES)
    if "volume" in g:
        out["volume"] = (("vwap", cfg.vwap_window - 1), ("price_to_vwap", cfg.vwap_window - 1),
                         ("volume_intensity", cfg.volume_window - 1))
    if "time" in g:
        out["time"] = (("hour", 0), ("minute", 0), ("second", 0), ("time_since_open", 0))
    if "regime" in g:
        out["regime"] = (("volatility_regime", ref + cfg.regime_window - 1),)
    if "trend" in g:
        out["trend"] = (("trend_strength", cfg.trend_window - 1),)
    if "cross_timeframe" in g:
        out["cross_timeframe"] = tuple(
            f for m in cfg.timeframes for f in ((f"momentum_tf{m}", cfg.tf_momentum_periods * m),
                                                (f"volatility_tf{m}", cfg.tf_vol_periods * m)))
    if "lags" in g:
        out["lags"] = tuple(f for lag in cfg.lags
                            for f in ((f"returns_lag_{lag}", 1 + lag),
                                      (f"volatility_lag_{lag}", ref + lag)))
    if "rolling_stats" in g:
        out["rolling_stats"] = tuple((f"returns_{s}_{w}", w) for w in cfg.stat_windows
                                     for s in ("mean", "std", "skew", "kurt"))
    if "rsi" in g:
        out["rsi"] = (("rsi", cfg.rsi_window),)
    if "macd" in g:
        out["macd"] = (("macd", EWM), ("macd_signal", EWM), ("macd_histogram", EWM))
    if "bollinger" in g:
        out["bollinger"] = tuple((n, cfg.bb_window - 1)
                                 for n in ("bb_upper", "bb_lower", "bb_position"))
    if "stochastic" in g:
        out["stochastic"] = (("stoch_k", cfg.stoch_window - 1),
                             ("stoch_d", cfg.stoch_window + cfg.stoch_smooth - 2))
    if "atr" in g:
        out["atr"] = (("atr", cfg.atr_window),)
    return out


def lookbacks(cfg: FeaturesConfig, has_quotes: bool) -> dict[str, int]:
    """Ordered ``{feature name: lookback in bars}`` (``EWM`` for the pandas-EWM rule)."""
    out: dict[str, int] = {}
    for feats in feature_groups(cfg, has_quotes).values():
        for name, lb in feats:
            out.setdefault(name, lb)
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


def stack_features(groups: FeatureGroups, values: dict[str, tuple], ok_for: Callable,
                   quote_ok: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Feature columns ``(values[..., F] float32, valid[..., F] bool)`` from the per-group
    values of a formula (``values[group]``: one array ``[...]`` per entry of
    ``groups[group]``); ``ok_for(lookback)``: the lookback validity ``[...]`` (bool);
    microstructure features also need ``quote_ok``; invalid or non-finite values become 0.
    Shared by the batch and the incremental features."""
    cols, oks, seen = [], [], set()
    for group, feats in groups.items():
        for (name, lb), val in zip(feats, values[group], strict=True):
            if name in seen:  # a window listed twice in the config
                continue
            seen.add(name)
            ok = ok_for(lb)
            if group == "microstructure":
                ok = ok & quote_ok
            col, ok = finite_or_zero(val, ok)
            cols.append(col)
            oks.append(ok)
    return jnp.stack(cols, axis=-1), jnp.stack(oks, axis=-1)


def _ewm_rel(o, d, span):
    """``ema_t - x_t`` of a price by pandas ``ewm(span, adjust=True)`` from increments
    ``d_t = x_t - x_{t-1}`` and observation flags ``o`` (``[T]``); returns
    ``(rel[T], weight_sum[T])``."""
    beta = ewm_decay(span)
    D = rolling.linear_recurrence(beta, o)
    E = rolling.linear_recurrence(beta, -beta * d * rolling.shift(D, 1))
    return safe_div(E, D, 0.0), D


def _ewm(o, x, span):
    """pandas ``ewm(span, adjust=True).mean()`` of ``x[T]`` over the observations ``o[T]``."""
    beta = ewm_decay(span)
    N = rolling.linear_recurrence(beta, o * x)
    D = rolling.linear_recurrence(beta, o)
    return safe_div(N, D, 0.0)


def batch_values(x: SymbolInputs, cfg: FeaturesConfig, has_quotes: bool) -> dict[str, tuple]:
    """Raw feature values of one symbol, ``{group: (values[T] float32, ...)}`` in the order of
    :func:`feature_groups` (invalid positions not yet masked)."""
    g = set(cfg.groups)
    ch, cl = x.close_hi, x.close_lo
    T = ch.shape[0]
    close = ch + cl
    v = {}

    def lag_price(n):
        return rolling.shift(ch, n, 1.0), rolling.shift(cl, n, 0.0)

    def pct(n):  # close_t / close_{t-n} - 1
        return pct_change(ch, cl, *lag_price(n))

    dc = price_diff(ch, cl, *lag_price(1))
    t_idx = jnp.arange(T)
    ret_ok = x.present & rolling.shift(x.present, 1, False) & (t_idx >= 1)
    ret = jnp.where(ret_ok, pct(1), 0.0)  # garbage one-bar returns would skew the anchors
    ref = cfg.vol_ref_window
    stat_w = set(cfg.stat_windows) if "rolling_stats" in g else set()
    mom = {w: rolling.rolling_moments(ret, w, order=4 if w in stat_w else 2)
           for w in sorted({*cfg.vol_windows, ref, *stat_w})}
    vol = {w: std_from_m2(mom[w].m2, w) for w in {*cfg.vol_windows, ref}}

    if "returns" in g:
        v["returns"] = (ret, log_return(ret), ret - rolling.shift(ret, 1))
    if "volatility" in g:
        prev = rolling.shift(vol[ref], 1)
        v["volatility"] = (*(vol[w] for w in cfg.vol_windows),
                           *(safe_div(vol[w], prev, 1.0) for w in cfg.vol_windows))
    if "microstructure" in g and has_quotes:
        v["microstructure"] = microstructure_features(ch, cl, close, x)
    if "volume" in g:
        W = cfg.vwap_window
        y = rolling.anchored_blocks(ch, cl, ch, cl, W)
        vb = rolling.to_blocks(x.volume, W, 0.0)
        sv = rolling.reduce_blocks(vb, vb, T, W)
        rel = safe_div(rolling.reduce_blocks(vb * y.pre, vb * y.suf, T, W), sv, y.out)
        mean_v = rolling.window_reduce(x.volume, cfg.volume_window) / cfg.volume_window
        v["volume"] = (*vwap_features(ch, cl, rel - y.out),
                       volume_intensity(x.volume, mean_v))
    if "time" in g:
        v["time"] = time_features(x.sod, x.subsec)
    if "regime" in g:
        # exact rank count: O(T*W) compares up to its crossover W, O(T log W) above
        below = rolling.count_below(vol[ref], cfg.regime_window)
        v["regime"] = (volatility_regime(below, cfg.regime_quantile, cfg.regime_window),)
    if "trend" in g:
        W = cfg.trend_window
        y = rolling.anchored_blocks(ch, cl, ch, cl, W)
        q_pre, q_suf, offset = rolling.anchored_offset(T, W)
        s1 = rolling.reduce_blocks(y.pre, y.suf, T, W)
        s2 = rolling.reduce_blocks(y.pre * y.pre, y.suf * y.suf, T, W)
        sq = rolling.reduce_blocks(q_pre * y.pre, q_suf * y.suf, T, W)
        cov = sq - offset * s1 - 0.5 * (W - 1) * s1
        var_y = s2 - s1 * s1 / W
        v["trend"] = (trend_correlation(cov, var_y, W),)
    if "cross_timeframe" in g:
        n_vol = cfg.tf_vol_periods
        tf = []
        for m in cfg.timeframes:
            momentum = pct(cfg.tf_momentum_periods * m)
            rm = pct(m)
            s1 = rolling.strided_window_sum(rm, n_vol, m)
            s2 = rolling.strided_window_sum(rm * rm, n_vol, m)
            tf += [momentum, std_from_sums(s1, s2, n_vol)]
        v["cross_timeframe"] = tuple(tf)
    if "lags" in g:
        v["lags"] = tuple(f for lag in cfg.lags
                          for f in (rolling.shift(ret, lag), rolling.shift(vol[ref], lag)))
    if "rolling_stats" in g:
        v["rolling_stats"] = tuple(
            f for w in cfg.stat_windows
            for f in moment_stats(mom[w].mean, mom[w].m2, mom[w].m3, mom[w].m4, w))
    if "rsi" in g:
        W = cfg.rsi_window
        gain = rolling.window_reduce(jnp.maximum(dc, 0.0), W)
        loss = rolling.window_reduce(jnp.maximum(-dc, 0.0), W)
        v["rsi"] = (rsi_from_sums(gain, loss),)
    if "macd" in g:
        o = x.present.astype(jnp.float32)
        d = jnp.where(jnp.arange(T) > 0, dc, 0.0)
        fast, w_fast = _ewm_rel(o, d, cfg.macd_fast)
        slow, _ = _ewm_rel(o, d, cfg.macd_slow)
        macd = fast - slow
        seen = (w_fast > 0).astype(jnp.float32)
        signal = _ewm(seen, macd, cfg.macd_signal)
        v["macd"] = (macd, signal, macd - signal)
    if "bollinger" in g:
        W = cfg.bb_window
        y = rolling.anchored_blocks(ch, cl, ch, cl, W)
        s1 = rolling.reduce_blocks(y.pre, y.suf, T, W)
        s2 = rolling.reduce_blocks(y.pre * y.pre, y.suf * y.suf, T, W)
        mean_rel = s1 / W
        band = cfg.bb_width * std_from_sums(s1, s2, W)
        v["bollinger"] = bollinger_bands(ch, cl, mean_rel - y.out, band)
    if "stochastic" in g:
        W = cfg.stoch_window
        lo = rolling.anchored_blocks(x.low_hi, x.low_lo, ch, cl, W)
        hi = rolling.anchored_blocks(x.high_hi, x.high_lo, ch, cl, W)
        c_out = rolling.anchored_blocks(ch, cl, ch, cl, W).out
        lowest = rolling.reduce_blocks(lo.pre, lo.suf, T, W, "min")
        highest = rolling.reduce_blocks(hi.pre, hi.suf, T, W, "max")
        k = stochastic_k(c_out, lowest, highest)
        v["stochastic"] = (k, rolling.window_reduce(k, cfg.stoch_smooth) / cfg.stoch_smooth)
    if "atr" in g:
        tr = true_range(x.high_hi, x.high_lo, x.low_hi, x.low_lo, *lag_price(1))
        v["atr"] = (rolling.window_reduce(tr, cfg.atr_window) / cfg.atr_window,)
    return v


# ---- pointwise formulas, shared with the incremental features (any shape) ----

def log_return(ret: jax.Array) -> jax.Array:
    """``log(1 + ret)``, with ``ret`` floored at ``-1 + 1e-7`` (finite)."""
    return jnp.log1p(jnp.maximum(ret, -1.0 + 1e-7))


def vwap_features(ch: jax.Array, cl: jax.Array, dev: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(vwap, price_to_vwap)`` from the close as a ``(hi, lo)`` pair and ``dev = vwap -
    close`` (no cancellation at the price scale)."""
    vwap = ch + (cl + dev)
    return vwap, 1.0 + safe_div(-dev, vwap, 0.0)


def volume_intensity(volume: jax.Array, mean_volume: jax.Array) -> jax.Array:
    """``volume / mean window volume`` (1 when the mean is 0)."""
    return safe_div(volume, mean_volume, 1.0)


def volatility_regime(below: jax.Array, quantile: float, W: int) -> jax.Array:
    """1.0 where a volatility is above pandas' linear-interpolation ``quantile`` of its W-bar
    window, from ``below`` = the count of window values below it: ``vol > quantile <=>
    below >= floor(quantile (W-1)) + 1``; else 0.0."""
    rank = int(np.floor(quantile * (W - 1))) + 1
    return (below >= rank).astype(jnp.float32)


def trend_correlation(cov: jax.Array, var_y: jax.Array, W: int) -> jax.Array:
    """Correlation of a W-bar window with time (``trend_strength``) from its centred moments:
    ``cov = sum((i - mean_i) * y)``, ``var_y = sum((y - mean_y)^2)``; 0 for a flat window."""
    var_i = W * (W * W - 1) / 12.0
    ok = var_y > 0
    corr = cov / jnp.sqrt(var_i * jnp.where(ok, var_y, 1.0))
    return jnp.where(ok, jnp.clip(corr, -1.0, 1.0), 0.0)


def rsi_from_sums(gain: jax.Array, loss: jax.Array) -> jax.Array:
    """RSI from the window sums of gains and losses (50 when both are 0)."""
    return safe_div(100.0 * gain, gain + loss, 50.0)


def bollinger_bands(ch: jax.Array, cl: jax.Array, dev: jax.Array, band: jax.Array):
    """``(bb_upper, bb_lower, bb_position)`` from the close as a ``(hi, lo)`` pair, ``dev =
    mean - close`` and the half width ``band = width * std``."""
    return (ch + (cl + (dev + band)), ch + (cl + (dev - band)),
            safe_div(band - dev, 2.0 * band, 0.5))


def stochastic_k(close: jax.Array, lowest: jax.Array, highest: jax.Array) -> jax.Array:
    """%K from the close and the window's lowest low and highest high, all relative to one
    anchor price (50 when highest == lowest)."""
    return safe_div(100.0 * (close - lowest), highest - lowest, 50.0)


def true_range(high_hi, high_lo, low_hi, low_lo, prev_close_hi, prev_close_lo) -> jax.Array:
    """``max(h - l, |h - c[t-1]|, |l - c[t-1]|)`` of ``(hi, lo)`` prices."""
    return jnp.maximum(
        price_diff(high_hi, high_lo, low_hi, low_lo),
        jnp.maximum(
            jnp.abs(price_diff(high_hi, high_lo, prev_close_hi, prev_close_lo)),
            jnp.abs(price_diff(low_hi, low_lo, prev_close_hi, prev_close_lo)),
        ),
    )


def microstructure_features(ch: jax.Array, cl: jax.Array, close: jax.Array, x) -> tuple:
    """``QUOTE_FEATURES`` (bid_ask_spread, mid_price, price_to_mid, order_flow_imbalance,
    liquidity_ratio) from the close as a ``(hi, lo)`` pair (``ch, cl``), the close ``close``
    and ``x`` with fields ``bid_hi, bid_lo, ask_hi, ask_lo, bid_volume, ask_volume, volume``."""
    c_bid = price_diff(ch, cl, x.bid_hi, x.bid_lo)
    c_ask = price_diff(ch, cl, x.ask_hi, x.ask_lo)
    mid = 0.5 * (x.bid_hi + x.ask_hi) + 0.5 * (x.bid_lo + x.ask_lo)
    depth = x.bid_volume + x.ask_volume
    return (safe_div(c_bid - c_ask, close, 0.0), mid,
            1.0 + safe_div(0.5 * (c_bid + c_ask), mid, 0.0),
            safe_div(x.bid_volume - x.ask_volume, depth, 0.0),
            safe_div(x.volume, depth, 0.0))


def time_features(sod: jax.Array, subsec: jax.Array) -> tuple:
    """``(hour, minute, second, time_since_open in hours)`` from seconds of day ``sod`` (int)
    and its fraction ``subsec``."""
    sod = sod.astype(jnp.float32)  # < 2**24: exact; floor of exact quotients is exact
    hour = jnp.floor(sod / 3600.0)
    rest = sod - 3600.0 * hour
    minute = jnp.floor(rest / 60.0)
    return hour, minute, rest - 60.0 * minute, sod / 3600.0 + subsec / 3600.0


def compute_symbol(
    x: SymbolInputs, cfg: FeaturesConfig, has_quotes: bool
) -> tuple[jax.Array, jax.Array]:
    """Features of one symbol: ``(values[T, F] float32, valid[T, F] bool)``; values are 0
    where invalid and finite everywhere. Column order: :func:`feature_names`."""
    groups = feature_groups(cfg, has_quotes)
    vals = batch_values(x, cfg, has_quotes)
    T = x.close_hi.shape[0]
    present = x.present
    missing_cs = jnp.cumsum((~present).astype(jnp.int32))
    t = jnp.arange(T)
    seen = jnp.cumsum(present.astype(jnp.int32)) > 0
    by_lb = {}

    def ok_for(lb):
        if lb == EWM:
            return present & seen
        if lb not in by_lb:
            by_lb[lb] = (t >= lb) & (rolling.missing_count(missing_cs, lb) == 0)
        return by_lb[lb]

    return stack_features(groups, vals, ok_for, x.quote_ok)


@partial(jax.jit, static_argnames=("cfg", "has_quotes"))
def compute_batch(
    x: SymbolInputs, cfg: FeaturesConfig, has_quotes: bool
) -> tuple[jax.Array, jax.Array]:
    """``compute_symbol`` vmapped over symbols: ``x`` leaves ``[S, T]`` ->
    ``(values[S, T, F], valid[S, T, F])``."""
    return jax.vmap(lambda xs: compute_symbol(xs, cfg, has_quotes))(x)
