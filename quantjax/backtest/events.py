"""Sparse fill events: the ``record="trades"`` level of the runner.

Dense per-step records (``record="full"``: 13 ``[T, S]`` arrays) cost more than the risk
engine itself on a CPU. Fills are rare (a few % of symbol-steps), so the ``"trades"`` level
keeps per step only ``equity`` and appends each *fill event* (a symbol-step with an order
fill, a stop exit and/or a carry charge) to a compact log inside the scan:

- ``step``, ``symbol``: int32; ``reasons``: int8 ``(order_reason, exit_reason)``;
- ``values``: engine float dtype ``(order_qty, order_price, order_fee, exit_qty, exit_price,
  exit_fee, carry, position, cash)``: ``position`` of the symbol and book ``cash`` after the
  step.

The append is a ``while`` loop over the step's events (zero iterations on most steps) with
``dynamic_update_slice`` writes, which keeps XLA's single-kernel CPU loop (a ``scatter``
would not). Everything else of a full record is derived exactly on host:
``price`` = last valid close (forward fill), ``position`` and ``cash`` = forward fill of the
event values (they only move on a fill: ``x + 0.0`` is exact), ``breaker`` = from the first step it is on (it is sticky), and the
order/exit fields are zero outside events. :class:`LazyRecords` rebuilds those dense arrays
on first access, bitwise identical to ``record="full"``.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from quantjax.risk import StepRecord

VALUE_FIELDS = ("order_qty", "order_price", "order_fee", "exit_qty", "exit_price", "exit_fee",
                "carry", "position", "cash")
REASON_FIELDS = ("order_reason", "exit_reason")
NEVER = np.iinfo(np.int32).max  # breaker_step of a book whose breaker never tripped


class EventLog(NamedTuple):
    """Device event buffers of ``capacity`` rows; rows ``[0, count)`` are valid.

    ``count`` may exceed the capacity: the log overflowed and must be re-run larger.
    """

    count: jax.Array  # int32 []
    step: jax.Array  # int32 [C]
    symbol: jax.Array  # int32 [C]
    values: jax.Array  # float [C, 9] (VALUE_FIELDS)
    reasons: jax.Array  # int8 [C, 2] (REASON_FIELDS)


class TradesRecord(NamedTuple):
    """What ``simulate(record="trades")`` returns besides the final state."""

    equity: jax.Array  # [T, S] independent, [T] portfolio
    events: EventLog
    breaker_step: jax.Array  # int32 [S] independent, [] portfolio: first step with breaker on


def default_capacity(n_steps: int, n_symbols: int) -> int:
    """Initial event capacity: 1/32 of the symbol-steps (at least 1024). A run that needs
    more is repeated once with the exact count (see :func:`quantjax.backtest.runner.run`)."""
    return max(1024, (int(n_steps) * int(n_symbols)) // 32)


def grow_capacity(count: int) -> int:
    """Capacity for a re-run after an overflow of ``count`` rows (rounded up to 1024)."""
    return -(-(int(count) + 1) // 1024) * 1024


def empty_log(capacity: int, dtype) -> EventLog:
    return EventLog(count=jnp.zeros((), jnp.int32), step=jnp.zeros((capacity,), jnp.int32),
                    symbol=jnp.zeros((capacity,), jnp.int32),
                    values=jnp.zeros((capacity, len(VALUE_FIELDS)), dtype),
                    reasons=jnp.zeros((capacity, len(REASON_FIELDS)), jnp.int8))


def is_event(rec: StepRecord):
    """Bool mask of the fill events of a record: an order fill, a stop exit or a carry charge."""
    return (rec.order_qty != 0) | (rec.exit_qty != 0) | (rec.carry != 0)


def append_events(log: EventLog, rec: StepRecord, t) -> EventLog:
    """Append the fill events of one step (``rec`` fields ``[S]``; ``cash`` ``[S]`` or ``[]``).

    An event is a symbol with ``order_qty``, ``exit_qty`` or ``carry`` non-zero (exactly
    where a full record has any non-zero order/exit/carry field). Rows are written in symbol
    order.
    """
    ev = is_event(rec)
    n_sym = ev.shape[0]
    iota = jnp.arange(n_sym, dtype=jnp.int32)
    n = jnp.sum(ev, dtype=jnp.int32)
    per_symbol = (rec.order_qty, rec.order_price, rec.order_fee, rec.exit_qty, rec.exit_price,
                  rec.exit_fee, rec.carry, rec.position)
    t = jnp.asarray(t, jnp.int32)

    def write(k, carry):
        prev, lg = carry
        idx = jnp.min(jnp.where(ev & (iota > prev), iota, n_sym), initial=n_sym)  # next event
        cash = rec.cash if rec.cash.ndim == 0 else rec.cash[idx]
        vals = jnp.stack([f[idx] for f in per_symbol] + [cash]).astype(lg.values.dtype)
        rs = jnp.stack([rec.order_reason[idx], rec.exit_reason[idx]]).astype(jnp.int8)
        row = (lg.count + k).astype(jnp.int32)
        zero = jnp.int32(0)
        lg = lg._replace(
            step=lax.dynamic_update_slice(lg.step, t[None], (row,)),
            symbol=lax.dynamic_update_slice(lg.symbol, idx.astype(jnp.int32)[None], (row,)),
            values=lax.dynamic_update_slice(lg.values, vals[None], (row, zero)),
            reasons=lax.dynamic_update_slice(lg.reasons, rs[None], (row, zero)),
        )
        return idx, lg

    _, log = lax.fori_loop(jnp.int32(0), n, write, (jnp.int32(-1), log))
    return log._replace(count=log.count + n)


def host_events(log: EventLog, step_offset: int = 0) -> dict[str, np.ndarray]:
    """Valid rows of a device log as host arrays (``step`` shifted by ``step_offset``)."""
    n = int(log.count)
    cap = int(log.step.shape[0])
    if n > cap:
        raise OverflowError(f"event log overflow: {n} events > capacity {cap}")
    vals = np.asarray(log.values[:n])
    reasons = np.asarray(log.reasons[:n])
    out = {"step": np.asarray(log.step[:n]).astype(np.int64) + step_offset,
           "symbol": np.asarray(log.symbol[:n])}
    out.update({k: vals[:, i] for i, k in enumerate(VALUE_FIELDS)})
    out.update({k: reasons[:, i] for i, k in enumerate(REASON_FIELDS)})
    return out


def concat_events(parts: list[dict[str, np.ndarray]], dtype) -> dict[str, np.ndarray]:
    if not parts:
        return {"step": np.zeros(0, np.int64), "symbol": np.zeros(0, np.int32),
                **{k: np.zeros(0, dtype) for k in VALUE_FIELDS},
                **{k: np.zeros(0, np.int8) for k in REASON_FIELDS}}
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _ffill(has: np.ndarray, values: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Along the last axis: ``values`` where ``has``, else the last such value, else ``first``."""
    T = has.shape[-1]
    idx = np.where(has, np.arange(T), -1)
    idx = np.maximum.accumulate(idx, axis=-1)
    got = np.take_along_axis(values, np.maximum(idx, 0), axis=-1)
    return np.where(idx >= 0, got, np.asarray(first)[..., None] if has.ndim == 2 else first)


def mark_prices(close_t: np.ndarray, valid_t: np.ndarray, last0: np.ndarray) -> np.ndarray:
    """``[S, T]`` mark price as the engine records it: the last valid close (``last0`` before
    the first valid bar). ``close_t``/``valid_t`` are time-major ``[T, S]``."""
    return _ffill(np.asarray(valid_t).T, np.asarray(close_t).T, np.asarray(last0))


class LazyRecords(Mapping):
    """Host records with the keys and arrays of ``record="full"`` (``[S, T]``; per-book
    fields ``[T]`` in portfolio mode), built from the equity and the event log.

    Derived arrays are computed on first access and cached.
    """

    def __init__(self, equity: np.ndarray, events: dict[str, np.ndarray], breaker_step,
                 close_t: np.ndarray, valid_t: np.ndarray, cash0, position0, last0, mode: str):
        self._base = {"equity": equity}
        self._position0 = position0
        self.events = events
        self.breaker_step = np.asarray(breaker_step)
        self._close_t, self._valid_t = close_t, valid_t
        self._cash0, self._last0 = cash0, last0
        self._mode = mode
        self._cache: dict[str, np.ndarray] = {}

    def __iter__(self) -> Iterator[str]:
        return iter(StepRecord._fields)

    def __len__(self) -> int:
        return len(StepRecord._fields)

    def __getitem__(self, key: str) -> np.ndarray:
        if key in self._base:
            return self._base[key]
        if key not in StepRecord._fields:
            raise KeyError(key)
        if key not in self._cache:
            self._cache[key] = self._build(key)
        return self._cache[key]

    def _build(self, key: str) -> np.ndarray:
        T, S = self._close_t.shape
        ev = self.events
        dt = self._base["equity"].dtype
        if key == "position":
            has = np.zeros((S, T), bool)
            vals = np.zeros((S, T), dt)
            has[ev["symbol"], ev["step"]] = True
            vals[ev["symbol"], ev["step"]] = ev["position"]
            return _ffill(has, vals, np.asarray(self._position0, dt)).astype(dt, copy=False)
        if key == "price":
            return mark_prices(self._close_t, self._valid_t, self._last0).astype(dt, copy=False)
        if key == "breaker":
            t = np.arange(T)
            return t >= self.breaker_step[..., None] if self.breaker_step.ndim else \
                t >= self.breaker_step
        if key == "cash":
            if self._mode == "independent":
                has = np.zeros((S, T), bool)
                vals = np.zeros((S, T), dt)
                has[ev["symbol"], ev["step"]] = True
                vals[ev["symbol"], ev["step"]] = ev["cash"]
                return _ffill(has, vals, np.asarray(self._cash0, dt)).astype(dt, copy=False)
            has = np.zeros(T, bool)
            vals = np.zeros(T, dt)
            has[ev["step"]] = True
            vals[ev["step"]] = ev["cash"]
            return _ffill(has, vals, np.asarray(self._cash0, dt)).astype(dt, copy=False)
        is_reason = key in REASON_FIELDS
        out = np.zeros((S, T), np.int32 if is_reason else dt)
        out[ev["symbol"], ev["step"]] = ev[key]
        return out


@jax.jit
def _event_count(rec: StepRecord):
    return jnp.sum(is_event(rec).astype(jnp.int32))


@functools.partial(jax.jit, static_argnames=("size",))
def _compact(rec: StepRecord, size: int):
    t, s = jnp.nonzero(is_event(rec), size=size, fill_value=0)
    cash = rec.cash[t] if rec.cash.ndim == 1 else rec.cash[t, s]
    vals = [getattr(rec, k)[t, s] for k in VALUE_FIELDS[:-1]] + [cash]
    reasons = [getattr(rec, k)[t, s].astype(jnp.int8) for k in REASON_FIELDS]
    brk = rec.breaker
    first = jnp.where(jnp.any(brk, axis=0), jnp.argmax(brk, axis=0).astype(jnp.int32), NEVER)
    return t.astype(jnp.int32), s.astype(jnp.int32), vals, reasons, first


def events_from_full(rec: StepRecord, step_offset: int = 0):
    """Event log and breaker steps of time-major dense records (``[T, S]``; ``cash`` and
    ``breaker`` ``[T, S]`` or ``[T]``), compacted on the records' device, in the order
    :func:`append_events` writes (by step, then symbol). Returns ``(events, breaker_step)``."""
    n = int(_event_count(rec))
    t, s, vals, reasons, first = jax.device_get(_compact(rec, grow_capacity(n)))
    out = {"step": t[:n].astype(np.int64) + step_offset, "symbol": s[:n]}
    out.update({k: v[:n] for k, v in zip(VALUE_FIELDS, vals, strict=True)})
    out.update({k: v[:n] for k, v in zip(REASON_FIELDS, reasons, strict=True)})
    first = np.asarray(first).astype(np.int64)
    return out, np.where(first == NEVER, NEVER, first + step_offset)
