"""Window gathering inside jit, sample validity, O(T*F) memory."""

from __future__ import annotations

import jax
import numpy as np

from quantjax.features.windows import gather_windows, sample_index, sample_valid


def test_gather_matches_numpy():
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(3, 40, 5)).astype(np.float32)
    index = np.array([[0, 9], [2, 39], [1, 20]], np.int32)
    L = 10
    got = jax.jit(gather_windows, static_argnums=2)(feats, index, L)
    assert got.shape == (3, L, 5)
    for b, (s, t) in enumerate(index):
        np.testing.assert_array_equal(np.asarray(got[b]), feats[s, t - L + 1 : t + 1])


def test_sample_valid_rule():
    valid = np.ones((1, 30), bool)
    valid[0, 12] = False
    label_valid = np.ones((1, 30), bool)
    label_valid[0, 25:] = False
    ok = sample_valid(valid, label_valid, 5)
    expect = np.array([
        t >= 4 and not (t - 4 <= 12 <= t) and t < 25 for t in range(30)
    ])
    np.testing.assert_array_equal(ok[0], expect)
    idx = sample_index(ok, (0, 20))
    assert idx.dtype == np.int32 and idx.shape[1] == 2
    assert set(idx[:, 1]) == {t for t in range(20) if expect[t]}
