"""Small random markets and signals (tests, benchmarks, smoke runs). Not a market model."""

from __future__ import annotations

import numpy as np

from quantjax.data.market import FIELDS, MarketArrays
from quantjax.risk import MarketStep


def random_ohlc(rng: np.random.Generator, n_symbols: int, n_steps: int, vol: float = 0.01,
                start: np.ndarray | float = 100.0, dtype=np.float64):
    """Time-major ``[T, S]`` open/high/low/close/volume of a geometric random walk."""
    r = rng.normal(0.0, vol, (n_steps, n_symbols))
    gap = rng.normal(0.0, vol / 4, (n_steps, n_symbols))
    close = np.asarray(start, np.float64) * np.exp(np.cumsum(r, axis=0))
    prev = np.vstack([np.broadcast_to(np.asarray(start, np.float64), (1, n_symbols)), close[:-1]])
    open_ = prev * np.exp(gap)
    wick = np.abs(rng.normal(0.0, vol / 2, (2, n_steps, n_symbols)))
    high = np.maximum(open_, close) * np.exp(wick[0])
    low = np.minimum(open_, close) * np.exp(-wick[1])
    volume = rng.lognormal(np.log(1e5), 0.3, (n_steps, n_symbols))
    return tuple(a.astype(dtype) for a in (open_, high, low, close, volume))


def random_market(n_symbols: int = 3, n_steps: int = 200, seed: int = 0, quotes: bool = False,
                  missing: float = 0.0, bar_seconds: int = 86_400, vol: float = 0.01) -> MarketArrays:
    """A ``MarketArrays`` of random bars (``missing``: fraction of masked bars)."""
    rng = np.random.default_rng(seed)
    o, h, lo, c, v = random_ohlc(rng, n_symbols, n_steps, vol)
    cols = [o, h, lo, c, v]
    fields = list(FIELDS[:5])
    if quotes:
        spread = c * 1e-3
        cols += [c - spread / 2, c + spread / 2, rng.lognormal(6, 0.5, c.shape),
                 rng.lognormal(6, 0.5, c.shape)]
        fields += list(FIELDS[5:])
    values = np.stack([a.T for a in cols], axis=-1)
    mask = rng.random((n_symbols, n_steps)) >= missing
    values[~mask] = np.nan
    ts = np.datetime64("2024-01-02", "ns").astype(np.int64) + \
        np.arange(n_steps, dtype=np.int64) * bar_seconds * 1_000_000_000
    return MarketArrays(values, mask, ts, tuple(f"S{i:03d}" for i in range(n_symbols)),
                        tuple(fields))


def random_series(rng: np.random.Generator, n_symbols: int, n_steps: int, dtype=np.float32,
                  steps_per_day: int = 390, day0: int = 0, start=100.0):
    """Time-major :class:`MarketStep` arrays (no quotes, all bars valid) and the last close."""
    o, h, lo, c, v = random_ohlc(rng, n_symbols, n_steps, start=start, dtype=np.float64)
    day = (day0 + np.arange(n_steps) // steps_per_day).astype(np.int32)
    series = MarketStep(*(a.astype(dtype) for a in (o, h, lo, c, v)),
                        valid=np.ones((n_steps, n_symbols), bool), day=day)
    return series, c[-1]


def random_targets(rng: np.random.Generator, shape, p_change: float = 0.05,
                   long_only: bool = False, dtype=np.float32) -> np.ndarray:
    """Sparse target decisions: NaN except with probability ``p_change`` (then -1/0/1)."""
    choices = np.array([0.0, 1.0]) if long_only else np.array([-1.0, 0.0, 1.0])
    vals = rng.choice(choices, shape)
    return np.where(rng.random(shape) < p_change, vals, np.nan).astype(dtype)
