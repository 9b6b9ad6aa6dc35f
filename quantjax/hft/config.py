"""Configuration of an HFT model's training run (``configs/hft_lstm*.yaml``, ``hft_gru*.yaml``).

Sections: ``model`` (the model chosen by ``model.name`` and its architecture, a config dataclass
of :mod:`quantjax.models.registry`; default ``lstm_attention``, the spec's ``ModelConfig``),
``data`` (labels, splits, synthetic generator, feature settings), ``loss`` (multi-task loss),
``train`` (:class:`quantjax.train.config.TrainConfig`), ``evaluation`` (intervals, the
same-rows oracle, the linear baseline, IC settings) and ``walk_forward`` (``quantjax train hft
--walk-forward``).
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
class HFTEvaluationConfig:
    """How a trained model is scored (``metrics.json`` keys in docs/training.md)."""

    bootstrap_resamples: int = spec(1000, ge=10, doc="block-bootstrap resamples of every interval")
    bootstrap_seed: int = spec(0, doc="seed of the block bootstrap")
    oracle_paths: int = spec(
        1000, ge=10, doc="synthetic data: simulated futures per evaluated row of the same-rows "
                         "oracle (test.bayes_accuracy)")
    linear_baseline: bool = spec(True, doc="train the linear baseline on the last step's features")
    linear_l2: tuple[float, ...] = spec(
        (1e-4, 1e-3, 1e-2, 1e-1, 1.0), gt=0,
        doc="L2 penalties tried by the linear baseline (chosen on the validation split)")
    ic_min_symbols: int = spec(
        3, ge=2, doc="cross-sectional IC needs this many symbols per time step; fewer symbols: "
                     "time-series IC per symbol")


@dataclasses.dataclass(frozen=True)
class WalkForwardConfig:
    """Walk-forward retraining (``quantjax train hft --walk-forward``, docs/training.md)."""

    folds: int = spec(4, ge=1, doc="number of walk-forward folds (test blocks)")
    mode: str = spec("expanding", choices=("expanding", "rolling"),
                     doc="training window: everything before the test block, or the last "
                         "train_size positions")
    train_size: int | None = spec(None, ge=1, doc="rolling mode: training window in sample times")
    test_fraction: float = spec(
        0.3, gt=0, lt=1, doc="share of the sample time range covered by the K test blocks "
                             "(the last one ends at the last sample)")
    val_fraction: float = spec(
        0.15, gt=0, lt=1, doc="last share of each fold's training window held out for early "
                              "stopping (after an embargo)")
    embargo: int | None = spec(
        None, ge=0, doc="positions skipped after the purge (= the label horizon) between "
                        "train, validation and test; null = model.sequence_length")
    vmap: bool = spec(True, doc="train all folds in one vmapped program (else one after another, "
                                "same compiled program)")
    warm_start: bool = spec(False, doc="sequential folds only: start each fold from the previous "
                                       "fold's best params")

    def validate(self) -> None:
        if self.mode == "rolling" and not self.train_size:
            raise ConfigError("walk_forward.train_size: rolling mode needs a training window > 0")
        if self.vmap and self.warm_start:
            raise ConfigError("walk_forward.warm_start: needs walk_forward.vmap=false (vmapped "
                              "folds train at the same time)")


@dataclasses.dataclass(frozen=True)
class HFTConfig:
    """Whole HFT training config (``quantjax train hft``)."""

    model: Any = spec(default_factory=LSTMAttentionConfig, select=model_config_selector("hft"),
                      doc="the model, chosen by model.name (quantjax.models.registry)")
    data: HFTDataConfig = spec(default_factory=HFTDataConfig)
    loss: HFTLossConfig = spec(default_factory=HFTLossConfig)
    train: TrainConfig = spec(default_factory=TrainConfig)
    evaluation: HFTEvaluationConfig = spec(default_factory=HFTEvaluationConfig)
    walk_forward: WalkForwardConfig = spec(default_factory=WalkForwardConfig)

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
