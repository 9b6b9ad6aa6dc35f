"""Declared risk parameters: one :class:`Param` per parameter, written once, in its rule.

Every view of the parameters derives from these declarations: the traced
:class:`~quantjax.risk.RiskParams` NamedTuple and ``make_params`` (engine), the strict
``risk`` config section (``quantjax.backtest.config.RiskConfig``, through
:meth:`Param.field`) and the "Risk parameters" table of ``docs/backtest.md`` (checked
against the declarations by ``tests/risk/test_rules.py``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax.numpy as jnp

from quantjax.config.base import spec


class Param(NamedTuple):
    """One float parameter: ``name``, ``default``, one-line ``doc`` and optional bounds.

    The bounds (``ge``/``gt``/``le``/``lt``) are checked when a config is loaded; the engine
    itself takes any traced value.
    """

    name: str
    default: float
    doc: str
    ge: float | None = None
    gt: float | None = None
    le: float | None = None
    lt: float | None = None

    def field(self) -> Any:
        """The strict config field of this parameter (:func:`quantjax.config.base.spec`)."""
        return spec(float(self.default), ge=self.ge, gt=self.gt, le=self.le, lt=self.lt,
                    doc=self.doc)


def traced_params(cls, defaults: dict, dtype, what: str, overrides: dict):
    """NamedTuple ``cls`` of scalar arrays from ``defaults`` updated by ``overrides``.

    Every field becomes a traced-able ``jnp`` scalar of ``dtype``; unknown keys raise.
    """
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise TypeError(f"unknown {what} parameter {sorted(unknown)[0]!r}")
    vals = {**defaults, **overrides}
    return cls(**{k: jnp.asarray(vals[k], dtype) for k in cls._fields})
