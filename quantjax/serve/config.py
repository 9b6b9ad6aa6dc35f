"""Config of ``quantjax serve`` (``configs/serve.yaml``, ``--set section.key=value``)."""

from __future__ import annotations

import dataclasses

from quantjax.config.base import spec
from quantjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class BatchingConfig:
    """Dynamic micro-batching of ``/v1/credit/score`` and ``/v1/hft/predict``."""

    max_wait_ms: float = spec(2.0, ge=0, doc="longest wait for more requests after the first "
                                             "one of a batch arrived")
    max_batch_rows: int = spec(64, ge=1, doc="rows coalesced into one compiled call at most "
                                             "(a bigger request runs alone, in chunks)")
    max_queue_rows: int = spec(4096, ge=1, doc="rows waiting at most; a request that does not "
                                               "fit gets 429 (bounded memory under any load)")


@dataclasses.dataclass(frozen=True)
class ServePredictorConfig:
    """Compiled buckets of the served models (:class:`quantjax.inference.predictor.
    CompiledPredictor`, batch-invariant: an answer never depends on its batch)."""

    buckets: tuple[int, ...] = spec((1, 8, 16, 32, 64), ge=1,
                                    doc="batch sizes compiled at start")
    warmup: int = spec(2, ge=0, doc="warm-up calls per bucket")
    tune: bool = spec(True, doc="time the variants of every bucket at warm-up, keep the "
                                "fastest (recorded in /v1/models)")
    tune_calls: int = spec(7, ge=3, doc="timed calls per variant")

    def validate(self) -> None:
        if not self.buckets or list(self.buckets) != sorted(set(self.buckets)):
            raise ConfigError(f"predictor.buckets: need strictly increasing sizes, got "
                              f"{list(self.buckets)}")


@dataclasses.dataclass(frozen=True)
class StreamServeConfig:
    """Per-symbol streaming state of ``/v1/hft/ticks``."""

    symbols: tuple[str, ...] = spec((), doc="symbols streamed (a tick of another one gets 422); "
                                            "empty: any symbol, up to capacity")
    capacity: int = spec(128, ge=1, doc="symbols held at most when symbols is empty")
    buckets: tuple[int, ...] = spec((1, 8, 32), ge=1, doc="ticks per compiled call (a request "
                                                         "is padded to the next one)")


@dataclasses.dataclass(frozen=True)
class LimitsConfig:
    max_body_bytes: int = spec(1_048_576, ge=1024, doc="larger request bodies get 413")
    max_rows: int = spec(1024, ge=1, doc="applications / windows / ticks per request at most")


@dataclasses.dataclass(frozen=True)
class ServeConfig:
    """Whole ``configs/serve.yaml``."""

    batching: BatchingConfig = spec(default_factory=BatchingConfig)
    predictor: ServePredictorConfig = spec(default_factory=ServePredictorConfig)
    stream: StreamServeConfig = spec(default_factory=StreamServeConfig)
    limits: LimitsConfig = spec(default_factory=LimitsConfig)
    graceful_timeout_s: float = spec(30.0, gt=0, doc="SIGTERM: longest wait for in-flight "
                                                     "requests before exiting")
