"""Rules and their chain (in the spirit of ``optax.chain``).

A :class:`Rule` is a name, the parameters it declares and one pure function::

    apply(params, state, record, market, signal) -> (state, record)

``params`` is the flat :class:`~quantjax.risk.RiskParams` (every declared parameter, traced
scalars), ``state`` a :class:`~quantjax.risk.RiskState`, ``record`` the
:class:`~quantjax.risk.StepRecord` of the bar being built (fields not yet written are
``None``), ``market`` the bar (:class:`~quantjax.risk.MarketStep`) and ``signal`` the target
decided at its close (``[]`` or ``[S]``, NaN = no decision). A rule reads what the rules
before it wrote and writes the state fields and record fields it owns.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from quantjax.risk.params import Param
from quantjax.risk.state import StepRecord


class Rule(NamedTuple):
    """One link of the chain: ``name``, declared ``params`` and the pure ``apply``."""

    name: str
    params: tuple[Param, ...]
    apply: Callable


def declared(chain: tuple[Rule, ...]) -> tuple[Param, ...]:
    """Every parameter declared by the rules of ``chain``, in chain order."""
    return tuple(d for rule in chain for d in rule.params)


def apply_chain(chain: tuple[Rule, ...], params, state, market, signal):
    """Run the rules of ``chain`` in order on one bar. Returns ``(state, StepRecord)``."""
    record = StepRecord(*(None,) * len(StepRecord._fields))
    for rule in chain:
        state, record = rule.apply(params, state, record, market, signal)
    return state, record
