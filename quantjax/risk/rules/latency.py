"""Latency: decisions travel to the market before they can fill.

A decision taken at the close of step t (``decide``) is *sent*: it enters the book's
in-flight slots (:data:`~quantjax.risk.state.IN_FLIGHT` per symbol, newest first) with age 0.
At the start of every later step the ages grow by one step (bars) or by the microseconds
since the previous step (tick steps, ``market.elapsed_us``). A decision *arrives* at the
first valid step where its age reaches the latency: ``1 + latency`` steps on bars (latency 0
is the next bar, as without this rule), ``latency`` milliseconds on tick steps. Nothing
fills before it arrives, and the fill uses the prices of the arrival step: what the market
did in between moves the fill.

Of the decisions that arrive together the newest wins (a target replaces older targets).
An arriving market order (every order when ``limit_orders`` is 0; breaker and daily-limit
flattening orders always) becomes ``pending`` and fills in this step (``fill``); an arriving
signal order with ``limit_orders`` on becomes the working limit order
(:mod:`~quantjax.risk.rules.limit`). Either replaces the working order.

Halts act at once: under a breaker or daily halt the signal orders in flight are cancelled
and one flattening order is sent (not again while it is in flight); a stop exit or a halt
cancels the working limit order.

Owns ``execution.flight_*`` and the counters ``n_sent, n_dropped``; consumes ``pending`` at
the end of the step (``send``) and sets it on arrival (``arrive``).
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param
from quantjax.risk.rules import limit
from quantjax.risk.state import AGE_MAX, SIGNAL

PARAMS = (
    Param("latency", 0.0, "order latency: extra bars on bar data, milliseconds on tick data "
          "(decision at t reaches the market at t + latency)", ge=0),
)


def clock_increment(m):
    """Age added per step: 1 on bars, the step's microseconds on tick steps (int32)."""
    if m.elapsed_us is None:
        return jnp.int32(1)
    return jnp.clip(jnp.asarray(m.elapsed_us, jnp.int32), 0, AGE_MAX)


def older(age, inc):
    """``age + inc`` saturating at :data:`AGE_MAX` (int32, never overflows)."""
    return jnp.minimum(jnp.minimum(age, AGE_MAX) + inc, AGE_MAX).astype(jnp.int32)


def reached(age, amount, m, dt):
    """Whether ``age`` reaches ``amount`` (bars) or ``amount`` milliseconds (tick steps)."""
    if m.elapsed_us is None:
        return age.astype(dt) >= amount
    return age.astype(dt) >= amount * 1000.0


def arrive(p, s, rec, m, signal):
    """Age the in-flight decisions and hand the newest arrived one to the market."""
    ex = s.execution
    if ex is None:
        return s, rec
    dt = s.cash.dtype
    inc = clock_increment(m)
    age = older(ex.flight_age, inc)
    busy = ~jnp.isnan(ex.flight_target)
    arrived = busy & reached(age, 1.0 + p.latency if m.elapsed_us is None else p.latency, m, dt)
    arrived = arrived & jnp.asarray(m.valid)[..., None]
    got = jnp.any(arrived, axis=-1)
    newest = jnp.argmax(arrived, axis=-1)[..., None]
    target = jnp.take_along_axis(ex.flight_target, newest, axis=-1)[..., 0]
    reason = jnp.take_along_axis(ex.flight_reason, newest, axis=-1)[..., 0]
    as_limit = got & (p.limit_orders > 0.5) & (reason == SIGNAL)
    as_market = got & ~as_limit
    ex = ex._replace(flight_target=jnp.where(arrived, jnp.nan, ex.flight_target).astype(dt),
                     flight_age=age, work_age=older(ex.work_age, inc),
                     work_qty=jnp.where(got, 0.0, ex.work_qty).astype(dt))
    s = s._replace(pending=jnp.where(as_market, target, s.pending).astype(dt),
                   pending_reason=jnp.where(as_market, reason, s.pending_reason)
                   .astype(jnp.int32), execution=ex)
    return limit.place(p, s, m, as_limit, target, reason), rec


def send(p, s, rec, m, signal):
    """Move the decision of this step (``pending``, from ``decide``) into flight."""
    ex = s.execution
    if ex is None:
        return s, rec
    dt = s.cash.dtype
    halted = s.breaker | s.halted_day
    take = m.valid & jnp.isfinite(jnp.asarray(signal, dt))
    is_signal = ex.flight_reason == SIGNAL
    flight = jnp.where(halted & is_signal, jnp.nan, ex.flight_target)
    flattening = jnp.any(~jnp.isnan(flight) & ~is_signal, axis=-1)
    push = jnp.where(halted, ~jnp.isnan(s.pending) & ~flattening, take)
    dropped = push & ~jnp.isnan(flight[..., -1])

    def shift(slots, new):
        moved = jnp.concatenate([jnp.broadcast_to(new, slots.shape[:-1])[..., None],
                                 slots[..., :-1]], axis=-1)
        return jnp.where(push[..., None], moved, slots).astype(slots.dtype)

    cancel = (rec.exit_qty != 0) | halted
    ex = ex._replace(
        flight_target=shift(flight, s.pending), flight_reason=shift(ex.flight_reason,
                                                                    s.pending_reason),
        flight_age=shift(ex.flight_age, jnp.int32(0)),
        work_qty=jnp.where(cancel, 0.0, ex.work_qty).astype(dt),
        n_sent=ex.n_sent + push.astype(jnp.int32),
        n_dropped=ex.n_dropped + dropped.astype(jnp.int32))
    return s._replace(pending=jnp.full(s.pending.shape, jnp.nan, dt), execution=ex), rec


ARRIVE = Rule("latency", PARAMS, arrive)
SEND = Rule("send", (), send)
