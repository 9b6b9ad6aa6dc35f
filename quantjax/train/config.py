"""Generic training-loop configuration shared by every model (HFT, credit).

The ``train:`` section of a model config. Values a sweep may vary (learning rate, weight
decay, dropout, loss and class weights, seed) are turned into traced
:class:`quantjax.train.trainer.HParams` by :func:`quantjax.train.trainer.hparams_from_config`;
everything else here is static (shapes, step counts, checkpoint policy).
"""

from __future__ import annotations

import dataclasses

from quantjax.config import spec
from quantjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Optimizer, schedule, loop, early-stopping and checkpoint settings."""

    batch_size: int = spec(64, ge=1, doc="training batch size")
    epochs: int = spec(100, ge=1, doc="maximum number of epochs")
    max_steps: int | None = spec(None, ge=1, doc="stop after this many optimizer steps (None: epochs only)")
    learning_rate: float = spec(1e-3, gt=0, doc="peak AdamW learning rate (traced)")
    weight_decay: float = spec(1e-4, ge=0, doc="AdamW decoupled weight decay (traced)")
    warmup_fraction: float = spec(0.05, ge=0, lt=1, doc="fraction of total steps spent in linear warmup")
    min_lr_ratio: float = spec(0.05, ge=0, le=1, doc="final learning rate as a fraction of the peak (cosine)")
    grad_clip_norm: float = spec(1.0, gt=0, doc="global-norm gradient clipping")
    seed: int = spec(0, doc="seed for init, dropout and shuffling (traced)")
    loss_weights: tuple[float, ...] = spec((1.0, 1.0, 1.0), doc="per-task loss weights (traced)")
    class_weights: tuple[float, ...] | None = spec(None, doc="per-class CE weights; None = uniform (traced)")
    patience: int = spec(10, ge=1, doc="early stopping: epochs without improvement of the monitored metric")
    start_from_epoch: int = spec(
        0, ge=0, doc="epochs 0..N-1 are trained and logged but can neither be the best checkpoint "
        "nor count toward patience (Keras EarlyStopping(start_from_epoch=N)); must be < epochs")
    eval_batch_size: int = spec(512, ge=1, doc="batch size for validation/test prediction")
    steps_per_call: int = spec(200, ge=1, doc="optimizer steps per compiled call (progress granularity)")
    max_to_keep: int = spec(3, ge=1, doc="best checkpoints kept (the latest is always kept too)")
    async_checkpoints: bool = spec(True, doc="write checkpoints in the background")
    data_parallel: str = spec(
        "auto", choices=("auto", "always", "never"), doc="split each batch over a 'data' mesh "
        "axis of every device (params and optimizer state replicated); auto = when more than "
        "one device is visible. The global batch is batch_size on any device count")
    precision: str = spec(
        "fp32", choices=("fp32", "bf16"), doc="training compute dtype: bf16 runs the model's "
        "forward and backward pass in bfloat16 while params, gradients, optimizer state, the "
        "loss and validation stay float32")
    device_data_limit_mb: float = spec(
        2048.0, ge=0, doc="training data above this size stays on the host: batches are gathered "
        "there and prefetched to the device by a background thread (0 = always)")

    def validate(self) -> None:
        if any(w < 0 for w in self.loss_weights):
            raise ConfigError(f"train.loss_weights: weights must be >= 0, got {list(self.loss_weights)}")
        if self.class_weights is not None and any(w <= 0 for w in self.class_weights):
            raise ConfigError(f"train.class_weights: weights must be > 0, got {list(self.class_weights)}")
        if self.start_from_epoch >= self.epochs:
            raise ConfigError(
                f"train.start_from_epoch: {self.start_from_epoch} must be < train.epochs "
                f"({self.epochs}), else no epoch could be chosen as the best checkpoint")
