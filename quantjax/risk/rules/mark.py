"""Mark: value the book at the close (a masked bar keeps the last valid close).

Owns ``last_price``; record: ``equity, cash, position, price``.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.state import equity


def mark(p, s, rec, m, signal):
    """Mark price ``P`` and book equity ``[]`` after the fills and exits of the bar."""
    last = jnp.where(m.valid, m.close, s.last_price)
    eq = equity(s.cash, s.position, last)
    rec = rec._replace(equity=eq, cash=s.cash, position=s.position, price=last)
    return s._replace(last_price=last), rec


MARK = Rule("mark", (), mark)
