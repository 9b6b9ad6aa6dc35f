"""quantjax.stats: information coefficients against scipy, bootstrap intervals."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats as scipy_stats

from quantjax import stats


def test_pearson_and_spearman_match_scipy_with_ties_and_nan():
    rng = np.random.default_rng(0)
    x = np.round(rng.normal(size=200), 1)  # many ties
    y = 0.3 * x + rng.normal(size=200)
    x[[3, 17]] = np.nan
    y[5] = np.inf
    ok = np.isfinite(x) & np.isfinite(y)
    assert stats.pearson(x, y) == pytest.approx(scipy_stats.pearsonr(x[ok], y[ok])[0], rel=1e-12)
    assert stats.spearman(x, y) == pytest.approx(scipy_stats.spearmanr(x[ok], y[ok])[0],
                                                 rel=1e-12)
    assert math.isnan(stats.pearson([1, 2], [3, 4]))
    assert math.isnan(stats.spearman([1, 1, 1, 1], [1, 2, 3, 4]))


def test_cross_sectional_ic_matches_scipy_per_time_step():
    rng = np.random.default_rng(1)
    S, T = 7, 40
    pred = rng.normal(size=(S, T))
    target = 0.2 * pred + rng.normal(size=(S, T))
    mask = rng.random((S, T)) > 0.15
    pred[2, 4] = np.nan
    mask[:, 0] = False
    mask[:2, 1] = True
    mask[2:, 1] = False  # two symbols: below min_symbols
    ic = stats.cross_sectional_ic(pred, target, mask)
    ric = stats.cross_sectional_ic(pred, target, mask, method="spearman")
    for t in range(T):
        ok = mask[:, t] & np.isfinite(pred[:, t])
        if ok.sum() < 3:
            assert np.isnan(ic[t]) and np.isnan(ric[t])
            continue
        assert ic[t] == pytest.approx(scipy_stats.pearsonr(pred[ok, t], target[ok, t])[0],
                                      rel=1e-10, abs=1e-12)
        assert ric[t] == pytest.approx(scipy_stats.spearmanr(pred[ok, t], target[ok, t])[0],
                                       rel=1e-10, abs=1e-12)


def test_ic_summary():
    s = stats.ic_summary([0.1, -0.05, 0.2, np.nan, 0.15])
    x = np.array([0.1, -0.05, 0.2, 0.15])
    assert s["mean"] == pytest.approx(x.mean())
    assert s["std"] == pytest.approx(x.std(ddof=1))
    assert s["icir"] == pytest.approx(x.mean() / x.std(ddof=1))
    assert s["positive_fraction"] == 0.75 and s["n_periods"] == 4
    assert math.isnan(stats.ic_summary([])["mean"])


def test_block_sums_reproduce_the_series_sum_and_are_seeded():
    g = np.arange(1.0, 11.0)[:, None]
    sums = stats.block_resample_sums(np.ones((10, 1)), 3, 50, seed=0)
    np.testing.assert_array_equal(sums[:, 0], 10.0)  # every resample has G groups
    a = stats.block_resample_sums(g, 3, 20, seed=4)
    b = stats.block_resample_sums(g, 3, 20, seed=4)
    np.testing.assert_array_equal(a, b)
    # block = G: every resample is a rotation of the series, so its sum is the total
    np.testing.assert_allclose(stats.block_resample_sums(g, 10, 20, seed=1)[:, 0], 55.0)


def test_block_interval_of_a_mean_has_the_normal_width():
    rng = np.random.default_rng(3)
    x = rng.normal(0.5, 2.0, 4000)
    lo, hi = stats.block_interval(stats.moment_stats(x), stats.mean_std_stat("mean"), 1,
                                  2000, seed=0)
    half = 1.96 * 2.0 / math.sqrt(len(x))
    assert lo < x.mean() < hi
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.15)


def test_block_bootstrap_widens_for_autocorrelated_series():
    rng = np.random.default_rng(5)
    e = rng.normal(size=3000)
    x = np.convolve(e, np.ones(10) / 10, mode="same")  # strongly autocorrelated
    stat = stats.moment_stats(x)
    iid = stats.block_interval(stat, stats.mean_std_stat("mean"), 1, 1000, 0)
    blk = stats.block_interval(stat, stats.mean_std_stat("mean"), 30, 1000, 0)
    assert blk[1] - blk[0] > 2.0 * (iid[1] - iid[0])


def test_correlation_from_sums_matches_pearson():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=50), rng.normal(size=50)
    s = stats.correlation_stats(x, y).sum(axis=0)[None]
    assert stats.correlation_from_sums(s)[0] == pytest.approx(stats.pearson(x, y), rel=1e-10)


def _auc(y, p):
    return scipy_stats.mannwhitneyu(p[y == 1], p[y == 0]).statistic / ((y == 1).sum()
                                                                      * (y == 0).sum())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 3)),
                min_size=4, max_size=30))
def test_weighted_auc_and_ks_equal_those_of_repeated_rows(rows):
    y = np.array([r[0] for r in rows], np.float64)
    p = np.array([r[1] for r in rows], np.float64) / 6.0  # ties
    w = np.array([r[2] for r in rows], np.float64)
    rep_y, rep_p = np.repeat(y, w.astype(int)), np.repeat(p, w.astype(int))
    auc, ks = stats._weighted_auc_ks(y, p, w[None])
    if (rep_y == 1).sum() == 0 or (rep_y == 0).sum() == 0:
        assert np.isnan(auc[0])
        return
    assert auc[0] == pytest.approx(_auc(rep_y, rep_p), abs=1e-12)
    ks_ref = scipy_stats.ks_2samp(rep_p[rep_y == 1], rep_p[rep_y == 0]).statistic
    assert ks[0] == pytest.approx(ks_ref, abs=1e-12)


def test_binary_intervals_cover_the_point_estimates():
    rng = np.random.default_rng(0)
    y = (rng.random(600) < 0.3).astype(float)
    p = np.clip(0.3 + 0.25 * (y - 0.3) + rng.normal(0, 0.15, 600), 0.01, 0.99)
    ci = stats.binary_intervals(y, p, n_resamples=300, seed=1)
    assert set(ci) == {"auc_ci", "ks_ci", "brier_ci", "accuracy_ci"}
    assert ci["auc_ci"][0] < _auc(y, p) < ci["auc_ci"][1]
    brier = float(np.mean((p - y) ** 2))
    assert ci["brier_ci"][0] < brier < ci["brier_ci"][1]
    assert ci == stats.binary_intervals(y, p, n_resamples=300, seed=1)
