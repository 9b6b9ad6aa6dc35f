"""Per-symbol isolated streaming state for the service's ``/v1/hft/ticks``.

Unlike the replay (one bar = the ticks of every symbol at one timestamp, all symbols stepped
together), each symbol here has its OWN stream: its own bar counter, ring slots, feature state,
model state and last timestamp, and a tick of one symbol steps that symbol only. One tick is
one bar of its symbol (O(F) streaming features, :mod:`quantjax.features.streaming`, then the
model): with a causal artifact the O(1) packed causal update
(:mod:`quantjax.inference.causal`) in the same executable; otherwise the exported window model
on the symbol's last L feature rows (compiled predictor).

Layout: the states of all ``capacity`` symbols (plus one scratch slot for padding) are stacked
on a leading axis; a request of k ticks runs ONE compiled call of a symbol bucket >= k that
gathers the k states, steps them (the one-symbol step vmapped, so every symbol has its own bar
index) and scatters them back into the donated store (updated in place).

Tick policy (as the replay's): a tick whose timestamp is not after its symbol's last accepted
tick (out of order, or a duplicate), an unknown symbol, or a second tick of one symbol in a
request is refused before anything runs (:meth:`SymbolStreams.check`), so the states stay
untouched.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.config import from_dict
from quantjax.data.market import FIELDS, REQUIRED_FIELDS
from quantjax.errors import UserError
from quantjax.features.batch import feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.features.prep import split_hi_lo, time_of_day
from quantjax.features.streaming import PRICE_FIELDS, StreamingFeatures, Tick, make_step, window
from quantjax.inference.causal import CausalStream, PackedState, make_packed_step

NO_TICK = np.iinfo(np.int64).min


class TickBatch(NamedTuple):
    """k ticks: ``slots`` [k] int, ``timestamps`` [k] int64 ns, ``values`` [k, n_fields]
    float64 (NaN: a missing optional quote field)."""

    slots: np.ndarray
    timestamps: np.ndarray
    values: np.ndarray


class StreamOutputs(NamedTuple):
    """Per tick: ``ready`` [k] (the symbol's last L feature rows are valid), model outputs in
    real units (NaN where not ready): ``direction_probs`` [k, 3], ``price`` [k],
    ``volatility`` [k]; ``bars`` [k]: the symbol's bars so far."""

    ready: np.ndarray
    direction_probs: np.ndarray
    price: np.ndarray
    volatility: np.ndarray
    bars: np.ndarray


def _stack(tree, n: int):
    return jax.tree.map(lambda a: jnp.array(jnp.broadcast_to(a, (n, *a.shape))), tree)


def stream_mode(artifact) -> str:
    """``causal`` when the artifact's model has the O(1) causal update, else ``window``."""
    model = artifact.config.get("model") or {}
    causal = model.get("causal", False) and model.get("name", "lstm_attention") == "lstm_attention"
    return "causal" if causal else "window"


class SymbolStreams:
    """Isolated streams of up to ``capacity`` symbols for one HFT artifact.

    ``symbols``: the universe (a tick of another symbol is refused); ``None``: any symbol,
    registered at its first tick while fewer than ``capacity`` are known. ``buckets``: the
    tick counts compiled (a request is padded to the next one). ``predictor``: the window
    model's compiled predictor (``window`` mode only; built from the artifact if None).
    """

    def __init__(self, artifact, symbols=None, capacity: int = 128,
                 buckets: tuple[int, ...] = (1, 8, 32), predictor=None, warmup: int = 2):
        if artifact.task != "hft":
            raise UserError(f"{artifact.path}: ticks need an HFT artifact, got {artifact.task!r}")
        conf, extra = artifact.config, artifact.extra
        fcfg = from_dict(FeaturesConfig, (conf.get("data") or {}).get("features") or {},
                         prefix="data.features.")
        names = tuple(extra.get("feature_names") or ())
        quotes = not names or names == feature_names(fcfg, True)
        self.fields = FIELDS if quotes else REQUIRED_FIELDS
        self.seq_len = int(conf["model"]["sequence_length"])
        self.features = StreamingFeatures(fcfg, self.fields, extra["scaler_mean"],
                                          extra["scaler_std"], self.seq_len)
        self.mode = stream_mode(artifact)
        self.fixed = symbols is not None
        self.symbols: list[str] = list(symbols or [])
        if self.fixed:
            if len(set(self.symbols)) != len(self.symbols):
                raise UserError("stream symbols: a symbol is listed twice")
            capacity = len(self.symbols)
        if capacity < 1:
            raise UserError("stream: need at least one symbol")
        self.capacity = int(capacity)
        self.slot = {s: i for i, s in enumerate(self.symbols)}
        self.buckets = tuple(sorted({min(int(b), self.capacity) for b in buckets}
                                    | {self.capacity}))
        n = self.capacity + 1  # + the scratch slot padded ticks write to
        self.scratch = self.capacity
        self.last_ts = np.full(n, NO_TICK, np.int64)
        self.bars = np.zeros(n, np.int64)
        fstate = _stack(self.features.init(1), n)
        fstep = make_step(fcfg, self.features.has_quotes, fcfg.clip)
        L = self.seq_len
        if self.mode == "causal":
            self.causal = CausalStream(artifact.params, conf["model"], extra)
            self.packed = self.causal.packed
            cstep = make_packed_step(self.causal.heads, float(extra.get("price_scale", 1.0)),
                                     float(extra.get("vol_scale", 1.0)))
            self.state = (fstate, _stack(self.causal.init(1), n))

            def one(fst, mst: PackedState, tick, P, mean, std):
                fst, (rows, _) = fstep(fst, tick, mean, std)
                mst, out = cstep(P, mst, rows, fst.run <= 1)
                return (fst, mst), (out[0], fst.run[0] >= L)
        else:
            self.packed = ()
            self.predictor = predictor or artifact.predictor(self.buckets, warmup)
            self.state = (fstate, ())

            def one(fst, mst, tick, P, mean, std):
                fst, _ = fstep(fst, tick, mean, std)
                return (fst, mst), (window(fst)[0], fst.run[0] >= L)

        def step(state, idx, ticks, P, mean, std):
            part = jax.tree.map(lambda a: a[idx], state)
            part, out = jax.vmap(one, in_axes=(0, 0, 0, None, None, None))(
                *part, ticks, P, mean, std)
            return jax.tree.map(lambda a, b: a.at[idx].set(b), state, part), out

        jitted = jax.jit(step, donate_argnums=0)
        self._compiled = {}
        for b in self.buckets:
            args = (self.state, np.full(b, self.scratch, np.int32), self._ticks(
                np.zeros(b, np.int64), np.ones((b, len(self.fields))), np.zeros(b, bool)),
                self.packed, self.features.mean, self.features.std)
            self._compiled[b] = jitted.lower(*args).compile()
            for _ in range(warmup):
                self.state, out = self._compiled[b](self.state, *args[1:])
                jax.block_until_ready(out)

    # ------------------------------------------------------------------ host side
    def _ticks(self, timestamps, values, present) -> Tick:
        """Tick leaves ``[k, 1, ...]`` (k one-symbol ticks) from host arrays."""
        k = len(timestamps)
        values = np.asarray(values, np.float64)
        nan = np.full(k, np.nan)

        def col(name):
            return values[:, self.fields.index(name)] if name in self.fields else nan

        hi, lo = split_hi_lo(np.stack([col(n) for n in PRICE_FIELDS], axis=1))
        sod, subsec = time_of_day(np.asarray(timestamps, np.int64))
        t = Tick(np.asarray(present, bool), hi, lo, col("volume").astype(np.float32),
                 col("bid_volume").astype(np.float32), col("ask_volume").astype(np.float32),
                 sod.astype(np.int32), subsec.astype(np.float32))
        return jax.tree.map(lambda a: a[:, None], t)

    def check(self, symbols: list[str], timestamps: np.ndarray) -> list[int]:
        """The slots of a request's ticks, or a UserError naming the first bad tick (unknown
        symbol, symbol full, second tick of a symbol, out-of-order or duplicate timestamp).
        Registers nothing: a refused request leaves every state untouched."""
        seen: dict[str, int] = {}
        slots, new = [], 0
        for i, (s, ts) in enumerate(zip(symbols, timestamps, strict=True)):
            if s in seen:
                raise UserError(f"ticks[{i}].symbol: second tick of {s!r} in this request "
                                f"(ticks[{seen[s]}]); send one tick per symbol")
            seen[s] = i
            slot = self.slot.get(s)
            if slot is None:
                if self.fixed:
                    raise UserError(f"ticks[{i}].symbol: unknown symbol {s!r} (streamed: "
                                    f"{', '.join(self.symbols[:10])}"
                                    f"{' ...' if len(self.symbols) > 10 else ''})")
                if len(self.symbols) + new >= self.capacity:
                    raise UserError(f"ticks[{i}].symbol: unknown symbol {s!r} and the service "
                                    f"already streams its capacity of {self.capacity} symbols")
                new += 1
                slots.append(-1)
                continue
            last = self.last_ts[slot]
            if last != NO_TICK and int(ts) <= last:
                what = "duplicate" if int(ts) == last else "out-of-order"
                raise UserError(f"ticks[{i}].timestamp: {what} tick for {s!r}: not after its "
                                f"last accepted tick ({np.datetime64(int(last), 'ns')}Z)")
            slots.append(slot)
        return slots

    def register(self, symbols, slots) -> list[int]:
        """Slots of accepted ticks, registering new symbols (after :meth:`check`)."""
        out = []
        for s, slot in zip(symbols, slots, strict=True):
            if slot < 0:
                slot = len(self.symbols)
                self.symbols.append(s)
                self.slot[s] = slot
            out.append(slot)
        return out

    def step(self, symbols: list[str], timestamps, values) -> StreamOutputs:
        """Check, then apply k ticks (``values`` [k, n_fields] in :attr:`fields` order)."""
        timestamps = np.asarray(timestamps, np.int64)
        slots = self.register(symbols, self.check(symbols, timestamps))
        return self.apply(TickBatch(np.asarray(slots, np.int32), timestamps,
                                    np.asarray(values, np.float64)))

    def apply(self, batch: TickBatch) -> StreamOutputs:
        k = len(batch.slots)
        out = []
        top = self.buckets[-1]
        for a in range(0, k, top):
            out.append(self._apply_chunk(TickBatch(*(x[a:a + top] for x in batch))))
        return StreamOutputs(*(np.concatenate(parts) for parts in zip(*out, strict=True)))

    def _apply_chunk(self, batch: TickBatch) -> StreamOutputs:
        k = len(batch.slots)
        b = next(x for x in self.buckets if x >= k)
        pad = b - k
        idx = np.concatenate([batch.slots, np.full(pad, self.scratch, np.int32)])
        ts = np.concatenate([batch.timestamps, np.zeros(pad, np.int64)])
        vals = np.concatenate([batch.values, np.ones((pad, len(self.fields)))])
        present = np.arange(b) < k
        self.state, (res, ready) = self._compiled[b](
            self.state, idx, self._ticks(ts, vals, present), self.packed, self.features.mean,
            self.features.std)
        ready = np.asarray(ready)[:k]
        self.last_ts[batch.slots] = batch.timestamps
        self.bars[batch.slots] += 1
        probs = np.full((k, 3), np.nan, np.float32)
        price = np.full(k, np.nan, np.float32)
        vol = np.full(k, np.nan, np.float32)
        if self.mode == "causal":
            res = np.asarray(res)[:k]
            probs[ready], price[ready], vol[ready] = res[ready, :3], res[ready, 3], res[ready, 4]
        elif ready.any():
            sel = np.flatnonzero(ready)
            o = self.predictor.predict({"x": np.asarray(res)[sel]})
            probs[sel], price[sel], vol[sel] = o["direction_probs"], o["price"], o["volatility"]
        return StreamOutputs(ready, probs, price, vol, self.bars[batch.slots].copy())

    def describe(self) -> dict:
        return {"mode": self.mode, "fields": list(self.fields), "seq_len": self.seq_len,
                "capacity": self.capacity, "fixed_symbols": self.fixed,
                "symbols": len(self.symbols), "buckets": list(self.buckets)}
