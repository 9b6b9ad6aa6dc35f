"""Config of the HFT feature pipeline, labels, windows and splits (``configs/features.yaml``).

Every window length is a static shape (changing one recompiles); thresholds are traced.
See docs/features.md for the definition of every feature.
"""

from __future__ import annotations

import dataclasses

from quantjax.config.base import spec
from quantjax.errors import ConfigError

GROUPS: tuple[str, ...] = (
    "returns",
    "volatility",
    "microstructure",
    "volume",
    "time",
    "regime",
    "trend",
    "cross_timeframe",
    "lags",
    "rolling_stats",
    "rsi",
    "macd",
    "bollinger",
    "stochastic",
    "atr",
)


@dataclasses.dataclass(frozen=True)
class LabelsConfig:
    """HFT labels: direction (0=down, 1=flat, 2=up), future return and future volatility."""

    horizon: int = spec(5, ge=1, doc="k: a label at t uses the label price over (t, t+k]")
    threshold: float = spec(
        1e-4, ge=0, doc="alpha: flat if |mean(p[t+1..t+k]) / p[t] - 1| <= alpha"
    )


@dataclasses.dataclass(frozen=True)
class SplitsConfig:
    """Chronological train/val/test split over t_end with an embargo between the parts."""

    fractions: tuple[float, ...] = spec(
        (0.7, 0.15, 0.15), doc="train/val/test fractions of the sample time range"
    )
    embargo: int | None = spec(
        None, ge=0, doc="t_end positions skipped between parts; null = horizon + seq_len"
    )

    def validate(self) -> None:
        if len(self.fractions) != 3 or any(f <= 0 for f in self.fractions):
            raise ConfigError(f"splits.fractions: need 3 fractions > 0, got {list(self.fractions)}")
        if abs(sum(self.fractions) - 1.0) > 1e-6:
            raise ConfigError(f"splits.fractions: must sum to 1, got {list(self.fractions)}")


@dataclasses.dataclass(frozen=True)
class FeaturesConfig:
    """Which feature groups to compute and their window lengths (in bars)."""

    groups: tuple[str, ...] = spec(GROUPS, doc="feature groups to compute, see docs/features.md")
    vol_windows: tuple[int, ...] = spec((5, 10, 20), ge=2, doc="rolling std windows of returns")
    vol_ref_window: int = spec(20, ge=2, doc="volatility used by ratios, lags and the regime")
    vwap_window: int = spec(20, ge=1, doc="VWAP window")
    volume_window: int = spec(60, ge=1, doc="volume-intensity window")
    regime_window: int = spec(100, ge=2, doc="window of the vol-regime quantile")
    regime_quantile: float = spec(0.75, ge=0, le=1, doc="quantile of the vol regime")
    trend_window: int = spec(20, ge=3, doc="window of the price/time correlation")
    timeframes: tuple[int, ...] = spec(
        (5, 60, 300), ge=1, doc="cross-timeframe multiples m of the base bar (5s/1m/5m at 1s bars)"
    )
    tf_momentum_periods: int = spec(5, ge=1, doc="momentum_tf{m} = close/close[t - n*m] - 1")
    tf_vol_periods: int = spec(10, ge=2, doc="volatility_tf{m}: std of the last n m-bar returns")
    lags: tuple[int, ...] = spec((1, 2, 3, 5, 10), ge=1, doc="lags of returns and of vol_ref")
    stat_windows: tuple[int, ...] = spec((10, 30, 60), ge=4, doc="rolling mean/std/skew/kurt")
    rsi_window: int = spec(14, ge=1, doc="RSI window (simple rolling means, as the spec)")
    macd_fast: int = spec(12, ge=1, doc="MACD fast EWM span")
    macd_slow: int = spec(26, ge=1, doc="MACD slow EWM span")
    macd_signal: int = spec(9, ge=1, doc="MACD signal EWM span")
    bb_window: int = spec(20, ge=2, doc="Bollinger window")
    bb_width: float = spec(2.0, gt=0, doc="Bollinger band width in standard deviations")
    stoch_window: int = spec(14, ge=1, doc="stochastic %K window")
    stoch_smooth: int = spec(3, ge=1, doc="stochastic %D window")
    atr_window: int = spec(14, ge=1, doc="ATR window")
    clip: float | None = spec(10.0, gt=0, doc="clip standardized features to +-clip; null = off")
    adapt_warmup: bool = spec(
        True, doc="switch off cross timeframes whose lookback exceeds max_warmup_fraction of the "
                  "bars (one warning line); false: that is an error naming the --set")
    max_warmup_fraction: float = spec(
        0.5, gt=0, le=1, doc="longest cross-timeframe lookback allowed, as a share of the bars "
                             "per symbol")
    extra_columns: tuple[str, ...] | str = spec(
        (), doc="extra numeric columns of the market file used as model inputs: a list of "
                "names, or 'all' (every column that is not a market field)")
    extra_nan: str = spec(
        "error", choices=("error", "ffill", "zero"),
        doc="NaN in an extra column on an existing bar: error (names the row), ffill (last "
            "value; invalid before the first one) or zero")
    seq_len: int = spec(60, ge=1, doc="window length L of a model input")
    labels: LabelsConfig = spec(default_factory=LabelsConfig)
    splits: SplitsConfig = spec(default_factory=SplitsConfig)

    def validate(self) -> None:
        if isinstance(self.extra_columns, str) and self.extra_columns != "all":
            raise ConfigError(f"extra_columns: expected a list of column names or 'all', got "
                              f"{self.extra_columns!r}")
        bad = [g for g in self.groups if g not in GROUPS]
        if bad:
            raise ConfigError(f"groups: unknown group {bad[0]!r}; valid: {', '.join(GROUPS)}")
        if len(set(self.groups)) != len(self.groups):
            raise ConfigError("groups: duplicate group name")
        if self.macd_fast >= self.macd_slow:
            raise ConfigError("macd_fast: must be < macd_slow")
