"""Leakage-safe splits over the sample end time ``t_end`` (shared by all symbols).

A sample at ``t`` reads feature rows ``[t - L + 1, t]`` and its label reads bars ``(t, t + k]``;
its *span* is ``[t - L + 1, t + k]``. Two samples can leak into each other only if their spans
overlap. With an embargo of ``g`` positions between a training part that ends at ``a - 1`` and
an evaluation part that starts at ``a + g``, the training label windows end at ``a - 1 + k``
and the evaluation input windows start at ``a + g - L + 1``; they are disjoint iff
``g >= k + L - 1``. The default embargo is ``k + L`` (:func:`default_embargo`).

Feature lookbacks longer than L (e.g. the 100-bar vol regime) only reach further into the
past; training on data that precedes the evaluation period is not leakage, so they need no
embargo in a chronological split. For purged k-fold, training samples *after* a test fold see
the test period through their lookback; add the maximum feature lookback to ``embargo`` there
if that matters (``purged_kfold(..., embargo=...)``).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from quantjax.errors import ConfigError, DataError


class TimeRange(NamedTuple):
    """Half-open range ``[start, stop)`` of sample end times."""

    start: int
    stop: int

    def contains(self, t: np.ndarray) -> np.ndarray:
        return (t >= self.start) & (t < self.stop)


def default_embargo(horizon: int, seq_len: int) -> int:
    """``k + L``: one more than the minimum ``k + L - 1`` that separates the spans."""
    return int(horizon) + int(seq_len)


def chronological(
    t_lo: int, t_hi: int, fractions: tuple[float, float, float], embargo: int
) -> tuple[TimeRange, TimeRange, TimeRange]:
    """Train/val/test ranges over sample times ``[t_lo, t_hi]`` (inclusive) with ``embargo``
    positions dropped before val and before test."""
    n = t_hi - t_lo + 1
    if n <= 0:
        raise DataError("splits: no valid samples to split")
    f_train, f_val, _ = fractions
    a = t_lo + int(round(f_train * n))
    b = a + int(round(f_val * n))
    train = TimeRange(t_lo, a)
    val = TimeRange(min(a + embargo, b), b)
    test = TimeRange(min(b + embargo, t_hi + 1), t_hi + 1)
    return train, val, test


def walk_forward(
    t_lo: int,
    t_hi: int,
    n_folds: int,
    test_size: int,
    embargo: int,
    mode: str = "expanding",
    train_size: int | None = None,
) -> list[tuple[TimeRange, TimeRange]]:
    """Walk-forward folds: fold i tests on a block of ``test_size`` positions; training covers
    everything before it (``expanding``) or the last ``train_size`` positions (``rolling``),
    ending ``embargo`` positions before the test block. The last fold ends at ``t_hi``."""
    if mode not in ("expanding", "rolling"):
        raise ConfigError(f"walk_forward mode: {mode!r} is not one of ['expanding', 'rolling']")
    if mode == "rolling" and not train_size:
        raise ConfigError("walk_forward: rolling mode needs train_size > 0")
    folds = []
    end = t_hi + 1
    first_test = end - n_folds * test_size
    for i in range(n_folds):
        test = TimeRange(first_test + i * test_size, first_test + (i + 1) * test_size)
        train_stop = test.start - embargo
        train_start = t_lo if mode == "expanding" else max(t_lo, train_stop - int(train_size))
        if train_stop <= train_start:
            raise DataError(
                f"walk_forward: fold {i} has no training data (test starts at {test.start}, "
                f"embargo {embargo}); use fewer folds or a smaller test_size"
            )
        folds.append((TimeRange(train_start, train_stop), test))
    return folds


def purged_kfold(
    times: np.ndarray, n_folds: int, horizon: int, seq_len: int, embargo: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Purged k-fold with embargo (López de Prado, AFML ch. 7) over sample end times.

    ``times``: ``[N]`` int sample end times. The distinct times are cut into ``n_folds``
    contiguous test blocks. Training keeps the samples whose span ``[t-L+1, t+k]`` does not
    overlap the test block's span ``[first-L+1, last+k]`` (purging) and that do not start
    within ``embargo`` positions after that span (embargo). Returns ``(train_mask[N],
    test_mask[N])`` per fold.
    """
    times = np.asarray(times)
    uniq = np.unique(times)
    if n_folds < 2 or len(uniq) < n_folds:
        raise ConfigError(f"purged_kfold: n_folds={n_folds} needs >= 2 folds and enough times")
    L, k = int(seq_len), int(horizon)
    out = []
    for block in np.array_split(uniq, n_folds):
        test = (times >= block[0]) & (times <= block[-1])
        span_lo, span_hi = block[0] - L + 1, block[-1] + k
        s_lo, s_hi = times - L + 1, times + k
        overlap = (s_hi >= span_lo) & (s_lo <= span_hi)
        embargoed = (s_lo > span_hi) & (s_lo <= span_hi + embargo)
        out.append((~test & ~overlap & ~embargoed, test))
    return out
