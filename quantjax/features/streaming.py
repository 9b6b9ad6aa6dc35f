"""Streaming features: per-symbol state updated one bar (tick) at a time in O(F), equal to the
batch features of :mod:`quantjax.features` at every step.

``state, (rows[S, F], row_ok[S]) = StreamingFeatures.step(state, tick)`` updates every symbol
in one compiled call: the per-symbol update of :mod:`quantjax.features.incremental`
(block-restarted running window sums, EWM recurrences, ring buffers read at fixed lags;
see there for the few O(W) passes over small fixed windows) is vmapped over symbols, with the
global bar index ``t`` shared by all symbols (every symbol is stepped at every bar; a symbol
without a tick is a missing bar).

:class:`FeatureState` holds

- ``inc``: the incremental feature state (dict pytree, leaves ``[S, ...]``);
- ``rows[S, L, F]``: ring of the last L standardized feature rows (slot ``t % L``),
  ``row_ok[S, L]``, ``run[S]`` (consecutive valid rows, saturating at L);
- ``t``: int32 bars consumed (shared);
- ``extra``: the extra columns' NaN-policy state (``last[S, E]`` value, ``seen[S, E]``), or
  None without extra columns.

Extra columns (``features.extra_columns``, :mod:`quantjax.features.extra`) travel in the tick
(``Tick.extra[E]``, NaN where absent) and are appended after the built-in features with the
same NaN policy as the batch path, one bar at a time (:func:`extra_step`).

The compiled step donates the state (updated in place): do not reuse a state after passing it
to :meth:`StreamingFeatures.step` / :meth:`StreamingFeatures.scan`.
The former O(W F) recomputation over a raw-bar buffer is kept outside the package, as
``tests/support/stream_window.py`` (benchmark baseline).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.data.market import FIELDS
from quantjax.features.batch import feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.features.incremental import Plan, init_inc, make_inc_step, state_size
from quantjax.features.prep import SymbolInputs, split_hi_lo, time_of_day

PRICE_FIELDS = ("close", "high", "low", "bid", "ask")


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
    extra: jax.Array | None = None  # [E] float32 extra columns (NaN where absent), or None


class FeatureState(NamedTuple):
    """Streaming feature state of S symbols (see module docstring)."""

    inc: dict
    rows: jax.Array  # [S, L, F] float32
    row_ok: jax.Array  # [S, L] bool
    run: jax.Array  # [S] int32
    t: jax.Array  # [] int32
    extra: dict | None = None  # {"last": [S, E] float32, "seen": [S, E] bool}


def extra_step(state: dict, x, present, policy: str):
    """One bar of the extra columns under the NaN ``policy`` (as
    :func:`quantjax.features.extra.extra_features`): ``(state, (values[..., E], valid[..., E]))``
    from ``x[..., E]`` (NaN where absent) and ``present[...]``."""
    present = jnp.asarray(present)[..., None]
    fin = jnp.isfinite(x)
    ok = present & fin
    last = jnp.where(ok, x, state["last"])
    seen = state["seen"] | ok
    if policy == "zero":
        val, valid = jnp.where(fin, x, 0.0), present & jnp.ones_like(fin)
    elif policy == "ffill":
        val, valid = last, present & seen
    else:  # error: the host refuses NaN first; a NaN that reaches here is an invalid row
        val, valid = x, ok
    val = jnp.where(valid, val, 0.0).astype(jnp.float32)
    return {"last": last, "seen": seen}, (val, valid)


def prepare_bar(last_hi, last_lo, tk: Tick, has_quotes: bool):
    """Causal forward-fill of one symbol's tick: ``(last_hi[5], last_lo[5], SymbolInputs of
    scalars)``, exactly as :func:`quantjax.features.prep.prepare`."""
    present = tk.present
    ok = present & jnp.isfinite(tk.hi) & jnp.isfinite(tk.lo)
    if not has_quotes:
        ok = ok.at[3:].set(False)
    last_hi = jnp.where(ok, tk.hi, last_hi)
    last_lo = jnp.where(ok, tk.lo, last_lo)

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
    x = SymbolInputs(present=present, quote_ok=quote_ok, close_hi=last_hi[0],
                     close_lo=last_lo[0], high_hi=last_hi[1], high_lo=last_lo[1],
                     low_hi=last_hi[2], low_lo=last_lo[2], volume=vol(tk.volume),
                     bid_hi=q[0], bid_lo=q[1], ask_hi=q[2], ask_lo=q[3], bid_volume=q[4],
                     ask_volume=q[5], sod=tk.sod.astype(jnp.int32),
                     subsec=tk.subsec.astype(jnp.float32))
    return last_hi, last_lo, x


def _prepare_bar(inc: dict, tk: Tick, has_quotes: bool):
    last_hi, last_lo, x = prepare_bar(inc["last_hi"], inc["last_lo"], tk, has_quotes)
    return {**inc, "last_hi": last_hi, "last_lo": last_lo}, x


def make_step(cfg: FeaturesConfig, has_quotes: bool, clip):
    """``step(state, tick, mean[F], std[F]) -> (state, (rows[S, F], row_ok[S]))`` for all
    symbols (pure, jittable; the scaler is an argument). With extra columns (``state.extra``
    not None) they are appended after the built-in features."""
    plan = Plan(cfg, has_quotes)
    inc_step = make_inc_step(plan)

    def one(inc, tk, t):
        inc, x = _prepare_bar(inc, tk, has_quotes)
        return inc_step(inc, x, t)

    vstep = jax.vmap(one, in_axes=(0, 0, None))

    def step(st: FeatureState, tk: Tick, mean, std, raw=False):
        inc, (values, valid) = vstep(st.inc, tk, st.t)
        ex = st.extra
        if ex is not None:
            ex, (ev, eok) = extra_step(ex, tk.extra, tk.present, cfg.extra_nan)
            values = jnp.concatenate([values, ev], axis=-1)
            valid = jnp.concatenate([valid, eok], axis=-1)
        row_ok = jnp.all(valid, axis=-1)
        z = (values - mean) / std
        if clip is not None:
            z = jnp.clip(z, -clip, clip)
        z = jnp.where(row_ok[:, None], z, 0.0).astype(jnp.float32)
        L = st.rows.shape[1]
        slot = st.t % L
        rows = jax.lax.dynamic_update_index_in_dim(st.rows, z[:, None], slot, 1)
        oks = jax.lax.dynamic_update_index_in_dim(st.row_ok, row_ok[:, None], slot, 1)
        run = jnp.where(row_ok, jnp.minimum(st.run + 1, L), 0).astype(jnp.int32)
        st = FeatureState(inc, rows, oks, run, st.t + 1, ex)
        return st, ((z, row_ok, values, valid) if raw else (z, row_ok))

    return step


def window(st: FeatureState) -> jax.Array:
    """The last L rows in time order, ``[S, L, F]``."""
    L = st.rows.shape[-2]
    idx = (st.t + jnp.arange(L)) % L
    return jnp.take(st.rows, idx, axis=-2)


@functools.lru_cache(maxsize=16)
def _jitted_step(cfg: FeaturesConfig, has_quotes: bool):
    return jax.jit(make_step(cfg, has_quotes, cfg.clip), donate_argnums=0)


_jitted_window = jax.jit(window)


@functools.lru_cache(maxsize=16)
def _jitted_scan(cfg: FeaturesConfig, has_quotes: bool):
    step = make_step(cfg, has_quotes, cfg.clip)

    def run(state, ticks, mean, std):
        def body(st, tk):
            st, (row, ok) = step(st, tk, mean, std)
            return st, (row, ok, st.run)

        return jax.lax.scan(body, state, ticks)

    return jax.jit(run, donate_argnums=0)


@functools.lru_cache(maxsize=16)
def _jitted_scan_raw(cfg: FeaturesConfig, has_quotes: bool):
    step = make_step(cfg, has_quotes, cfg.clip)

    def run(state, ticks, mean, std):
        def body(st, tk):
            return step(st, tk, mean, std, raw=True)

        return jax.lax.scan(body, state, ticks)

    return jax.jit(run, donate_argnums=0)


def stream_extra_names(cfg: FeaturesConfig, fields: tuple[str, ...]) -> tuple[str, ...]:
    """The extra columns a FeaturesConfig selects among a tick's ``fields`` (the market fields,
    then the extra columns); a selected column missing from ``fields`` is a ValueError."""
    if cfg.extra_columns == "all":
        return tuple(f for f in fields if f not in FIELDS)
    missing = [c for c in cfg.extra_columns if c not in fields]
    if missing:
        raise ValueError(f"the ticks have no extra column {missing[0]!r} (fields: "
                         f"{', '.join(fields)})")
    return tuple(cfg.extra_columns)


class StreamFeaturesBase:
    """What the streaming feature engines share: fields, feature names, the scaler, and
    host-side tick building. ``fields``: the market's field names (FIELDS order), then the
    extra columns the config selects (:func:`stream_extra_names`)."""

    def __init__(self, cfg: FeaturesConfig, fields: tuple[str, ...], mean, std, seq_len: int):
        self.cfg = cfg
        self.fields = tuple(fields)
        self.has_quotes = all(f in self.fields for f in ("bid", "ask", "bid_volume", "ask_volume"))
        self.extra_names = stream_extra_names(cfg, self.fields)
        self.names = feature_names(cfg, self.has_quotes) + self.extra_names
        if len(mean) != len(self.names):
            raise ValueError(f"scaler has {len(mean)} features, the feature config gives "
                             f"{len(self.names)}")
        self.seq_len = int(seq_len)
        self.mean = jnp.asarray(mean, jnp.float32)
        self.std = jnp.asarray(std, jnp.float32)

    def make_tick(self, values: np.ndarray, present: np.ndarray, timestamp: int) -> Tick:
        """Host: ``values[S, n_fields]`` float64 (NaN where absent), ``present[S]`` -> Tick."""
        values = np.asarray(values, np.float64)
        S = values.shape[0]
        nan = np.full(S, np.nan)

        def col(name):
            i = self.fields.index(name) if name in self.fields else None
            return nan if i is None else values[:, i]

        prices = np.stack([col(n) for n in PRICE_FIELDS], axis=1)
        hi, lo = split_hi_lo(prices)
        sod, subsec = time_of_day(np.asarray([timestamp], np.int64))
        extra = np.zeros((S, 0), np.float32)  # [S, E]: empty without extra columns
        if self.extra_names:
            extra = np.stack([col(n) for n in self.extra_names], axis=1).astype(np.float32)
        return Tick(present=np.asarray(present, bool), hi=hi, lo=lo,
                    volume=col("volume").astype(np.float32),
                    bid_volume=col("bid_volume").astype(np.float32),
                    ask_volume=col("ask_volume").astype(np.float32),
                    sod=np.full(S, sod[0], np.int32), subsec=np.full(S, subsec[0], np.float32),
                    extra=extra)

    def make_ticks(self, market) -> Tick:
        """Host: every bar of a MarketArrays as time-major ticks (leaves ``[T, S, ...]``);
        extra columns come as extra fields (:func:`with_extra_fields`)."""
        ticks = [self.make_tick(market.values[:, t, [market.fields.index(f) for f in self.fields]],
                                market.mask[:, t], market.timestamps[t])
                 for t in range(market.n_steps)]
        return jax.tree.map(lambda *xs: np.stack(xs), *ticks)


def with_extra_fields(market, extra):
    """A MarketArrays whose fields are followed by the extra columns ``extra``
    (:class:`~quantjax.data.extra_columns.ExtraColumns`), the layout streaming ticks and the
    replay read; ``extra`` None or empty: ``market`` itself."""
    if extra is None or not extra.names:
        return market
    return market._replace(values=np.concatenate([market.values, extra.values], axis=-1),
                           fields=tuple(market.fields) + tuple(extra.names))


class StreamingFeatures(StreamFeaturesBase):
    """Vmapped, jitted O(F) streaming features for ``n_symbols`` symbols.

    ``fields``: the market's field names (FIELDS order); ``scaler``: ``mean[F]``, ``std[F]``.
    """

    def __init__(self, cfg: FeaturesConfig, fields: tuple[str, ...], mean, std, seq_len: int):
        super().__init__(cfg, fields, mean, std, seq_len)
        self.plan = Plan(cfg, self.has_quotes)
        self._step = _jitted_step(cfg, self.has_quotes)
        self._window = _jitted_window

    @property
    def state_scalars(self) -> int:
        """Scalars of incremental state per symbol (ring buffers included)."""
        return state_size(init_inc(self.plan))

    def init(self, n_symbols: int) -> FeatureState:
        S, L, F = n_symbols, self.seq_len, len(self.names)
        inc = jax.tree.map(lambda a: jnp.array(jnp.broadcast_to(a, (S, *a.shape))),
                           init_inc(self.plan))
        E = len(self.extra_names)
        extra = ({"last": jnp.zeros((S, E), jnp.float32), "seen": jnp.zeros((S, E), bool)}
                 if E else None)
        return FeatureState(inc, jnp.zeros((S, L, F), jnp.float32), jnp.zeros((S, L), bool),
                            jnp.zeros(S, jnp.int32), jnp.zeros((), jnp.int32), extra)

    def step(self, state: FeatureState, tick: Tick):
        """``(state, (rows[S, F], row_ok[S]))``; ``state`` is donated (updated in place)."""
        return self._step(state, tick, self.mean, self.std)

    def scan(self, state: FeatureState, ticks: Tick):
        """Consume ``T`` bars in one compiled ``lax.scan`` (e.g. to warm up on history).
        Returns ``(state, (rows[T, S, F], row_ok[T, S], run[T, S]))``; identical to T calls
        of :meth:`step`. ``state`` is donated."""
        return _jitted_scan(self.cfg, self.has_quotes)(state, ticks, self.mean, self.std)

    def scan_raw(self, state: FeatureState, ticks: Tick):
        """Like :meth:`scan`, also with the raw (unstandardized) features and their per-feature
        validity as :func:`quantjax.features.market_features.compute_features`:
        ``(state, (rows[T, S, F], row_ok[T, S], values[T, S, F], valid[T, S, F]))``."""
        return _jitted_scan_raw(self.cfg, self.has_quotes)(state, ticks, self.mean, self.std)

    def window(self, state: FeatureState) -> jax.Array:
        return self._window(state)

    @staticmethod
    def ready(state: FeatureState) -> np.ndarray:
        """``[S]`` bool: the last L rows are all valid (a model window exists)."""
        return np.asarray(state.run) >= state.rows.shape[-2]
