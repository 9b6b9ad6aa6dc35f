"""The state-passing risk engine: ``init`` and one pure ``step`` per time step.

``step`` is written for one book (see :mod:`quantjax.risk.state`); its per-symbol arrays have
shape ``[]`` (one symbol) or ``[S]`` (several symbols sharing cash: the portfolio mode).
Independent per-symbol books are ``jax.vmap(step, in_axes=(None, 0, MarketStep(0,...,day=None), 0))``.

A step at bar t is the :data:`CHAIN` of rules (all of it uses data <= t only):

1. ``day_roll`` -- a new UTC day resets the daily-loss reference and lifts a daily halt;
2. ``fill`` -- the order decided at t-1 fills at the open / quotes, sized within the limits;
3. ``stops`` -- stop-loss, take-profit and trailing stop on the position after the fill;
4. ``mark`` -- mark to market at the close;
5. ``limits`` -- drawdown breaker and daily loss halt;
6. ``decide`` -- ``signal_t`` (or a halt) becomes the pending order for t+1.

Every parameter is declared once, by the book (``initial_cash``) or by its rule;
:class:`RiskParams`, :data:`DEFAULTS`, :func:`make_params` and the ``risk`` config section
derive from :data:`PARAMS`.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from quantjax.risk import state as book
from quantjax.risk.chain import apply_chain, declared
from quantjax.risk.params import traced_params
from quantjax.risk.rules.decide import DECIDE
from quantjax.risk.rules.fill import FILL
from quantjax.risk.rules.limits import DAY_ROLL, LIMITS
from quantjax.risk.rules.mark import MARK
from quantjax.risk.rules.stops import STOPS
from quantjax.risk.state import MarketStep, RiskState, StepRecord

#: The rules of one step, in order. A new rule is one more entry.
CHAIN = (DAY_ROLL, FILL, STOPS, MARK, LIMITS, DECIDE)

#: Every declared parameter: the book's, then each rule's in chain order.
PARAMS = book.PARAMS + declared(CHAIN)

#: Default value of every parameter (the spec's HFTTradingSystem: stop-loss 2%, take-profit
#: 1%; its PerformanceMonitor: max drawdown -5% -> breaker).
DEFAULTS = {d.name: d.default for d in PARAMS}

RiskParams = NamedTuple("RiskParams", [(d.name, jax.Array) for d in PARAMS])
RiskParams.__doc__ = """Every field is a traced scalar (vmappable, sweepable): one per declared
parameter (:data:`PARAMS`), defaults in :data:`DEFAULTS`."""


def make_params(dtype=jnp.float32, **overrides) -> RiskParams:
    """RiskParams from :data:`DEFAULTS` updated by ``overrides`` (unknown keys raise)."""
    return traced_params(RiskParams, DEFAULTS, dtype, "risk", overrides)


def step(params: RiskParams, state: RiskState, m: MarketStep, signal) -> tuple[RiskState, StepRecord]:
    """Advance one book by one bar through :data:`CHAIN`. Returns ``(new_state, StepRecord)``."""
    return apply_chain(CHAIN, params, state, m, signal)
