"""Leakage-safe splits: no training label window overlaps any evaluation sample's window."""

from __future__ import annotations

import numpy as np
import pytest

from quantjax.features.splits import (
    chronological,
    default_embargo,
    purged_kfold,
    walk_forward,
)

K, L = 5, 12


def _assert_no_leak(train_t, test_t, k=K, seq_len=L, embargo=0):
    """No train label window (t, t+k] overlaps any test span [t'-L+1, t'+k]."""
    if len(train_t) == 0 or len(test_t) == 0:
        return
    tr = np.asarray(train_t)[:, None]
    te = np.asarray(test_t)[None, :]
    overlap = (tr + 1 <= te + k) & (tr + k >= te - seq_len + 1)
    assert not overlap.any()
    # embargo: train samples after the test block start > embargo after its span
    after = tr > te.max()
    assert not (after & (tr - seq_len + 1 <= te.max() + k + embargo)).any()


def test_chronological_embargo():
    g = default_embargo(K, L)
    assert g >= K + L - 1
    train, val, test = chronological(0, 999, (0.7, 0.15, 0.15), g)
    t = np.arange(1000)
    parts = [t[r.contains(t)] for r in (train, val, test)]
    _assert_no_leak(parts[0], parts[1])
    _assert_no_leak(parts[0], parts[2])
    _assert_no_leak(parts[1], parts[2])
    assert parts[0].max() < parts[1].min() < parts[2].min()
    assert val.start - train.stop == g and test.start - val.stop == g


@pytest.mark.parametrize("mode", ["expanding", "rolling"])
def test_walk_forward(mode):
    folds = walk_forward(0, 999, 4, 100, default_embargo(K, L), mode=mode, train_size=300)
    assert len(folds) == 4
    t = np.arange(1000)
    for train, test in folds:
        _assert_no_leak(t[train.contains(t)], t[test.contains(t)])
        if mode == "rolling":
            assert train.stop - train.start <= 300
    assert folds[-1][1].stop == 1000


def test_purged_kfold_no_overlap_and_embargo():
    times = np.repeat(np.arange(600), 2)  # two symbols share the time axis
    emb = 7
    folds = purged_kfold(times, 5, K, L, embargo=emb)
    for train_mask, test_mask in folds:
        assert not (train_mask & test_mask).any()
        _assert_no_leak(times[train_mask], times[test_mask], embargo=emb)
        # purging is not over-eager: most non-test samples survive
        assert train_mask.sum() > 0.6 * (~test_mask).sum()
