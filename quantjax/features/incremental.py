"""Incremental streaming features: ``inc, (values[F], valid[F]) = step(inc, bar, t)`` for one
symbol, O(1) work per feature and bar (independent of the stream and of the lookbacks).

Written for one symbol and vmapped over symbols by :mod:`quantjax.features.streaming`; ``t``
(the global bar index, the same for every symbol) is NOT vmapped, so every ring-buffer
read/write is a ``dynamic_slice`` / ``dynamic_update_slice`` at one shared slot (in place when
the state is donated).

Per-symbol state (a dict pytree, see :func:`init_inc`):

- rings (length R, slot ``t % R``) of the per-bar quantities the windows need: the forward-
  filled close / high / low (float32 hi/lo pairs), volume, one-bar returns, vol_ref and %K;
  bar t is written first and lags are read from the updated ring, so a donated state is
  updated in place (XLA copies a donated buffer that is read and then rewritten);
- block-restarted running window sums (:func:`_bsum_step`: volume, RSI gain/loss, true range,
  and the strided sums of r, r^2 of every cross timeframe m, one series per ``t % m``): O(1)
  per bar, no add/subtract drift over long streams (the float32 error depends on the last 2W
  values only), and exactly 0 over a window of zeros, so flat stretches give the batch
  fallbacks exactly (RSI 50 ...);
- the MACD EWM recurrences (pandas ``adjust=True`` weight sums, exact, no truncation), the
  validity counters (consecutive present bars, first observation seen) and the forward-fill of
  the prices.

O(W) passes over a ring (fixed small windows, independent of the stream length): the central
moments of returns (volatility_w, returns_mean/std/skew/kurt_w; w <= 60 by default: one
centered pass, because running power sums lose the skew/kurtosis to cancellation on trending
low-noise returns), the price-level statistics of VWAP, Bollinger and trend strength (20 bars,
relative to the current close), the stochastic max/min (14) and %D (3), and the
volatility-regime rank count (100 bars, a comparison count that no running sum gives).

Every formula, fallback and validity rule is the one of :mod:`quantjax.features.batch`:
the step returns one value per entry of :func:`~quantjax.features.batch.feature_groups`, in its
order (the names are not restated here), finishes each feature with the batch path's pointwise
formula (``rsi_from_sums``, ``bollinger_bands`` ...) and the generic helpers of
:mod:`quantjax.features.numeric`, and assembles the row with the same
:func:`~quantjax.features.batch.stack_features`: feature f is valid at t iff the last
``lookback_f + 1`` bars are all present (EWM features: present and seen), quote features also
need ``quote_ok``, and finite.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from quantjax.features.batch import (
    EWM,
    bollinger_bands,
    feature_groups,
    log_return,
    max_lookback,
    microstructure_features,
    rsi_from_sums,
    stack_features,
    stochastic_k,
    time_features,
    trend_correlation,
    true_range,
    volatility_regime,
    volume_intensity,
    vwap_features,
)
from quantjax.features.config import FeaturesConfig
from quantjax.features.numeric import (
    ewm_decay,
    moment_stats,
    pct_change,
    price_diff,
    safe_div,
    std_from_m2,
    std_from_sums,
)

F32 = jnp.float32


def _ring_get(ring, t, k):
    """``ring[(t - k) % R]`` (the value written k bars before bar t)."""
    R = ring.shape[0]
    return lax.dynamic_index_in_dim(ring, (t - k) % R, keepdims=False)


def _ring_set(ring, t, x):
    R = ring.shape[0]
    return lax.dynamic_update_index_in_dim(ring, jnp.asarray(x, ring.dtype), t % R, 0)


def _ring_last(ring, t, W):
    """The last W values ``[W]`` oldest first (bar t included), any ring length R >= W."""
    R = ring.shape[0]
    if R == W:  # slot order (t+1) % R ... t % R
        return jnp.roll(ring, -((t + 1) % R), axis=0)
    idx = (t - (W - 1) + jnp.arange(W)) % R
    return jnp.take(ring, idx, axis=0)


class Plan:
    """Static sizes derived from the feature config (ring lengths, windows)."""

    def __init__(self, cfg: FeaturesConfig, has_quotes: bool):
        g = set(cfg.groups)
        self.cfg, self.has_quotes, self.groups = cfg, has_quotes, g
        self.feature_groups = feature_groups(cfg, has_quotes)
        self.max_lb = max_lookback(cfg, has_quotes)
        self.stat_w = tuple(sorted(cfg.stat_windows)) if "rolling_stats" in g else ()
        self.ret_windows = tuple(sorted({*cfg.vol_windows, cfg.vol_ref_window, *self.stat_w}))
        lags = tuple(cfg.lags) if "lags" in g else ()
        tfs = tuple(cfg.timeframes) if "cross_timeframe" in g else ()
        self.lags, self.tfs = lags, tfs
        self.close_len = max([2, cfg.vwap_window, cfg.bb_window, cfg.trend_window,
                              cfg.stoch_window, *(m + 1 for m in tfs),
                              *(cfg.tf_momentum_periods * m + 1 for m in tfs)])
        self.hl_len = max(2, cfg.stoch_window)
        self.vol_len = max(cfg.vwap_window, cfg.volume_window)
        self.ret_len = max([2, *self.ret_windows, *(lag + 1 for lag in lags)])
        self.vref_len = max([2, cfg.regime_window, *(lag + 1 for lag in lags)])


def init_inc(plan: Plan) -> dict:
    """Per-symbol incremental state before any bar (see module docstring)."""
    cfg = plan.cfg
    z = jnp.zeros((), F32)
    st = {
        "last_hi": jnp.ones(5, F32), "last_lo": jnp.zeros(5, F32),
        "streak": jnp.zeros((), jnp.int32), "seen": jnp.zeros((), bool),
        "close_hi": jnp.ones(plan.close_len, F32), "close_lo": jnp.zeros(plan.close_len, F32),
        "high_hi": jnp.ones(plan.hl_len, F32), "high_lo": jnp.zeros(plan.hl_len, F32),
        "low_hi": jnp.ones(plan.hl_len, F32), "low_lo": jnp.zeros(plan.hl_len, F32),
        "volume": jnp.zeros(plan.vol_len, F32),
        "ret": jnp.zeros(plan.ret_len, F32),
        "vref": jnp.full(plan.vref_len, jnp.inf, F32),
        "vol_sum": _bsum_init(cfg.volume_window),  # volume over volume_window
        "rsi_sums": _bsum_init(cfg.rsi_window, 1, 2),  # gain, loss over rsi_window
        "atr_sum": _bsum_init(cfg.atr_window),
        "k": jnp.zeros(max(1, cfg.stoch_smooth), F32),
        # sum of r, r^2 over the last n m-bar returns r[t], r[t-m], ... (series t % m)
        "tf": {str(m): _bsum_init(cfg.tf_vol_periods, m, 2) for m in plan.tfs},
        # MACD: fast/slow weight sums D and E = sum of weighted increments; signal N/D
        "macd": {"Df": z, "Ef": z, "Ds": z, "Es": z, "Nsig": z, "Dsig": z},
    }
    return st


def _bsum_init(W: int, M: int = 1, k: int = 1) -> dict:
    """Block-restarted running window sums of k quantities over the last W values of each of
    M interleaved series (series ``t % M``; M = 1: a plain rolling sum). ``buf[M, W + 2, k]``:
    per series the W block-prefix sums of the previous/current block, the running prefix of
    the current block and the total of the previous block; ``next[W + 2, k]``: the row of the
    series of the next bar, prefetched (see :func:`_bsum_step`)."""
    return {"buf": jnp.zeros((M, W + 2, k), F32), "next": jnp.zeros((W + 2, k), F32)}


def _bsum_step(bs: dict, x, t, W: int, M: int = 1):
    """Add ``x[k]`` (bar t) and return ``(bs, sum[k])``, the sum of the last W values of
    series ``t % M``. O(1): ``sum = (total - prefix[p]) of the previous block + prefix[p] of
    the current block`` with blocks of W values and ``p`` the position in the block; sums are
    restarted at every block, so the float32 error depends only on the last 2W values (no
    drift over the stream), and a window of zeros sums to exactly 0.

    The row of series ``t % M`` was prefetched at bar t-1, and the row of bar t+1 is read from
    the updated buffer: the old buffer is only written, so XLA updates the donated buffer in
    place instead of copying it (a read-modify-write of a donated buffer is copied)."""
    r = t % M
    p = (t // M) % W
    row = bs["next"]  # [W + 2, k]
    cur = jnp.where(p == 0, 0.0, row[W]) + x
    tot = row[W + 1]
    prev = lax.dynamic_index_in_dim(row, p, keepdims=False)
    total = (tot - prev) + cur
    row = lax.dynamic_update_index_in_dim(row, cur, p, 0)
    row = row.at[W].set(cur).at[W + 1].set(jnp.where(p == W - 1, cur, tot))
    buf = lax.dynamic_update_index_in_dim(bs["buf"], row, r, 0)
    nxt = lax.dynamic_index_in_dim(buf, (t + 1) % M, keepdims=False)
    return {"buf": buf, "next": nxt}, total


def make_inc_step(plan: Plan):
    """``step(inc, x, t) -> (inc, (values[F] float32, valid[F] bool))`` for one symbol.

    ``x``: the prepared bar (:class:`quantjax.features.prep.SymbolInputs` of scalars: forward-
    filled price pairs, volumes, flags, time of day); ``t``: int32 global bar index (shared).
    Values come per group in the order of :func:`~quantjax.features.batch.feature_groups`."""
    cfg, g = plan.cfg, plan.groups
    ref = cfg.vol_ref_window

    def step(st: dict, x, t):
        new = dict(st)
        present = x.present
        ch, cl = x.close_hi, x.close_lo
        close = ch + cl
        streak = jnp.where(present, jnp.minimum(st["streak"] + 1, plan.max_lb + 1), 0)
        seen = st["seen"] | present
        new["streak"], new["seen"] = streak, seen

        # ---- rings: bar t is written first and lags n < R are read from the new ring, so
        # the old buffer has no reader left and the donated state is updated in place
        new["close_hi"] = _ring_set(st["close_hi"], t, ch)
        new["close_lo"] = _ring_set(st["close_lo"], t, cl)

        def lag_price(n):
            return _ring_get(new["close_hi"], t, n), _ring_get(new["close_lo"], t, n)

        def pct(n):
            return pct_change(ch, cl, *lag_price(n))

        p1h, p1l = lag_price(1)
        dc = price_diff(ch, cl, p1h, p1l)
        dc0 = jnp.where(t > 0, dc, 0.0)
        prev_present = st["streak"] > 0
        ret_ok = present & prev_present & (t >= 1)
        ret = jnp.where(ret_ok, pct(1), 0.0).astype(F32)
        new["ret"] = _ring_set(st["ret"], t, ret)
        ret_prev = _ring_get(new["ret"], t, 1)

        # ---- central moments of returns over each window: one centered pass over the ring
        # (fixed windows <= max(stat_windows, vol_windows); raw running power sums lose
        # float32 precision on trending, low-noise returns, see module docstring)
        mom = {}
        for w in plan.ret_windows:
            r = _ring_last(new["ret"], t, w)
            mean = jnp.mean(r)
            d = r - mean
            d2 = d * d
            mom[w] = (mean, jnp.sum(d2), jnp.sum(d2 * d), jnp.sum(d2 * d2))
        vol = {w: std_from_m2(mom[w][1], w) for w in {*cfg.vol_windows, ref}}
        new["vref"] = _ring_set(st["vref"], t, vol[ref])
        vref_prev = _ring_get(new["vref"], t, 1)
        v = {}

        if "returns" in g:
            v["returns"] = (ret, log_return(ret), ret - jnp.where(t >= 1, ret_prev, 0.0))
        if "volatility" in g:
            prev = jnp.where(t >= 1, vref_prev, 0.0)
            v["volatility"] = (*(vol[w] for w in cfg.vol_windows),
                               *(safe_div(vol[w], prev, 1.0) for w in cfg.vol_windows))
        if "microstructure" in g and plan.has_quotes:
            v["microstructure"] = microstructure_features(ch, cl, close, x)

        # price rings relative to the current close (O(W) passes over small fixed windows)
        def rel_close(W):
            hi = _ring_last(new["close_hi"], t, W)
            lo = _ring_last(new["close_lo"], t, W)
            return price_diff(hi, lo, ch, cl)

        new["volume"] = _ring_set(st["volume"], t, x.volume)
        if "volume" in g:
            W = cfg.vwap_window
            y = rel_close(W)
            vw = _ring_last(new["volume"], t, W)
            sv = jnp.sum(vw)
            rel = safe_div(jnp.sum(vw * y), sv, 0.0)
            Wv = cfg.volume_window
            new["vol_sum"], sv = _bsum_step(st["vol_sum"], x.volume[None], t, Wv)
            v["volume"] = (*vwap_features(ch, cl, rel), volume_intensity(x.volume, sv[0] / Wv))
        if "time" in g:
            v["time"] = time_features(x.sod, x.subsec)
        if "regime" in g:
            window = _ring_last(new["vref"], t, cfg.regime_window)
            below = jnp.sum((window < vol[ref]).astype(jnp.int32))
            v["regime"] = (volatility_regime(below, cfg.regime_quantile, cfg.regime_window),)
        if "trend" in g:
            W = cfg.trend_window
            y = rel_close(W)
            yc = y - jnp.mean(y)
            i = jnp.arange(W, dtype=F32) - 0.5 * (W - 1)
            cov = jnp.sum(i * yc)
            v["trend"] = (trend_correlation(cov, jnp.sum(yc * yc), W),)
        if "cross_timeframe" in g:
            n_vol = cfg.tf_vol_periods
            new["tf"] = {}
            tf = []
            for m in cfg.timeframes:
                momentum = pct(cfg.tf_momentum_periods * m)
                rm = jnp.where(t >= m, pct(m), 0.0).astype(F32)
                new["tf"][str(m)], s = _bsum_step(st["tf"][str(m)], jnp.stack([rm, rm * rm]),
                                                  t, n_vol, m)
                tf += [momentum, std_from_sums(s[0], s[1], n_vol)]
            v["cross_timeframe"] = tuple(tf)
        if "lags" in g:
            v["lags"] = tuple(f for lag in cfg.lags
                              for f in (_ring_get(new["ret"], t, lag),
                                        _ring_get(new["vref"], t, lag)))
        if "rolling_stats" in g:
            v["rolling_stats"] = tuple(f for w in cfg.stat_windows
                                       for f in moment_stats(*mom[w], w))
        if "rsi" in g:
            gl = jnp.stack([jnp.maximum(dc0, 0.0), jnp.maximum(-dc0, 0.0)])
            new["rsi_sums"], gls = _bsum_step(st["rsi_sums"], gl, t, cfg.rsi_window)
            v["rsi"] = (rsi_from_sums(gls[0], gls[1]),)
        if "macd" in g:
            new["macd"], macd, signal = _macd_step(st["macd"], present.astype(F32), dc0, cfg)
            v["macd"] = (macd, signal, macd - signal)
        if "bollinger" in g:
            W = cfg.bb_window
            y = rel_close(W)
            mean_rel = jnp.mean(y)
            yc = y - mean_rel
            band = cfg.bb_width * std_from_m2(jnp.sum(yc * yc), W)
            v["bollinger"] = bollinger_bands(ch, cl, mean_rel, band)  # dev = mean - close
        new["high_hi"] = _ring_set(st["high_hi"], t, x.high_hi)
        new["high_lo"] = _ring_set(st["high_lo"], t, x.high_lo)
        new["low_hi"] = _ring_set(st["low_hi"], t, x.low_hi)
        new["low_lo"] = _ring_set(st["low_lo"], t, x.low_lo)
        if "stochastic" in g:
            W = cfg.stoch_window
            lowest = jnp.min(price_diff(_ring_last(new["low_hi"], t, W), _ring_last(
                new["low_lo"], t, W), ch, cl))
            highest = jnp.max(price_diff(_ring_last(new["high_hi"], t, W), _ring_last(
                new["high_lo"], t, W), ch, cl))
            k = stochastic_k(0.0, lowest, highest)  # close relative to itself
            new["k"] = _ring_set(st["k"], t, k)
            d = jnp.sum(_ring_last(new["k"], t, cfg.stoch_smooth)) / cfg.stoch_smooth
            v["stochastic"] = (k, d)
        if "atr" in g:
            W = cfg.atr_window
            tr = true_range(x.high_hi, x.high_lo, x.low_hi, x.low_lo, p1h, p1l)
            tr = jnp.where(t > 0, tr, 0.0)
            new["atr_sum"], trs = _bsum_step(st["atr_sum"], tr[None], t, W)
            v["atr"] = (trs[0] / W,)

        def ok_for(lb):
            return (present & seen) if lb == EWM else streak >= lb + 1

        return new, stack_features(plan.feature_groups, v, ok_for, x.quote_ok)

    return step


def _macd_step(mc: dict, o, d, cfg: FeaturesConfig):
    """One bar of the MACD EWM recurrences (pandas ``adjust=True``): ``mc`` holds the fast/slow
    weight sums ``Df, Ds`` and weighted increment sums ``Ef, Es`` (``ema - close = E / D``) and
    the signal's ``Nsig / Dsig``; ``o``: 1.0 when the bar exists, ``d``: the close increment.
    Returns ``(mc, macd, signal)`` (scalars)."""
    bf = ewm_decay(cfg.macd_fast)
    bs = ewm_decay(cfg.macd_slow)
    bg = ewm_decay(cfg.macd_signal)
    Ef = bf * mc["Ef"] - bf * d * mc["Df"]
    Df = bf * mc["Df"] + o
    Es = bs * mc["Es"] - bs * d * mc["Ds"]
    Ds = bs * mc["Ds"] + o
    macd = safe_div(Ef, Df, 0.0) - safe_div(Es, Ds, 0.0)
    sn = (Df > 0).astype(F32)
    Nsig = bg * mc["Nsig"] + sn * macd
    Dsig = bg * mc["Dsig"] + sn
    signal = safe_div(Nsig, Dsig, 0.0)
    return {"Df": Df, "Ef": Ef, "Ds": Ds, "Es": Es, "Nsig": Nsig, "Dsig": Dsig}, macd, signal


def state_size(inc: dict) -> int:
    """Number of scalars in one symbol's incremental state."""
    return int(sum(np.size(a) for a in jax.tree.leaves(inc)))
