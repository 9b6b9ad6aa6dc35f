"""Look-ahead checks for user features (the causality contract of docs/features.md).

The value of a feature at bar ``t`` must be known at ``t``. Two checks:

- :func:`lookahead_scan` (``quantjax data check-causality``) for columns of a file, whose
  generating code we do not have: the pooled rank correlation (Spearman, over every symbol
  and bar) of the column ``x_t`` with each future return ``R_{t,j} = p_{t+j} / p_t - 1``
  (``j = 1..max_horizon``, ``p`` the label price), and of its change ``x_t - x_{t-1}`` (for
  level-like columns such as a shifted price) with each future one-bar return ``r_{t+j}``.
  A column known at ``t`` predicts the future weakly: published field ICs are a few
  hundredths, and even the synthetic market's planted order-flow signal, far stronger than
  real ones, stays below 0.4. A column that contains the future (the future return, the
  label, a future price) reaches 0.8-1.0. Columns above ``threshold`` (default 0.5) are
  flagged. This catches gross leaks, not subtle ones (e.g. a leak of 1% of the future): it
  is a screen, not a proof. The past-return correlations (``r_{t-j}``, j = 0..max_horizon-1)
  are reported beside them for comparison.
- :func:`prefix_invariance` for feature code you can call: ``fn(market)`` must give at every
  bar ``t`` the same values as ``fn`` on the market cut after ``t`` (perturbing or removing the
  future changes nothing). This is exact; use it on your own feature functions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy.stats import rankdata

from quantjax.data.extra_columns import ExtraColumns
from quantjax.data.market import MarketArrays
from quantjax.features.prep import label_price

DEFAULT_THRESHOLD = 0.5
DEFAULT_HORIZON = 10


def _rank_corr(x: np.ndarray, y: np.ndarray) -> float:
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 10:
        return float("nan")
    a, b = rankdata(x[ok]), rankdata(y[ok])
    a, b = a - a.mean(), b - b.mean()
    den = np.sqrt((a * a).sum() * (b * b).sum())
    return float((a * b).sum() / den) if den > 0 else float("nan")


def _shift(a: np.ndarray, j: int) -> np.ndarray:
    """``out[:, t] = a[:, t + j]`` (NaN outside)."""
    out = np.full_like(a, np.nan)
    T = a.shape[1]
    if 0 <= j < T:
        out[:, : T - j] = a[:, j:]
    elif -T < j < 0:
        out[:, -j:] = a[:, : T + j]
    return out


def lookahead_scan(market: MarketArrays, extra: ExtraColumns,
                   max_horizon: int = DEFAULT_HORIZON,
                   threshold: float = DEFAULT_THRESHOLD) -> dict:
    """``{column: {...}}`` per extra column (module docstring): ``forward_rank_ic[j-1]`` against
    ``R_{t,j}``, ``forward_rank_ic_change[j-1]`` (the change) against ``r_{t+j}``, ``backward_rank_ic[j]`` against
    ``r_{t-j}``, ``max_abs_forward`` and its ``horizon``, and ``leak`` (bool)."""
    p = np.where(market.mask, label_price(market), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = p / _shift(p, -1) - 1.0  # r[t] = p[t] / p[t-1] - 1
        cum = [_shift(p, j) / p - 1.0 for j in range(1, max_horizon + 1)]  # R_{t,j}
    out = {}
    for e, name in enumerate(extra.names):
        x = np.where(market.mask, extra.values[:, :, e], np.nan)
        dx = x - _shift(x, -1)
        fwd = [_rank_corr(x.ravel(), c.ravel()) for c in cum]
        fwd_d = [_rank_corr(dx.ravel(), _shift(r, j).ravel()) for j in range(1, max_horizon + 1)]
        back = [_rank_corr(x.ravel(), _shift(r, -j).ravel()) for j in range(max_horizon)]
        both = np.abs(np.nan_to_num(np.array([fwd, fwd_d]), nan=0.0))
        k = int(np.argmax(both.max(axis=0)))
        worst = float(both.max())
        out[name] = {"forward_rank_ic": fwd, "forward_rank_ic_change": fwd_d,
                     "backward_rank_ic": back, "max_abs_forward": worst, "horizon": k + 1,
                     "leak": bool(worst > threshold)}
    return out


def prefix_invariance(fn: Callable[[MarketArrays], np.ndarray], market: MarketArrays,
                      cuts=None, n_cuts: int = 5, seed: int = 0) -> list[int]:
    """Bars ``t`` (among ``cuts``, or ``n_cuts`` random ones) where ``fn`` is not causal:
    ``fn(market)[:, :t + 1]`` differs from ``fn(market cut after t)`` (NaN equal to NaN).
    ``fn(market) -> [S, T, ...]`` array. An empty list: no look-ahead found at those cuts."""
    full = np.asarray(fn(market))
    T = market.n_steps
    if cuts is None:
        cuts = np.random.default_rng(seed).integers(1, T - 1, size=n_cuts)
    bad = []
    for t in sorted(int(c) for c in cuts):
        cut = market._replace(values=market.values[:, : t + 1], mask=market.mask[:, : t + 1],
                              timestamps=market.timestamps[: t + 1])
        part = np.asarray(fn(cut))
        if not np.array_equal(part, full[:, : t + 1], equal_nan=True):
            bad.append(t)
    return bad
