"""Configuration of the synthetic credit generator (``quantjax data synth-credit``)."""

from __future__ import annotations

import dataclasses

from quantjax.config.base import spec
from quantjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class SynthCreditConfig:
    """Synthetic multi-modal loan applications with a known default model.

    ``seed`` draws the applications and labels; ``model_seed`` draws the known model
    (coefficients, category effects and frequencies), so two files with different
    ``seed`` and the same ``model_seed`` follow the same model (train on one, score the
    other).
    """

    rows: int = spec(10_000, ge=1, doc="number of applications")
    seed: int = spec(0, ge=0, doc="seed of the rows and labels")
    model_seed: int = spec(0, ge=0, doc="seed of the known model's parameters")
    n_numeric: int = spec(50, ge=2, le=1000, doc="number of numeric features")
    n_informative: int = spec(12, ge=1, doc="numeric features with a nonzero coefficient")
    numeric_correlation: float = spec(0.2, ge=0.0, lt=1.0, doc="one-factor correlation")
    cardinalities: tuple[int, ...] = spec(
        (10, 20, 15), ge=2, le=10_000, doc="number of values of each categorical feature"
    )
    vocab_size: int = spec(
        10_000, ge=100, le=10_000, doc="distinct words the text can contain (grammar + noise)"
    )
    text_len: int = spec(40, ge=16, le=512, doc="maximum words per description")
    series_len: int = spec(12, ge=3, le=120, doc="months of balance history")
    default_rate: float = spec(0.2, gt=0.0, lt=1.0, doc="target mean default probability")
    missing_fraction: float = spec(0.02, ge=0.0, lt=0.5, doc="missing numeric cells")
    missing_category_fraction: float = spec(0.02, ge=0.0, lt=0.5, doc="missing categories")
    series_missing_fraction: float = spec(0.01, ge=0.0, lt=0.5, doc="missing series cells")
    empty_text_fraction: float = spec(0.01, ge=0.0, lt=1.0, doc="empty descriptions")
    numeric_signal: float = spec(1.3, ge=0.0, doc="logit scale of the numeric part f")
    numeric_interaction: float = spec(0.3, ge=0.0, doc="weight of the z0*z1 interaction in f")
    categorical_signal: float = spec(0.6, ge=0.0, doc="logit scale of the categorical part g")
    text_signal: float = spec(0.7, ge=0.0, doc="logit scale of the text part h")
    series_signal: float = spec(0.7, ge=0.0, doc="logit scale of the series part k")

    def validate(self) -> None:
        if self.n_informative > self.n_numeric:
            raise ConfigError(
                f"n_informative: {self.n_informative} is larger than n_numeric={self.n_numeric}"
            )
        if not self.cardinalities:
            raise ConfigError("cardinalities: give at least one categorical feature")
