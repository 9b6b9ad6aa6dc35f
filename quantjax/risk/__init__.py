"""The risk engine: ``RiskParams``, ``RiskState``, ``init`` and the pure ``step``.

``step`` chains small rules (:mod:`quantjax.risk.rules`); each declares its parameters once
(:class:`~quantjax.risk.params.Param`), and every list of parameters derives from them.
"""

from quantjax.risk.chain import Rule
from quantjax.risk.engine import (
    CHAIN,
    DEFAULTS,
    PARAMS,
    RiskParams,
    make_params,
    step,
)
from quantjax.risk.params import Param
from quantjax.risk.rules.limits import reset_breaker
from quantjax.risk.state import (
    BREAKER,
    DAILY_LIMIT,
    END,
    IN_FLIGHT,
    NONE,
    REASONS,
    SIGNAL,
    STOP_LOSS,
    TAKE_PROFIT,
    TRAILING,
    ExecutionState,
    MarketStep,
    RiskState,
    StepRecord,
    execution_needed,
    init,
)

__all__ = [
    "BREAKER", "CHAIN", "DAILY_LIMIT", "DEFAULTS", "END", "IN_FLIGHT", "NONE", "PARAMS",
    "REASONS", "SIGNAL", "STOP_LOSS", "TAKE_PROFIT", "TRAILING", "ExecutionState", "MarketStep",
    "Param", "RiskParams", "RiskState", "Rule", "StepRecord", "execution_needed", "init", "make_params",
    "reset_breaker", "step",
]
