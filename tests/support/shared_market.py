"""Shared market sizes for the backtest and risk tests.

``simulate`` compiles one program per market shape (symbols x steps), mode, record level and
static argument: tests that draw their random markets with :data:`SYMBOLS` x :data:`STEPS`
share compiled programs (persistent-cache hits) instead of compiling their own, and
hand-written scenarios padded to :data:`SCENARIO_STEPS` bars share theirs.
"""

from __future__ import annotations

import numpy as np

from quantjax.data.market import MarketArrays

from support.toy_market import random_market

SYMBOLS, STEPS = 4, 240
SCENARIO_STEPS = 8


def shared_market(seed: int, **kwargs) -> MarketArrays:
    """``random_market(SYMBOLS, STEPS, seed=seed, **kwargs)``."""
    return random_market(SYMBOLS, STEPS, seed=seed, **kwargs)


def pad_steps(market: MarketArrays, signals: np.ndarray, steps: int = SCENARIO_STEPS):
    """``(market, signals[S, steps])`` with bars appended after the last one (copies of it, one
    bar interval apart) and NaN signals (no decision) there. The engine is causal, so the
    records of the first ``market.n_steps`` steps are those of the unpadded run."""
    n = market.n_steps
    if n > steps:
        raise ValueError(f"a scenario of {n} steps does not fit {steps}")
    extra = steps - n
    values = np.concatenate([market.values, np.repeat(market.values[:, -1:], extra, 1)], 1)
    mask = np.concatenate([market.mask, np.repeat(market.mask[:, -1:], extra, 1)], 1)
    ts = np.asarray(market.timestamps, np.int64)
    interval = ts[-1] - ts[-2] if n > 1 else 86_400 * 10**9
    ts = np.concatenate([ts, ts[-1] + interval * np.arange(1, extra + 1, dtype=np.int64)])
    sig = np.asarray(signals, np.float64)
    sig = np.concatenate([sig, np.full((sig.shape[0], extra), np.nan)], 1)
    return MarketArrays(values, mask, ts, market.symbols, market.fields), sig


def first_steps(records: dict, n: int) -> dict:
    """``records`` (arrays with time last) cut to their first ``n`` steps."""
    return {k: np.asarray(v)[..., :n] for k, v in records.items()}
