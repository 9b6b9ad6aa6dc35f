"""The risk engine: ``RiskParams``, ``RiskState``, ``init`` and the pure ``step``."""

from quantjax.risk.engine import (
    BREAKER,
    DAILY_LIMIT,
    DEFAULTS,
    END,
    NONE,
    REASONS,
    SIGNAL,
    STOP_LOSS,
    TAKE_PROFIT,
    TRAILING,
    MarketStep,
    RiskParams,
    RiskState,
    StepRecord,
    init,
    make_params,
    reset_breaker,
    step,
)

__all__ = [
    "BREAKER", "DAILY_LIMIT", "DEFAULTS", "END", "NONE", "REASONS", "SIGNAL", "STOP_LOSS",
    "TAKE_PROFIT", "TRAILING", "MarketStep", "RiskParams", "RiskState", "StepRecord", "init",
    "make_params", "reset_breaker", "step",
]
