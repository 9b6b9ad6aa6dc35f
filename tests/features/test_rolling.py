"""The rolling rank count behind ``volatility_regime``: both algorithms against numpy."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.features import rolling

ALGOS = {
    "direct": jax.jit(rolling.count_below_direct, static_argnums=1),
    "sorted": jax.jit(rolling.count_below_sorted, static_argnums=1),
    "auto": jax.jit(rolling.count_below, static_argnums=1),
}
SPECIAL = [np.nan, -np.nan, 0.0, -0.0, np.inf, -np.inf]


def brute(x: np.ndarray, W: int) -> np.ndarray:
    """``#{j in [t-W+1, t], j >= 0 : x_j < x_t}`` with numpy's IEEE compares."""
    return np.array(
        [np.sum(x[max(0, t - W + 1) : t + 1] < x[t]) for t in range(len(x))], np.int32
    )


def _series(rng: np.random.Generator, T: int) -> np.ndarray:
    """Small integers (many ties) with NaN, signed zeros and infinities mixed in."""
    x = rng.integers(-3, 4, T).astype(np.float32)
    special = rng.random(T) < 0.2
    x[special] = rng.choice(np.array(SPECIAL, np.float32), special.sum())
    return x


@settings(max_examples=12, deadline=None)
@given(
    T=st.sampled_from([1, 9, 64]),
    W=st.sampled_from([1, 2, 3, 7, 16, 33, 100]),
    seed=st.integers(0, 2**16),
)
def test_both_algorithms_equal_brute_force(T, W, seed):
    x = _series(np.random.default_rng(seed), T)
    want = brute(x, W)
    for name, f in ALGOS.items():
        got = np.asarray(f(x, W))
        assert got.dtype == np.int32
        np.testing.assert_array_equal(got, want, err_msg=name)


@pytest.mark.parametrize("name", ["direct", "sorted"])
def test_continuous_values_and_window_longer_than_series(name):
    x = np.random.default_rng(1).standard_normal(300).astype(np.float32)
    for W in (50, 299, 300, 1000):
        np.testing.assert_array_equal(np.asarray(ALGOS[name](x, W)), brute(x, W))


@settings(max_examples=6, deadline=None)
@given(t=st.integers(0, 298), seed=st.integers(0, 2**16))
def test_causal(t, seed):
    """Perturbing x after t leaves every count at <= t bit-identical."""
    rng = np.random.default_rng(seed)
    x = _series(rng, 300)  # 300 values, window 50: the programs of the test above
    y = x.copy()
    y[t + 1 :] = _series(rng, 299 - t)
    for name in ("direct", "sorted"):
        a, b = np.asarray(ALGOS[name](x, 50)), np.asarray(ALGOS[name](y, 50))
        np.testing.assert_array_equal(a[: t + 1], b[: t + 1], err_msg=name)


def test_dispatch_by_crossover():
    """``count_below`` takes the sorted path above the crossover (same result either way)."""
    W = rolling.COUNT_BELOW_CROSSOVER + 1
    x = np.random.default_rng(2).integers(0, 50, 2 * W + 5).astype(np.float32)
    jaxpr = str(jax.make_jaxpr(lambda v: rolling.count_below(v, W))(x))
    assert "sort" in jaxpr
    assert "sort" not in str(jax.make_jaxpr(lambda v: rolling.count_below(v, W - 1))(x))
    np.testing.assert_array_equal(np.asarray(ALGOS["auto"](x, W)), brute(x, W))


@pytest.mark.parametrize("size", [16, 2**15])  # int16 trees, int32 trees
def test_fenwick_scan(size):
    """Insert then count ranks below, per row; ranks >= size insert nothing."""
    rng = np.random.default_rng(3)
    ins = rng.integers(0, size + 3, (3, 40)).astype(np.int32)
    qry = rng.integers(0, size + 1, (3, 40)).astype(np.int32)
    got = np.asarray(rolling._fenwick_scan(ins, qry, size))
    for r in range(3):
        for c in range(40):
            seen = ins[r, : c + 1]
            assert got[r, c] == np.sum(seen[seen < size] < qry[r, c])
