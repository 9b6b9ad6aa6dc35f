"""Reference streaming features by recomputation: each bar re-runs the batch
:func:`quantjax.features.batch.compute_symbol` over a ``W``-bar buffer of raw inputs
(O(W F) per bar, ``W = max lookback + 1``; 3,000+ bars for the default config).

A reference, not library code: the baseline of ``scripts/bench_inference.py`` (which puts
``tests/`` on ``sys.path``) and available to the tests as ``support.stream_window``; the
streaming path is the O(1)-per-feature :mod:`quantjax.features.streaming`.
Same API as :class:`quantjax.features.streaming.StreamingFeatures` (``WindowStreamingFeatures``).
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.features.batch import compute_symbol, max_lookback
from quantjax.features.config import FeaturesConfig
from quantjax.features.prep import SymbolInputs
from quantjax.features.streaming import StreamFeaturesBase, Tick, prepare_bar


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
        last_hi, last_lo, new = prepare_bar(st.last_hi, st.last_lo, tk, has_quotes)
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


class WindowStreamingFeatures(StreamFeaturesBase):
    """Vmapped, jitted streaming features for ``n_symbols`` symbols.

    ``fields``: the market's field names (FIELDS order); ``scaler``: ``mean[F]``, ``std[F]``.
    """

    def __init__(self, cfg: FeaturesConfig, fields: tuple[str, ...], mean, std, seq_len: int):
        super().__init__(cfg, fields, mean, std, seq_len)
        self.window_len = buffer_length(cfg, self.has_quotes)
        self._step = _jitted_step(cfg, self.has_quotes)
        self._window = _jitted_window

    def init(self, n_symbols: int) -> FeatureState:
        one = init_state(len(self.names), self.seq_len, self.window_len)
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n_symbols, *a.shape)), one)

    def step(self, state: FeatureState, tick: Tick):
        """``(state, (rows[S, F], row_ok[S]))``."""
        return self._step(state, tick, self.mean, self.std)

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
