"""Streaming features: per-symbol state updated one bar (tick) at a time, equal to the batch
features of :mod:`quantjax.features` at every step.

``state, (row, row_ok) = step(state, tick)`` is written for one symbol and vmapped over
symbols (:class:`StreamingFeatures`). The state holds

- ``buf``: the last ``W`` prepared input bars (:class:`quantjax.features.prep.SymbolInputs`
  leaves ``[W]``), ``W = max feature lookback + 1`` (at least the EWM memory of the MACD
  spans, where ``beta**W < 1e-9``);
- ``last_hi/last_lo``: the causal forward-fill of close, high, low, bid, ask (as float32
  hi/lo pairs, exactly as :func:`quantjax.features.prep.prepare`);
- ``rows[L, F]``: a ring buffer of the last L standardized feature rows, ``row_ok[L]``,
  ``pos`` (next slot) and ``run`` (consecutive valid rows, saturating at L).

The newest feature row is computed by the SAME :func:`quantjax.features.compute.compute_symbol`
as the batch path, over the ``W``-bar buffer, so every formula, fallback and validity rule is
shared. The cost per bar is O(W F) (a bounded window, independent of the stream length);
a fully incremental O(F) update per feature is future work (see docs/inference.md).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.config.features import FeaturesConfig
from quantjax.features.compute import compute_symbol, feature_names, max_lookback
from quantjax.features.prep import SymbolInputs, split_hi_lo, time_of_day

PRICE_FIELDS = ("close", "high", "low", "bid", "ask")
_NS_PER_DAY = 86_400 * 1_000_000_000


class Tick(NamedTuple):
    """One bar of one symbol (vmapped: leading ``[S]``). Prices as float32 hi/lo pairs."""

    present: jax.Array  # bool: the symbol has an accepted tick at this bar
    hi: jax.Array  # [5] close, high, low, bid, ask (NaN where absent)
    lo: jax.Array  # [5]
    volume: jax.Array
    bid_volume: jax.Array
    ask_volume: jax.Array
    sod: jax.Array  # int32 seconds since 00:00 UTC
    subsec: jax.Array  # float32


class FeatureState(NamedTuple):
    """Per-symbol streaming feature state (see module docstring)."""

    buf: SymbolInputs
    last_hi: jax.Array  # [5]
    last_lo: jax.Array  # [5]
    rows: jax.Array  # [L, F] float32
    row_ok: jax.Array  # [L] bool
    pos: jax.Array  # int32
    run: jax.Array  # int32
    count: jax.Array  # int32 bars seen


def buffer_length(cfg: FeaturesConfig, has_quotes: bool) -> int:
    """Bars kept in the raw input buffer."""
    w = max_lookback(cfg, has_quotes) + 1
    if "macd" in cfg.groups:
        span = max(cfg.macd_fast, cfg.macd_slow, cfg.macd_signal)
        beta = 1.0 - 2.0 / (span + 1.0)
        w = max(w, 2 * math.ceil(math.log(1e-9) / math.log(beta)))
    return int(w)


def init_state(n_features: int, seq_len: int, window: int) -> FeatureState:
    """State of one symbol before any bar."""
    W = window
    zf, zb, zi = jnp.zeros(W, jnp.float32), jnp.zeros(W, bool), jnp.zeros(W, jnp.int32)
    one = jnp.ones(W, jnp.float32)
    buf = SymbolInputs(present=zb, quote_ok=zb, close_hi=one, close_lo=zf, high_hi=one,
                       high_lo=zf, low_hi=one, low_lo=zf, volume=zf, bid_hi=zf, bid_lo=zf,
                       ask_hi=zf, ask_lo=zf, bid_volume=zf, ask_volume=zf, sod=zi, subsec=zf)
    return FeatureState(
        buf=buf, last_hi=jnp.ones(5, jnp.float32), last_lo=jnp.zeros(5, jnp.float32),
        rows=jnp.zeros((seq_len, n_features), jnp.float32), row_ok=jnp.zeros(seq_len, bool),
        pos=jnp.zeros((), jnp.int32), run=jnp.zeros((), jnp.int32),
        count=jnp.zeros((), jnp.int32))


def make_step(cfg: FeaturesConfig, has_quotes: bool, clip):
    """``step(state, tick, mean[F], std[F]) -> (state, (row[F], row_ok))`` for one symbol
    (pure, jittable; the scaler is an argument)."""

    def step(st: FeatureState, tk: Tick, mean, std):
        present = tk.present
        ok = present & jnp.isfinite(tk.hi) & jnp.isfinite(tk.lo)
        if not has_quotes:
            ok = ok.at[3:].set(False)
        last_hi = jnp.where(ok, tk.hi, st.last_hi)
        last_lo = jnp.where(ok, tk.lo, st.last_lo)

        def vol(v):
            return jnp.where(present & jnp.isfinite(v), v, 0.0).astype(jnp.float32)

        if has_quotes:
            quote_ok = (present & jnp.isfinite(tk.hi[3]) & jnp.isfinite(tk.hi[4])
                        & jnp.isfinite(tk.bid_volume) & jnp.isfinite(tk.ask_volume))
            q = (last_hi[3], last_lo[3], last_hi[4], last_lo[4], vol(tk.bid_volume),
                 vol(tk.ask_volume))
        else:
            quote_ok = jnp.zeros((), bool)
            z = jnp.zeros((), jnp.float32)
            q = (z, z, z, z, z, z)
        new = SymbolInputs(present=present, quote_ok=quote_ok, close_hi=last_hi[0],
                           close_lo=last_lo[0], high_hi=last_hi[1], high_lo=last_lo[1],
                           low_hi=last_hi[2], low_lo=last_lo[2], volume=vol(tk.volume),
                           bid_hi=q[0], bid_lo=q[1], ask_hi=q[2], ask_lo=q[3], bid_volume=q[4],
                           ask_volume=q[5], sod=tk.sod.astype(jnp.int32),
                           subsec=tk.subsec.astype(jnp.float32))
        buf = jax.tree.map(lambda b, r: jnp.concatenate([b[1:], r[None].astype(b.dtype)]),
                           st.buf, new)
        values, valid = compute_symbol(buf, cfg, has_quotes)
        row_ok = jnp.all(valid[-1])
        z = (values[-1] - mean) / std
        if clip is not None:
            z = jnp.clip(z, -clip, clip)
        z = jnp.where(row_ok, z, 0.0).astype(jnp.float32)
        L = st.rows.shape[0]
        rows = st.rows.at[st.pos].set(z)
        oks = st.row_ok.at[st.pos].set(row_ok)
        run = jnp.where(row_ok, jnp.minimum(st.run + 1, L), 0)
        st = FeatureState(buf, last_hi, last_lo, rows, oks, (st.pos + 1) % L, run.astype(jnp.int32),
                          st.count + 1)
        return st, (z, row_ok)

    return step


def window(st: FeatureState) -> jax.Array:
    """The last L rows in time order, ``[..., L, F]`` (vmapped states: ``[S, L, F]``)."""
    L = st.rows.shape[-2]
    idx = (st.pos[..., None] + jnp.arange(L)) % L
    return jnp.take_along_axis(st.rows, idx[..., None], axis=-2)


@functools.lru_cache(maxsize=16)
def _jitted_step(cfg: FeaturesConfig, has_quotes: bool):
    return jax.jit(jax.vmap(make_step(cfg, has_quotes, cfg.clip), in_axes=(0, 0, None, None)))


_jitted_window = jax.jit(window)


@functools.lru_cache(maxsize=16)
def _jitted_scan(cfg: FeaturesConfig, has_quotes: bool):
    step = jax.vmap(make_step(cfg, has_quotes, cfg.clip), in_axes=(0, 0, None, None))

    def run(state, ticks, mean, std):
        def body(st, tk):
            st, (row, ok) = step(st, tk, mean, std)
            return st, (row, ok, st.run)

        return jax.lax.scan(body, state, ticks)

    return jax.jit(run)


class StreamingFeatures:
    """Vmapped, jitted streaming features for ``n_symbols`` symbols.

    ``fields``: the market's field names (FIELDS order); ``scaler``: ``mean[F]``, ``std[F]``.
    """

    def __init__(self, cfg: FeaturesConfig, fields: tuple[str, ...], mean, std, seq_len: int):
        self.cfg = cfg
        self.fields = tuple(fields)
        self.has_quotes = all(f in self.fields for f in ("bid", "ask", "bid_volume", "ask_volume"))
        self.names = feature_names(cfg, self.has_quotes)
        if len(mean) != len(self.names):
            raise ValueError(f"scaler has {len(mean)} features, the feature config gives "
                             f"{len(self.names)}")
        self.window_len = buffer_length(cfg, self.has_quotes)
        self.seq_len = int(seq_len)
        self.mean = jnp.asarray(mean, jnp.float32)
        self.std = jnp.asarray(std, jnp.float32)
        self._step = _jitted_step(cfg, self.has_quotes)
        self._window = _jitted_window

    def init(self, n_symbols: int) -> FeatureState:
        one = init_state(len(self.names), self.seq_len, self.window_len)
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n_symbols, *a.shape)), one)

    def make_tick(self, values: np.ndarray, present: np.ndarray, timestamp: int) -> Tick:
        """Host: ``values[S, n_fields]`` float64 (NaN where absent), ``present[S]`` -> Tick."""
        values = np.asarray(values, np.float64)
        S = values.shape[0]

        def col(name):
            if name in self.fields:
                return values[:, self.fields.index(name)]
            return np.full(S, np.nan)

        prices = np.stack([col(n) for n in PRICE_FIELDS], axis=1)
        hi, lo = split_hi_lo(prices)
        sod, subsec = time_of_day(np.asarray([timestamp], np.int64))
        return Tick(present=np.asarray(present, bool), hi=hi, lo=lo,
                    volume=col("volume").astype(np.float32),
                    bid_volume=col("bid_volume").astype(np.float32),
                    ask_volume=col("ask_volume").astype(np.float32),
                    sod=np.full(S, sod[0], np.int32), subsec=np.full(S, subsec[0], np.float32))

    def step(self, state: FeatureState, tick: Tick):
        """``(state, (rows[S, F], row_ok[S]))``."""
        return self._step(state, tick, self.mean, self.std)

    def make_ticks(self, market) -> Tick:
        """Host: every bar of a MarketArrays as time-major ticks (leaves ``[T, S, ...]``)."""
        ticks = [self.make_tick(market.values[:, t, [market.fields.index(f) for f in self.fields]],
                                market.mask[:, t], market.timestamps[t])
                 for t in range(market.n_steps)]
        return jax.tree.map(lambda *xs: np.stack(xs), *ticks)

    def scan(self, state: FeatureState, ticks: Tick):
        """Consume ``T`` bars in one compiled ``lax.scan`` (e.g. to warm up on history).
        Returns ``(state, (rows[T, S, F], row_ok[T, S], run[T, S]))``; identical to T calls
        of :meth:`step`."""
        return _jitted_scan(self.cfg, self.has_quotes)(state, ticks, self.mean, self.std)

    def window(self, state: FeatureState) -> jax.Array:
        return self._window(state)

    @staticmethod
    def ready(state: FeatureState) -> np.ndarray:
        """``[S]`` bool: the last L rows are all valid (a model window exists)."""
        return np.asarray(state.run) >= state.rows.shape[-2]
