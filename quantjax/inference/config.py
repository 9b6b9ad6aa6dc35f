"""Config of compiled inference, streaming and ``quantjax replay`` (``configs/inference.yaml``).

Sections: ``predictor`` (batch buckets, warm-up), ``stream`` (which model path the replay
uses), ``strategy`` (model outputs -> target positions, as the backtester's model strategy)
``monitor`` (the spec's ``PerformanceMonitor`` alert thresholds) and ``runtime`` (process-level
JAX settings of the serving loop).
"""

from __future__ import annotations

import dataclasses

from quantjax.config.base import spec
from quantjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class PredictorConfig:
    """Ahead-of-time compiled batch buckets of :class:`quantjax.inference.CompiledPredictor`."""

    buckets: tuple[int, ...] = spec((1, 8, 64, 512), ge=1,
                                    doc="batch sizes compiled at load; a request is padded "
                                        "to the next bucket (larger ones are split)")
    warmup: int = spec(3, ge=0, doc="warm-up calls per bucket at load time")
    tune: bool = spec(True, doc="time the variants of every bucket at load (rolled/unrolled "
                                "recurrences, XLA option sets) and keep the fastest on this "
                                "machine; false: the rolled function with the static options")
    tune_calls: int = spec(7, ge=3, doc="timed calls per variant when tuning (interleaved "
                                        "rounds, median)")

    def validate(self) -> None:
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)):
            raise ConfigError(f"predictor.buckets: need strictly increasing sizes, got "
                              f"{list(self.buckets)}")


@dataclasses.dataclass(frozen=True)
class StreamConfig:
    """Streaming model path used by the replay."""

    model: str = spec("window", choices=("window", "causal"),
                      doc="window: the exported full-window model on the last L feature rows "
                          "(exact batch predictions); causal: the O(1)-per-tick stateful "
                          "update (needs an artifact of a model trained with model.causal=true)")


@dataclasses.dataclass(frozen=True)
class ReplayStrategyConfig:
    """Model outputs -> target fraction of equity (:func:`quantjax.backtest.strategies.model_signal`)."""

    confidence: float = spec(0.7, ge=0, le=1, doc="min max-probability to trade (spec 0.7)")
    kelly_fraction: float = spec(0.5, ge=0, le=1, doc="fraction of the Kelly bet")
    vol_target: float = spec(0.01, gt=0, doc="per-bar volatility target")
    vol_halflife: float = spec(20.0, gt=0, doc="EWMA volatility half-life in bars (known at t-1)")
    min_position: float = spec(0.0, ge=0, le=1, doc="smallest non-zero |target|")
    max_position: float = spec(1.0, gt=0, le=1, doc="largest |target|")
    long_only: bool = spec(False, doc="clip short targets to 0")


@dataclasses.dataclass(frozen=True)
class MonitorConfig:
    """The spec's ``PerformanceMonitor`` thresholds; alerts are edge-triggered JSONL lines."""

    max_drawdown: float = spec(-0.05, lt=0, doc="CRITICAL (REDUCE_POSITIONS) below this drawdown")
    latency_p95_us: float = spec(20.0, gt=0, doc="WARNING when rolling p95 latency (us) is above "
                                                 "(spec: 20 us)")
    accuracy_below: float = spec(0.85, ge=0, le=1, doc="WARNING (RETRAIN_MODEL) when rolling "
                                                        "directional accuracy is below")
    sharpe_below: float = spec(1.0, doc="WARNING when the rolling annualized Sharpe is below")
    window: int = spec(500, ge=10, doc="rolling window (bars / predictions) of the monitor")
    min_samples: int = spec(50, ge=1, doc="no accuracy/Sharpe/latency alert before this many")
    periods_per_year: float = spec(0.0, ge=0, doc="Sharpe annualization; 0 = infer from bars")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig:
    """Process-level JAX settings of the serving command (:mod:`quantjax.platform`)."""

    cpu_async_dispatch: bool = spec(False, doc="JAX's CPU async dispatch: true queues every call "
                                               "to a worker thread (JAX's default, good for "
                                               "throughput); false runs it inline, which saves "
                                               "two thread hand-offs (37-60 us) per tick")


@dataclasses.dataclass(frozen=True)
class InferenceConfig:
    """Whole ``configs/inference.yaml``."""

    predictor: PredictorConfig = spec(default_factory=PredictorConfig)
    stream: StreamConfig = spec(default_factory=StreamConfig)
    strategy: ReplayStrategyConfig = spec(default_factory=ReplayStrategyConfig)
    monitor: MonitorConfig = spec(default_factory=MonitorConfig)
    runtime: RuntimeConfig = spec(default_factory=RuntimeConfig)
