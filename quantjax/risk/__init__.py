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
    NONE,
    REASONS,
    SIGNAL,
    STOP_LOSS,
    TAKE_PROFIT,
    TRAILING,
    MarketStep,
    RiskState,
    StepRecord,
    init,
)

__all__ = [
    "BREAKER", "CHAIN", "DAILY_LIMIT", "DEFAULTS", "END", "NONE", "PARAMS", "REASONS", "SIGNAL",
    "STOP_LOSS", "TAKE_PROFIT", "TRAILING", "MarketStep", "Param", "RiskParams", "RiskState",
    "Rule", "StepRecord", "init", "make_params", "reset_breaker", "step",
]
