"""Decide: the order for t+1.

A finite ``signal_t`` (target fraction of equity in [-1, 1]) on a valid bar becomes the
pending order; NaN means "no new decision". A tripped breaker or daily halt overrides it:
flatten (reason ``breaker`` / ``daily_limit``), or no order when already flat.

Owns ``pending, pending_reason``.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.state import BREAKER, DAILY_LIMIT, SIGNAL


def decide(p, s, rec, m, signal):
    """Pending target ``P`` and its reason code from ``signal`` and the halts."""
    dt = s.cash.dtype
    sig = jnp.asarray(signal, dt)
    take = m.valid & jnp.isfinite(sig)
    halted = s.breaker | s.halted_day
    pending = jnp.where(take, sig, s.pending)
    p_reason = jnp.where(take, SIGNAL, s.pending_reason)
    flat = jnp.where(s.position != 0, jnp.zeros((), dt), jnp.nan).astype(dt)
    pending = jnp.where(halted, flat, pending)
    p_reason = jnp.where(halted, jnp.where(s.breaker, BREAKER, DAILY_LIMIT), p_reason)
    return s._replace(pending=pending, pending_reason=p_reason.astype(jnp.int32)), rec


DECIDE = Rule("decide", (), decide)
