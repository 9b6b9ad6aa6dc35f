"""Configs of the data layer: the synthetic market generator.

``SynthMarketConfig`` holds every parameter of :func:`quantjax.data.synth_market.generate`;
defaults are mirrored in ``configs/synth_market.yaml``. Process equations: docs/data.md.
"""

from __future__ import annotations

import dataclasses
import re

from quantjax.config.base import spec
from quantjax.errors import ConfigError

_FREQ = re.compile(r"^(\d+)(s|min|h|D)$")
_UNIT_SECONDS = {"s": 1, "min": 60, "h": 3600, "D": 86400}
_HHMM = re.compile(r"^(\d{2}):(\d{2})$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def freq_seconds(freq: str) -> int:
    """Seconds of a bar frequency such as ``"1s"``, ``"5min"``, ``"1h"`` or ``"1D"``."""
    m = _FREQ.match(freq)
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"freq: {freq!r} is not a frequency like '1s', '5min', '1h' or '1D'")
    return int(m.group(1)) * _UNIT_SECONDS[m.group(2)]


def hhmm_seconds(value: str, where: str) -> int:
    """Seconds after midnight of ``"HH:MM"``."""
    m = _HHMM.match(value)
    if not m or int(m.group(1)) > 24 or int(m.group(2)) > 59:
        raise ConfigError(f"{where}: {value!r} is not a time of day 'HH:MM'")
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60


@dataclasses.dataclass(frozen=True)
class SynthMarketConfig:
    """Synthetic multi-symbol bar data with a planted order-flow-imbalance signal."""

    symbols: int = spec(4, ge=1, le=10_000, doc="number of symbols (SYM000, SYM001, ...)")
    steps: int = spec(2000, ge=2, doc="bars per symbol")
    freq: str = spec("1s", doc="bar frequency: Ns, Nmin, Nh (intraday) or 1D (daily)")
    seed: int = spec(0, ge=0, doc="random seed; the same seed gives byte-identical files")
    start: str = spec("2024-01-02", doc="first session date YYYY-MM-DD (business days only)")
    session_open: str = spec("09:30", doc="session open HH:MM (UTC)")
    session_close: str = spec("16:00", doc="session close HH:MM (UTC)")
    initial_price: float = spec(100.0, gt=0, doc="median initial mid price")
    initial_price_dispersion: float = spec(0.5, ge=0, doc="std of log initial price across symbols")
    daily_vol: float = spec(0.02, gt=0, lt=1, doc="volatility of one session (log-return std)")
    vol_persistence: float = spec(0.995, ge=0, lt=1, doc="AR(1) coefficient of log-vol per bar")
    vol_of_vol: float = spec(0.5, ge=0, le=3, doc="stationary std of log-vol")
    intraday_amplitude: float = spec(1.0, ge=0, doc="U-shape: vol x (1 + a (2 tau - 1)^2)")
    market_correlation: float = spec(0.3, ge=0, le=1, doc="correlation of diffusive shocks")
    jump_prob: float = spec(0.0005, ge=0, le=1, doc="jump probability per bar")
    jump_scale: float = spec(8.0, ge=0, doc="jump std in units of the base bar vol")
    ofi_persistence: float = spec(0.8, ge=0, lt=1, doc="AR(1) coefficient of latent OFI")
    ofi_scale: float = spec(1.0, gt=0, doc="ofi = tanh(ofi_scale * z), z ~ N(0, 1) stationary")
    signal_strength: float = spec(
        0.5, ge=0, doc="beta: next-bar drift = beta * sigma_t * ofi_t (planted signal)"
    )
    spread_mean: float = spec(2e-4, gt=0, lt=0.5, doc="median relative spread (ask-bid)/mid")
    spread_vol_elasticity: float = spec(1.0, ge=0, doc="spread ~ (sigma_t / base vol)^e")
    spread_noise: float = spec(0.2, ge=0, doc="std of log spread noise")
    depth_mean: float = spec(1000.0, gt=0, doc="median bid_volume + ask_volume")
    depth_noise: float = spec(0.5, ge=0, doc="std of log depth noise")
    volume_mean: float = spec(500.0, gt=0, doc="median traded volume per bar")
    volume_noise: float = spec(0.5, ge=0, doc="std of log volume noise")
    missing_fraction: float = spec(0.0, ge=0, lt=1, doc="fraction of bars dropped at random")
    label_horizon: int = spec(5, ge=1, doc="k: label looks at mids over (t, t+k]")
    label_threshold: float = spec(1e-4, ge=0, doc="alpha: flat if |mean future mid/mid - 1| <= alpha")
    oracle_states: int = spec(2000, ge=10, doc="states sampled for the Monte Carlo oracle")
    oracle_paths: int = spec(1000, ge=10, doc="future paths simulated per oracle state")

    def validate(self) -> None:
        bar = freq_seconds(self.freq)
        if bar >= 86400 and self.freq != "1D":
            raise ConfigError(f"freq: {self.freq!r}: the only daily frequency supported is '1D'")
        o = hhmm_seconds(self.session_open, "session_open")
        c = hhmm_seconds(self.session_close, "session_close")
        if c <= o:
            raise ConfigError("session_close: must be after session_open")
        if bar < 86400 and bar > c - o:
            raise ConfigError(f"freq: {self.freq!r} is longer than the session")
        if not _DATE.match(self.start):
            raise ConfigError(f"start: {self.start!r} is not a date YYYY-MM-DD")
        if self.label_horizon >= self.steps:
            raise ConfigError("label_horizon: must be smaller than steps")
