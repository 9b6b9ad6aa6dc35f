"""Carry: the cost of holding a position, charged at every step for the time since the last.

At the start of a step the position held since the previous step pays, for ``elapsed``
seconds (``market.elapsed``, a 365-day year):

- ``borrow_rate`` x the value of a short position (borrowed units, annual rate);
- ``funding_rate`` x the signed position value (a perpetual's funding, annual rate: longs
  pay and shorts receive when it is positive, the reverse when negative).

Values are marked at the last valid close. A perpetual's usual 0.01% per 8 hours is
``funding_rate: 0.1095``. Series without ``elapsed`` (hand-built steps) charge nothing.

Writes ``cash``, ``execution.carry_paid``; record: ``carry``.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param

PARAMS = (
    Param("borrow_rate", 0.0, "annual borrow cost on the value of short positions; 0 off",
          ge=0),
    Param("funding_rate", 0.0, "annual funding rate on the signed position value (longs pay "
          "when > 0); 0 off"),
)
SECONDS_PER_YEAR = 365 * 86_400


def carry(p, s, rec, m, signal):
    """Charge the carry ``P`` of the held position for ``m.elapsed`` (shapes as the book)."""
    dt = s.cash.dtype
    zero = jnp.zeros(s.position.shape, dt)
    ex = s.execution
    if ex is None or m.elapsed is None:
        return s, rec._replace(carry=zero)
    pos, px = s.position, s.last_price
    held = (pos != 0) & jnp.isfinite(px)
    years = jnp.asarray(m.elapsed, dt) / SECONDS_PER_YEAR
    rate_units = p.borrow_rate * jnp.maximum(-pos, 0.0) + p.funding_rate * pos
    cost = jnp.where(held & ((p.borrow_rate != 0) | (p.funding_rate != 0)),
                     rate_units * jnp.where(held, px, 0.0) * years, zero)
    s = s._replace(cash=s.cash - jnp.sum(cost),
                   execution=ex._replace(carry_paid=ex.carry_paid + cost))
    return s, rec._replace(carry=cost)


CARRY = Rule("carry", PARAMS, carry)
