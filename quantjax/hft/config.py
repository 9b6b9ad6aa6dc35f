"""Configuration of an HFT model's training run (``configs/hft_lstm*.yaml``, ``hft_gru*.yaml``).

Sections: ``model`` (the model chosen by ``model.name`` and its architecture, a config dataclass
of :mod:`quantjax.models.registry`; default ``lstm_attention``, the spec's ``ModelConfig``),
``data`` (labels, splits, synthetic generator, feature settings), ``loss`` (multi-task loss) and
``train`` (:class:`quantjax.train.config.TrainConfig`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from quantjax.config import spec
from quantjax.errors import ConfigError
from quantjax.models.lstm_attention import LSTMAttentionConfig
from quantjax.models.registry import model_config_selector
from quantjax.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Synthetic market used by ``--synthetic``."""

    symbols: int = spec(8, ge=1, doc="number of synthetic symbols")
    steps: int = spec(4000, ge=100, doc="bars per symbol")
    seed: int = spec(0, doc="generator seed")


@dataclasses.dataclass(frozen=True)
class HFTDataConfig:
    """Labels, splits and features of the HFT dataset."""

    prediction_horizon: int = spec(5, ge=1, doc="label horizon h in bars")
    direction_threshold: float = spec(1e-4, ge=0, doc="|future return| at or below this is FLAT")
    split: tuple[float, ...] = spec((0.7, 0.15, 0.15), doc="chronological train/val/test fractions")
    synthetic: SyntheticConfig = spec(default_factory=SyntheticConfig)
    features: Any = spec(default_factory=dict, doc="FeaturesConfig mapping (see docs/features.md)")

    def validate(self) -> None:
        if len(self.split) != 3 or abs(sum(self.split) - 1.0) > 1e-6 or min(self.split) <= 0:
            raise ConfigError(f"data.split: expected 3 fractions > 0 summing to 1, got {list(self.split)}")
        if not isinstance(self.features, dict):
            raise ConfigError("data.features: expected a mapping")


@dataclasses.dataclass(frozen=True)
class HFTLossConfig:
    """Multi-task loss; the task weights are ``train.loss_weights`` (price, direction, vol)."""

    price: str = spec("huber", choices=("mse", "huber"), doc="price-return regression loss")
    huber_delta: float = spec(1.0, gt=0, doc="Huber delta, in units of the train return std")
    volatility: str = spec(
        "log_mse", choices=("log_mse", "mse", "gaussian_nll"),
        doc="log_mse: MSE on log-vol; mse: MSE on vol scaled by the train mean vol; "
        "gaussian_nll: NLL of the future one-bar returns under N(0, predicted vol^2)",
    )
    monitor: str = spec(
        "val_accuracy", choices=("val_accuracy", "val_macro_f1", "val_loss"),
        doc="validation metric for early stopping and best checkpoint",
    )


@dataclasses.dataclass(frozen=True)
class HFTConfig:
    """Whole HFT training config (``quantjax train hft``)."""

    model: Any = spec(default_factory=LSTMAttentionConfig, select=model_config_selector("hft"),
                      doc="the model, chosen by model.name (quantjax.models.registry)")
    data: HFTDataConfig = spec(default_factory=HFTDataConfig)
    loss: HFTLossConfig = spec(default_factory=HFTLossConfig)
    train: TrainConfig = spec(default_factory=TrainConfig)

    def validate(self) -> None:
        if len(self.train.loss_weights) != 3:
            raise ConfigError(
                f"train.loss_weights: expected 3 weights (price, direction, volatility), "
                f"got {len(self.train.loss_weights)}"
            )
        if self.train.class_weights is not None and len(self.train.class_weights) != 3:
            raise ConfigError(
                f"train.class_weights: expected 3 weights (down, flat, up), "
                f"got {len(self.train.class_weights)}"
            )
