"""The state-passing risk engine: ``init`` and one pure ``step`` per time step.

``step`` is written for one book (see :mod:`quantjax.risk.state`); its per-symbol arrays have
shape ``[]`` (one symbol) or ``[S]`` (several symbols sharing cash: the portfolio mode).
Independent per-symbol books are ``jax.vmap(step, in_axes=(None, 0, MarketStep(0,...,day=None), 0))``.

A step at bar t is the :data:`CHAIN` of rules (all of it uses data <= t only):

1. ``day_roll`` -- a new UTC day resets the daily-loss reference and lifts a daily halt;
2. ``carry`` -- the position held since the last step pays borrow cost and funding;
3. ``latency`` -- decisions in flight age; the newest arrived one reaches the market;
4. ``fill`` -- the arrived market order fills at the open / quotes (+ impact), sized within
   the limits;
5. ``limit`` -- the working limit order expires, queues or fills (partially) at its price;
6. ``stops`` -- stop-loss, take-profit and trailing stop on the position after the fills;
7. ``impact`` -- the causal volatility and volume estimates take this step's close;
8. ``mark`` -- mark to market at the close;
9. ``limits`` -- drawdown breaker and daily loss halt;
10. ``decide`` -- ``signal_t`` (or a halt) becomes the order for t+1;
11. ``send`` -- that order enters flight (it arrives after the latency).

Rules 2, 3, 5, 7 and 11 (the execution rules) only act on a book that tracks the execution
state (``RiskState.execution``, see :func:`~quantjax.risk.state.init`); without it, or with
latency 0, market orders and no impact or carry, results are bitwise those of rules 1, 4,
6, 8, 9 and 10 alone.

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
from quantjax.risk.rules.carry import CARRY
from quantjax.risk.rules.decide import DECIDE
from quantjax.risk.rules.fill import FILL
from quantjax.risk.rules.impact import ESTIMATE
from quantjax.risk.rules.latency import ARRIVE, SEND
from quantjax.risk.rules.limit import WORK
from quantjax.risk.rules.limits import DAY_ROLL, LIMITS
from quantjax.risk.rules.mark import MARK
from quantjax.risk.rules.stops import STOPS
from quantjax.risk.state import MarketStep, RiskState, StepRecord

#: The rules of one step, in order. A new rule is one more entry.
CHAIN = (DAY_ROLL, CARRY, ARRIVE, FILL, WORK, STOPS, ESTIMATE, MARK, LIMITS, DECIDE, SEND)

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
