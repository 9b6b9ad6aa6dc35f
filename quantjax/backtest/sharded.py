"""Independent books sharded over symbols across every device of the run (all processes of a
``jax.distributed`` run), with time chunks from a memory budget.

A 1-D mesh ``("symbol",)`` over ``jax.devices()``; the ``[T, S]`` market and signals are
global arrays split along the symbols (``NamedSharding(mesh, P(None, "symbol"))``, each
process placing its own shards), padded to a multiple of the device count by repeating the
last symbol. ``jax.shard_map`` runs the one-device engine (:func:`runner.simulate`) on every
device's books: independent books never interact, so each book's results are bitwise those
of a one-device run. At the ``trades`` level each device keeps its own event log; the logs
are merged on the host in the one-device order (by step, then symbol). The ``total`` level
runs at ``equity`` and sums the books on the host in float32 (equal to the one-device total
to rounding, not bitwise).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from quantjax import distributed
from quantjax.backtest import events as fills
from quantjax.backtest.runner import (
    BacktestResult,
    HostTrades,
    check_signals,
    init_state,
    market_series,
    simulate,
    trades_records,
)
from quantjax.data.market import MarketArrays
from quantjax.platform import is_cpu
from quantjax.risk import MarketStep, RiskParams

AXIS = "symbol"


def symbol_mesh() -> Mesh:
    """``("symbol",)`` mesh of every device of the run."""
    return Mesh(np.asarray(jax.devices()), (AXIS,))


def _pad_symbols(x: np.ndarray, axis: int, size: int) -> np.ndarray:
    n = x.shape[axis]
    if n == size:
        return x
    idx = np.concatenate([np.arange(n), np.full(size - n, n - 1)])
    return np.take(x, idx, axis=axis)


def _series_layout(series: MarketStep) -> tuple[int | None, ...]:
    """Rank of every market field (None: absent): ``[T, S]`` fields are split over the
    symbols, ``[T]`` ones (``day``, ``elapsed``) replicated."""
    return tuple(None if x is None else int(np.ndim(x)) for x in series)


def _series_specs(layout: tuple[int | None, ...]) -> MarketStep:
    return MarketStep(*(None if r is None else P(None, AXIS) if r == 2 else P()
                        for r in layout))


def _program(mesh: Mesh, series: MarketStep, level: str, capacity: int):
    """``f(params, state, series, signals) -> (state, records)`` over the mesh; one jitted
    program per mesh, market field layout, level and capacity for the process (a new function
    object would be traced and compiled again at every backtest)."""
    return _cached_program(mesh, _series_layout(series), level, capacity)


@functools.lru_cache(maxsize=64)
def _cached_program(mesh: Mesh, layout: tuple[int | None, ...], level: str, capacity: int):
    def local(params, state, ser, sig):
        final, rec = simulate(params, state, ser, sig, mode="independent", record=level,
                              capacity=capacity)
        if level == "trades":  # one event log per device, stacked on a leading axis
            log = jax.tree.map(lambda a: a[None], rec.events)
            rec = rec._replace(events=log)
        return final, rec

    book = P(AXIS)
    if level == "trades":
        rec_spec = fills.TradesRecord(P(None, AXIS), fills.EventLog(*([P(AXIS)] * 5)), book)
    else:
        rec_spec = P(None, AXIS)
    fn = jax.shard_map(local, mesh=mesh, in_specs=(P(), book, _series_specs(layout),
                                                   P(None, AXIS)),
                       out_specs=(book, rec_spec), check_vma=False)
    return jax.jit(fn)


def _to_global(tree: Any, mesh: Mesh, spec_fn) -> Any:
    return jax.tree.map(lambda a: distributed.global_array(a, NamedSharding(mesh, spec_fn(a))),
                        tree)


def _gathered(x: Any) -> Any:
    """Host copy of a global array (or a pytree of them, in one collective call) on every
    process."""
    if jax.process_count() > 1:
        return jax.tree.map(np.asarray, multihost_utils.process_allgather(x, tiled=True))
    return jax.tree.map(np.asarray, x)


def _device_position(mesh: Mesh) -> dict[int, int]:
    return {d.id: i for i, d in enumerate(mesh.devices.flat)}


def _local_events(log: fills.EventLog, pos: dict[int, int], per_device: int,
                  offset: int) -> list[dict]:
    """Events of this process's devices (symbols global, steps shifted by ``offset``)."""
    out = []
    for shard in log.count.addressable_shards:
        d = pos[shard.device.id]
        part = jax.tree.map(lambda a, dev=shard.device: _shard_of(a, dev)[0], log)
        ev = fills.host_events(part, offset)
        ev["symbol"] = (ev["symbol"] + d * per_device).astype(np.int32)
        out.append(ev)
    return out


def _shard_of(a: jax.Array, device) -> jax.Array:
    return next(s.data for s in a.addressable_shards if s.device == device)


def _dense_events(rec, pos: dict[int, int], per_device: int, offset: int) -> tuple[list, dict]:
    """Events and breaker steps of dense records, compacted on each local device."""
    evs, trips = [], {}
    for shard in rec.equity.addressable_shards:
        d = pos[shard.device.id]
        local = jax.tree.map(lambda a, dev=shard.device: _shard_of(a, dev), rec)
        ev, trip = fills.events_from_full(local, offset)
        ev["symbol"] = (ev["symbol"] + d * per_device).astype(np.int32)
        evs.append(ev)
        trips[d] = trip
    return evs, trips


def _merge_events(parts: list[dict], n_symbols: int, dtype) -> dict:
    ev = fills.concat_events(parts, dtype)
    keep = ev["symbol"] < n_symbols  # padding books
    ev = {k: v[keep] for k, v in ev.items()}
    order = np.lexsort((ev["symbol"], ev["step"]))  # one-device order: by step, then symbol
    return {k: v[order] for k, v in ev.items()}


def run_sharded(params: RiskParams, market: MarketArrays, signals: np.ndarray, *,
                record: str = "trades", chunk_steps: int = 0) -> BacktestResult:
    """Backtest independent books sharded over the symbols of every device of the run, in
    time chunks of ``chunk_steps`` (0: one shot). Every process passes the same market and
    signals and gets the whole result."""
    sig = check_signals(signals, market)
    dtype = np.dtype(params.initial_cash.dtype)
    mesh = symbol_mesh()
    n_dev = mesh.devices.size
    S, T = market.n_symbols, market.n_steps
    S_pad = math.ceil(S / n_dev) * n_dev
    per_device = S_pad // n_dev
    series = market_series(market, dtype)
    series_p = series._replace(**{f: _pad_symbols(getattr(series, f), 1, S_pad)
                                  for f in series._fields if getattr(series, f) is not None
                                  and np.ndim(getattr(series, f)) == 2})  # [T, S] fields only
    sig_t = _pad_symbols(np.ascontiguousarray(sig.T, dtype=dtype), 1, S_pad)
    level = "equity" if record == "total" else record
    dense = level == "trades" and not is_cpu()
    prog_level = "full" if dense else level
    chunk = chunk_steps if 0 < chunk_steps < T else T
    state0 = init_state(params, S_pad, "independent")
    state = _to_global(jax.device_get(state0), mesh, lambda a: P(AXIS))
    params_g = _to_global(jax.device_get(params), mesh, lambda a: P())
    pos = _device_position(mesh)
    programs: dict[tuple[int, int], Any] = {}
    equity, events, trips, full = [], [], [], []
    for a in range(0, T, chunk):
        b = min(a + chunk, T)
        ser = jax.tree.map(lambda x, a=a, b=b: x[a:b], series_p)
        ser_g = _to_global(ser, mesh, lambda x: P(None, AXIS) if np.ndim(x) == 2 else P())
        sig_g = distributed.global_array(sig_t[a:b], NamedSharding(mesh, P(None, AXIS)))
        cap = fills.default_capacity(b - a, per_device) if prog_level == "trades" else 0
        while True:
            key = (b - a, cap)
            if key not in programs:
                programs[key] = _program(mesh, ser, prog_level, cap)
            final, rec = programs[key](params_g, state, ser_g, sig_g)
            if prog_level != "trades":
                break
            eq, counts, trip = _gathered((rec.equity, rec.events.count, rec.breaker_step))
            if counts.max() <= cap:
                break
            cap = fills.grow_capacity(int(counts.max()))  # every process sees the same counts
        state = final
        if prog_level == "trades":
            equity.append(eq)
            events += _local_events(rec.events, pos, per_device, a)
            trip = trip.astype(np.int64)
            trips.append(np.where(trip == fills.NEVER, fills.NEVER, trip + a))
        elif dense:
            equity.append(_gathered(rec.equity))
            evs, trip = _dense_events(rec, pos, per_device, a)
            events += evs
            trips.append(trip)
        elif level == "full":
            full.append(_gathered(rec))
        else:
            equity.append(_gathered(rec))
    final_host = jax.tree.map(lambda x: x[:S], _gathered(state))
    records = _records(record, level, dense, equity, events, trips, full, S, S_pad, per_device,
                       series, init_state(params, S, "independent"), dtype)
    return BacktestResult(records, final_host, market.symbols, market.timestamps, "independent",
                          float(params.initial_cash), record)


def _records(record, level, dense, equity, events, trips, full, S, S_pad, per_device, series,
             state0, dtype):
    if level == "full":
        recs = jax.tree.map(lambda *xs: np.concatenate(xs, axis=0)[:, :S], *full)
        return {k: np.asarray(v).T for k, v in recs._asdict().items()}
    eq = np.concatenate(equity, axis=0)[:, :S]
    if level == "equity":
        if record == "total":
            return {"equity": eq.sum(axis=1, dtype=np.float32)}
        return {"equity": eq.T}
    parts = [p for part in distributed.allgather_objects(events) for p in part]
    ev = _merge_events(parts, S, dtype)
    trip = np.full(S_pad, fills.NEVER, np.int64)
    for t in trips:
        if dense:  # {device position: [per_device] breaker steps} of this process's devices
            t = _dense_trips(t, per_device, S_pad)
        trip = np.where(trip == fills.NEVER, t, trip)
    trip = trip[:S]
    return trades_records(HostTrades(eq, ev, trip), series, state0, "independent")


def _dense_trips(local: dict, per_device: int, S_pad: int) -> np.ndarray:
    full = np.full(S_pad, fills.NEVER, np.int64)
    for part in distributed.allgather_objects(local):
        for d, t in part.items():
            full[d * per_device:(d + 1) * per_device] = t
    return full
