"""Host statistics in float64 numpy: information coefficients and bootstrap intervals.

Information coefficients (the yardsticks of Qlib's benchmark tables):

- :func:`pearson`, :func:`spearman`: correlation of two vectors (NaN below 3 finite pairs or
  for a constant vector); ``spearman`` is the Pearson correlation of average ranks, as
  ``scipy.stats.spearmanr``;
- :func:`cross_sectional_ic`: ``ic[T]``, the correlation across symbols at each time step;
- :func:`ic_summary`: mean, std (ddof=1), ICIR = mean / std and the fraction of positive
  periods of an IC series.

Bootstrap intervals (percentile method, 95% by default):

- :func:`block_resample_sums`: circular block bootstrap (Politis and Romano) over ``G``
  time-ordered groups, from per-group sufficient statistics ``[G, K]``; time series and
  panels (all rows of a time step form one group) keep their serial dependence inside blocks;
- :func:`binary_intervals`: plain (row) bootstrap of AUC, KS, Brier and accuracy of a binary
  classifier, e.g. credit rows;
- :func:`percentile_interval`: ``[low, high]`` of the resampled values, NaN resamples skipped.

Every bootstrap takes its seed and number of resamples explicitly; :func:`bootstrap_info`
gives the record written beside the intervals in ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import stats as scipy_stats

DEFAULT_RESAMPLES = 1000
DEFAULT_SEED = 0
LEVEL = 0.95


def _pairs(x, y) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    return x[ok], y[ok]


def pearson(x, y) -> float:
    """Pearson correlation of the finite pairs of ``x[N]``, ``y[N]``; NaN when fewer than 3
    pairs or when either side is constant."""
    x, y = _pairs(x, y)
    if len(x) < 3:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    den = math.sqrt(float(np.dot(dx, dx)) * float(np.dot(dy, dy)))
    return float(np.dot(dx, dy) / den) if den > 0 else math.nan


def spearman(x, y) -> float:
    """Spearman rank correlation (Pearson of average ranks, ties shared) of the finite pairs."""
    x, y = _pairs(x, y)
    if len(x) < 3:
        return math.nan
    return pearson(scipy_stats.rankdata(x), scipy_stats.rankdata(y))


def _rank_rows(a: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """Average ranks along axis 0 of ``a[S, T]`` among the entries where ``ok``; NaN elsewhere."""
    x = np.where(ok, a, np.inf)
    r = scipy_stats.rankdata(x, axis=0, method="average")
    return np.where(ok, r, np.nan)


def cross_sectional_ic(pred, target, mask=None, method: str = "pearson",
                       min_symbols: int = 3) -> np.ndarray:
    """``ic[T]``: correlation across symbols of ``pred[S, T]`` and ``target[S, T]`` at each
    time step, over the symbols where ``mask[S, T]`` holds and both values are finite.
    ``method``: ``pearson`` (IC) or ``spearman`` (rank IC). NaN where fewer than
    ``min_symbols`` symbols remain or a side is constant."""
    p = np.asarray(pred, np.float64)
    y = np.asarray(target, np.float64)
    ok = np.isfinite(p) & np.isfinite(y)
    if mask is not None:
        ok &= np.asarray(mask, bool)
    if method == "spearman":
        p, y = _rank_rows(p, ok), _rank_rows(y, ok)
    elif method != "pearson":
        raise ValueError(f"method: {method!r} is not 'pearson' or 'spearman'")
    n = ok.sum(axis=0)
    w = ok.astype(np.float64)
    p0, y0 = np.where(ok, p, 0.0), np.where(ok, y, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mp = (p0 * w).sum(axis=0) / n
        my = (y0 * w).sum(axis=0) / n
        dp, dy = (p0 - mp) * w, (y0 - my) * w
        cov = (dp * dy).sum(axis=0)
        den = np.sqrt((dp * dp).sum(axis=0) * (dy * dy).sum(axis=0))
        ic = cov / den
    return np.where((n >= min_symbols) & (den > 0), ic, np.nan)


def ic_summary(ic) -> dict:
    """``{mean, std, icir, positive_fraction, n_periods}`` of an IC series (NaN skipped);
    ICIR = mean / std (ddof=1), not annualized."""
    x = np.asarray(ic, np.float64).ravel()
    x = x[np.isfinite(x)]
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n >= 2 else math.nan
    return {"mean": mean, "std": std,
            "icir": mean / std if n >= 2 and std > 0 else math.nan,
            "positive_fraction": float(np.mean(x > 0)) if n else math.nan,
            "n_periods": n}


# ----------------------------------------------------------------------------- bootstrap


def default_block(n_groups: int, min_block: int = 1) -> int:
    """Block length of the circular block bootstrap: ``ceil(G^(1/3))`` (the rate that is
    optimal for the variance of a mean), at least ``min_block`` (e.g. the label horizon, so
    that overlapping labels stay in one block) and at most ``G``."""
    if n_groups <= 0:
        return 1
    return int(min(n_groups, max(min_block, math.ceil(n_groups ** (1.0 / 3.0)), 1)))


def bootstrap_info(method: str, n_resamples: int, seed: int, block: int | None = None,
                   unit: str | None = None) -> dict:
    """The record of how intervals were computed (written as ``bootstrap`` in metrics.json)."""
    out = {"method": method, "level": LEVEL, "resamples": int(n_resamples), "seed": int(seed)}
    if block is not None:
        out["block"] = int(block)
    if unit is not None:
        out["unit"] = unit
    return out


def percentile_interval(samples, level: float = LEVEL) -> list[float | None]:
    """``[low, high]`` percentile interval of the finite resampled values (None if none)."""
    x = np.asarray(samples, np.float64).ravel()
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return [None, None]
    a = (1.0 - level) / 2.0
    lo, hi = np.quantile(x, [a, 1.0 - a])
    return [float(lo), float(hi)]


def block_resample_sums(group_stats, block: int, n_resamples: int, seed: int) -> np.ndarray:
    """Circular block bootstrap of time-ordered groups: ``[R, K]`` sums of ``group_stats[G, K]``
    over resampled series of G groups, each built from ``ceil(G / block)`` blocks of
    ``block`` consecutive groups (wrapping around), the last block cut to length."""
    g = np.asarray(group_stats, np.float64)
    if g.ndim == 1:
        g = g[:, None]
    G, K = g.shape
    if G == 0:
        return np.full((n_resamples, K), np.nan)
    b = int(min(max(block, 1), G))
    n_blocks = -(-G // b)
    last = G - (n_blocks - 1) * b
    rng = np.random.default_rng(seed)
    starts = rng.integers(0, G, size=(n_resamples, n_blocks))
    prefix = np.concatenate([np.zeros((1, K)), np.cumsum(np.concatenate([g, g]), axis=0)])
    full = prefix[starts[:, :-1] + b] - prefix[starts[:, :-1]]  # [R, n_blocks - 1, K]
    tail = prefix[starts[:, -1] + last] - prefix[starts[:, -1]]  # [R, K]
    return full.sum(axis=1) + tail


def block_interval(group_stats, statistic: Callable[[np.ndarray], np.ndarray], block: int,
                   n_resamples: int, seed: int) -> list[float | None]:
    """Percentile interval of ``statistic(sums[R, K]) -> [R]`` over block-bootstrap sums."""
    sums = block_resample_sums(group_stats, block, n_resamples, seed)
    with np.errstate(invalid="ignore", divide="ignore"):
        return percentile_interval(statistic(sums))


def ratio_of_sums(num: int = 0, den: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """``sums[:, num] / sums[:, den]`` (e.g. accuracy from ``[correct, count]``)."""
    return lambda s: s[:, num] / s[:, den]


def mean_std_stat(kind: str, scale: float = 1.0) -> Callable[[np.ndarray], np.ndarray]:
    """Statistic of ``[sum x, sum x^2, n]`` sums: ``mean`` (times ``scale``), ``ratio``
    (mean / std ddof=1, times ``sqrt(scale)``: a Sharpe ratio or an ICIR)."""

    def f(s: np.ndarray) -> np.ndarray:
        n = s[:, 2]
        mean = s[:, 0] / n
        var = (s[:, 1] - n * mean * mean) / (n - 1)
        if kind == "mean":
            return mean * scale
        sd = np.sqrt(np.maximum(var, 0.0))
        return np.where(sd > 0, mean / sd * math.sqrt(scale), np.nan)

    return f


def moment_stats(x) -> np.ndarray:
    """``[G, 3]`` group statistics ``[x, x^2, 1]`` of the finite entries of ``x[G]``
    (a non-finite entry contributes zeros)."""
    x = np.asarray(x, np.float64).ravel()
    ok = np.isfinite(x)
    x0 = np.where(ok, x, 0.0)
    return np.stack([x0, x0 * x0, ok.astype(np.float64)], axis=1)


def correlation_stats(x, y) -> np.ndarray:
    """``[N, 6]`` row statistics ``[x, y, x^2, y^2, xy, 1]`` of the finite pairs."""
    x = np.asarray(x, np.float64).ravel()
    y = np.asarray(y, np.float64).ravel()
    ok = np.isfinite(x) & np.isfinite(y)
    x0, y0 = np.where(ok, x, 0.0), np.where(ok, y, 0.0)
    return np.stack([x0, y0, x0 * x0, y0 * y0, x0 * y0, ok.astype(np.float64)], axis=1)


def correlation_from_sums(s: np.ndarray) -> np.ndarray:
    """Pearson correlation ``[R]`` from :func:`correlation_stats` sums ``[R, 6]``."""
    n = s[:, 5]
    cov = s[:, 4] - s[:, 0] * s[:, 1] / n
    vx = s[:, 2] - s[:, 0] ** 2 / n
    vy = s[:, 3] - s[:, 1] ** 2 / n
    den = np.sqrt(np.maximum(vx, 0.0) * np.maximum(vy, 0.0))
    return np.where((den > 0) & (n >= 3), cov / den, np.nan)


def group_rows(times) -> tuple[np.ndarray, np.ndarray]:
    """``(group[N], n_groups)``: the index of each row's time among the sorted distinct
    times (rows of one time step form one bootstrap group)."""
    uniq, inv = np.unique(np.asarray(times), return_inverse=True)
    return inv.ravel(), len(uniq)


def sum_by_group(row_stats, group: np.ndarray, n_groups: int) -> np.ndarray:
    """``[G, K]`` sums of ``row_stats[N, K]`` per group."""
    r = np.asarray(row_stats, np.float64)
    if r.ndim == 1:
        r = r[:, None]
    out = np.zeros((n_groups, r.shape[1]))
    np.add.at(out, group, r)
    return out


# ----------------------------------------------------------------------------- binary rows


def _weighted_auc_ks(y: np.ndarray, p: np.ndarray, w: np.ndarray) -> tuple[np.ndarray,
                                                                              np.ndarray]:
    """AUC (ties count 1/2) and KS of scores ``p[N]`` for labels ``y[N]`` under row weights
    ``w[R, N]`` (bootstrap counts): ``([R], [R])``."""
    order = np.argsort(p, kind="stable")
    ps, ys, ws = p[order], y[order], w[:, order]
    starts = np.flatnonzero(np.r_[True, ps[1:] != ps[:-1]])  # groups of tied scores
    pos = np.add.reduceat(ws * ys, starts, axis=1)
    neg = np.add.reduceat(ws * (1.0 - ys), starts, axis=1)
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    with np.errstate(invalid="ignore", divide="ignore"):
        auc = (pos * (neg_below + 0.5 * neg)).sum(axis=1) / (n_pos * n_neg)
        ks = np.abs(np.cumsum(pos, axis=1) / n_pos[:, None]
                    - np.cumsum(neg, axis=1) / n_neg[:, None]).max(axis=1)
    return auc, ks


def binary_intervals(y, p, threshold: float = 0.5, n_resamples: int = DEFAULT_RESAMPLES,
                     seed: int = DEFAULT_SEED, chunk: int = 100) -> dict:
    """Plain (row) bootstrap intervals of a binary classifier's AUC, KS, Brier score and
    accuracy at ``threshold``: ``{"auc_ci", "ks_ci", "brier_ci", "accuracy_ci"}``, each
    ``[low, high]``. ``y[N]`` in {0, 1}, ``p[N]`` predicted probabilities (rows i.i.d.)."""
    y = np.asarray(y, np.float64).ravel()
    p = np.asarray(p, np.float64).ravel()
    n = len(y)
    rng = np.random.default_rng(seed)
    out: dict[str, list] = {"auc": [], "ks": [], "brier": [], "accuracy": []}
    sq = (p - y) ** 2
    hit = ((p >= threshold).astype(np.float64) == y).astype(np.float64)
    done = 0
    while done < n_resamples:
        r = min(chunk, n_resamples - done)
        w = rng.multinomial(n, np.full(n, 1.0 / n), size=r).astype(np.float64) if n else \
            np.zeros((r, 0))
        auc, ks = _weighted_auc_ks(y, p, w)
        out["auc"].append(auc)
        out["ks"].append(ks)
        out["brier"].append(w @ sq / n)
        out["accuracy"].append(w @ hit / n)
        done += r
    return {f"{k}_ci": percentile_interval(np.concatenate(v)) for k, v in out.items()}
