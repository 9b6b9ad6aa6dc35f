"""Configuration of the multi-modal credit transformer and its training run.

``configs/credit_transformer.yaml`` (spec defaults) and ``configs/credit_transformer_tiny.yaml``
(tests, demo). Sections: ``model`` (architecture), ``data`` (schema, splits, synthetic generator),
``loss`` (class-imbalance handling), ``calibration`` (temperature and shift), ``train``
(:class:`quantjax.train.config.TrainConfig`), ``decision`` (risk bands, reason codes, metric
settings, score points), ``logreg`` (the JAX baseline), and the credit-practice checks:
``strength`` (WoE/IV), ``stability`` (PSI/CSI), ``monotonicity`` and ``fairness``.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from quantjax.config import spec
from quantjax.errors import ConfigError
from quantjax.models.credit import CreditModelConfig
from quantjax.models.registry import model_config_selector
from quantjax.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class CreditDataConfig:
    """Where the applications come from and how they are split."""

    path: str | None = spec(None, doc="CSV/Parquet of applications (or --data)")
    schema: str | None = spec(None, doc="credit schema YAML (or --schema)")
    split: tuple[float, ...] = spec(
        (0.7, 0.15, 0.15), doc="stratified train/val/test fractions"
    )
    seed: int = spec(0, ge=0, doc="seed of the stratified split / folds")
    max_text_len: int = spec(32, ge=1, doc="words kept per text (longer text is truncated)")
    vocab_size: int = spec(10_000, ge=2, doc="text vocabulary cap incl. PAD and OOV")
    min_word_freq: int = spec(1, ge=1, doc="rarer training words map to OOV")
    synthetic: Any = spec(default_factory=dict, doc="SynthCreditConfig mapping for --synthetic")

    def validate(self) -> None:
        if len(self.split) != 3:
            raise ConfigError(f"data.split: expected 3 fractions (train, val, test), got {list(self.split)}")
        if abs(sum(self.split) - 1.0) > 1e-6 or any(s <= 0 for s in self.split):
            raise ConfigError(
                f"data.split: fractions must be > 0 and sum to 1, got {list(self.split)}"
            )
        if not isinstance(self.synthetic, dict):
            raise ConfigError("data.synthetic: expected a mapping")


@dataclasses.dataclass(frozen=True)
class CreditLossConfig:
    """Class-imbalance-aware binary loss."""

    kind: str = spec(
        "weighted_bce", choices=("weighted_bce", "focal"),
        doc="weighted_bce: class-weighted cross-entropy; focal: focal loss (alpha = weights)",
    )
    balanced: bool = spec(
        True, doc="class weights n/(2 n_c) from the training split (ignored if train.class_weights)"
    )
    focal_gamma: float = spec(2.0, ge=0, doc="focal loss gamma")
    prior_correction: bool = spec(
        True, doc="subtract log(w_pos/w_neg) from logits before calibration (undo the weighting)"
    )


@dataclasses.dataclass(frozen=True)
class CreditCalibrationConfig:
    """How the PD ``sigmoid((logit - shift) / T)`` is fitted on the validation split."""

    fit_shift: bool = spec(
        True, doc="with a class-weighted loss, fit the shift that undoes the weighting jointly "
        "with the temperature (start: the analytic log(w_pos/w_neg)); false: analytic shift, "
        "temperature only",
    )
    prior_sd: float | None = spec(
        0.5, gt=0, doc="sd (logit units) of the Gaussian priors 1/T ~ N(1, sd^2) and "
        "-shift/T ~ N(-analytic shift, sd^2) of the joint fit; null: plain maximum likelihood",
    )


@dataclasses.dataclass(frozen=True)
class PointsConfig:
    """Score points from the PD in the usual log-odds scaling (:mod:`quantjax.credit.points`):
    ``points = base_score + pdo / ln 2 * ln(odds / base_odds)``, ``odds = (1 - PD) / PD``."""

    pdo: float = spec(20.0, gt=0, doc="points that double the good:bad odds")
    base_score: float = spec(600.0, doc="points at the base odds")
    base_odds: float = spec(50.0, gt=0, doc="good:bad odds that score base_score (50 = 50:1)")


@dataclasses.dataclass(frozen=True)
class CreditDecisionConfig:
    """Risk bands, decisions, reason codes and metric settings."""

    low: float = spec(0.1, gt=0, lt=1, doc="PD below this: LOW / APPROVE (spec 0.1)")
    high: float = spec(0.3, gt=0, lt=1, doc="PD at or above this: HIGH / DECLINE (spec 0.3)")
    threshold: float = spec(
        0.5, gt=0, lt=1, doc="PD threshold for accuracy/precision/recall/F1/FPR"
    )
    reason_codes: int = spec(
        4, ge=0, le=4, doc="adverse-action statements per REVIEW/DECLINE row (deduplicated by "
        "statement, ranked by attribution; at most 4)")
    ig_steps: int = spec(32, ge=2, le=512, doc="integrated-gradients interpolation steps")
    ece_bins: int = spec(10, ge=2, le=100, doc="equal-width reliability bins for ECE")
    points: PointsConfig = spec(default_factory=PointsConfig,
                                doc="score points beside the PD (never change a decision)")

    def validate(self) -> None:
        if self.low >= self.high:
            raise ConfigError(f"decision.low: {self.low} must be < decision.high {self.high}")


@dataclasses.dataclass(frozen=True)
class StrengthConfig:
    """Weight of evidence and information value of every input (:mod:`quantjax.credit.woe`)."""

    bins: int = spec(10, ge=2, le=100, doc="training-quantile bins of a numeric input before "
                     "the merge to monotone WoE")
    weak_iv: float = spec(0.02, ge=0, doc="IV below this: flagged 'not predictive'")
    leak_iv: float = spec(0.5, gt=0, doc="IV above this: flagged 'check for leakage'")

    def validate(self) -> None:
        if self.weak_iv >= self.leak_iv:
            raise ConfigError(f"strength.weak_iv: {self.weak_iv} must be < strength.leak_iv "
                              f"{self.leak_iv}")


@dataclasses.dataclass(frozen=True)
class StabilityConfig:
    """Population stability (PSI of the PD, CSI of each input; :mod:`quantjax.credit.stability`).
    Stored with the reference bins in ``reference.json``, so scoring uses the training run's."""

    bins: int = spec(10, ge=2, le=100, doc="training-quantile bins of the PD and of each "
                     "numeric input (missing values and unseen categories get their own bins)")
    watch: float = spec(0.1, gt=0, doc="index at or above this: 'watch'")
    act: float = spec(0.25, gt=0, doc="index at or above this: 'act'")
    floor: float = spec(1e-4, gt=0, lt=0.01, doc="zero-cell convention: a bin share of 0 "
                        "counts as this share")

    def validate(self) -> None:
        if self.watch >= self.act:
            raise ConfigError(f"stability.watch: {self.watch} must be < stability.act {self.act}")


@dataclasses.dataclass(frozen=True)
class MonotonicityConfig:
    """Partial-dependence check of the schema's ``monotone`` directions
    (:mod:`quantjax.credit.monotone`)."""

    grid: int = spec(9, ge=2, le=50, doc="grid points: training quantiles from 5% to 95%")
    tolerance: float = spec(1e-3, ge=0, doc="a PD step against the direction larger than this "
                            "(PD units) is a violation")
    max_share: float = spec(0.05, ge=0, le=1, doc="share of validation rows in violation above "
                            "which the report flags the input")


@dataclasses.dataclass(frozen=True)
class FairnessConfig:
    """Outcomes across the schema's ``protected`` columns (:mod:`quantjax.credit.segments`)."""

    min_air: float = spec(0.8, gt=0, le=1, doc="adverse impact ratio below this is flagged "
                          "(the four-fifths rule)")
    min_rows: int = spec(30, ge=1, doc="groups with fewer rows are shown but left out of the "
                         "reference group, the smallest ratio, the flags and the AUC gap")


@dataclasses.dataclass(frozen=True)
class LogRegConfig:
    """The JAX logistic-regression baseline on the same encoded inputs."""

    l2_grid: tuple[float, ...] = spec(
        (1e-4, 1e-3, 1e-2, 1e-1), doc="L2 strengths tried in parallel; best by validation AUC"
    )
    steps: int = spec(500, ge=10, doc="full-batch Adam steps")
    learning_rate: float = spec(0.05, gt=0, doc="Adam learning rate")


@dataclasses.dataclass(frozen=True)
class CreditConfig:
    """Whole credit training config (``quantjax train credit``)."""

    model: Any = spec(default_factory=CreditModelConfig, select=model_config_selector("credit"),
                      doc="the model, chosen by model.name (quantjax.models.registry)")
    data: CreditDataConfig = spec(default_factory=CreditDataConfig)
    loss: CreditLossConfig = spec(default_factory=CreditLossConfig)
    calibration: CreditCalibrationConfig = spec(default_factory=CreditCalibrationConfig)
    train: TrainConfig = spec(default_factory=TrainConfig)
    decision: CreditDecisionConfig = spec(default_factory=CreditDecisionConfig)
    logreg: LogRegConfig = spec(default_factory=LogRegConfig)
    strength: StrengthConfig = spec(default_factory=StrengthConfig)
    stability: StabilityConfig = spec(default_factory=StabilityConfig)
    monotonicity: MonotonicityConfig = spec(default_factory=MonotonicityConfig)
    fairness: FairnessConfig = spec(default_factory=FairnessConfig)

    def validate(self) -> None:
        if self.train.class_weights is not None and len(self.train.class_weights) != 2:
            raise ConfigError(
                f"train.class_weights: expected 2 weights (repaid, default), "
                f"got {len(self.train.class_weights)}"
            )
