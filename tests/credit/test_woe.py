"""Feature strength: WoE and IV against hand computations, the zero-cell convention, the
merge to monotone WoE (property test) and the metrics.json layout."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.config.credit_schema import CreditSchema
from quantjax.credit.woe import (
    ZERO_CELL,
    categorical_strength,
    feature_strength,
    flag,
    monotone_merge,
    numeric_strength,
    quantile_edges,
    woe_iv,
)


def test_woe_and_iv_match_a_hand_computation():
    # 3 bins: bads 10, 20, 30 (B = 60); goods 90, 60, 30 (G = 180)
    woe, iv = woe_iv([10, 20, 30], [90, 60, 30])
    hand_woe = [math.log((90 / 180) / (10 / 60)), math.log((60 / 180) / (20 / 60)),
                math.log((30 / 180) / (30 / 60))]
    np.testing.assert_allclose(woe, hand_woe, rtol=1e-12)
    assert hand_woe[1] == 0.0  # the average bin
    hand_iv = [(90 / 180 - 10 / 60) * hand_woe[0], 0.0, (30 / 180 - 30 / 60) * hand_woe[2]]
    np.testing.assert_allclose(iv, hand_iv, rtol=1e-12, atol=1e-15)
    assert iv.sum() == pytest.approx(2 * (1 / 3) * math.log(3), rel=1e-12)


def test_zero_cell_convention_adds_half_to_both_counts_of_that_bin_only():
    woe, iv = woe_iv([0, 5, 5], [10, 10, 0])
    # totals stay B = 10, G = 20; bin 0 becomes (0.5 bads, 10.5 goods), bin 2 (5.5, 0.5)
    assert ZERO_CELL == 0.5
    want = [math.log((10.5 / 20) / (0.5 / 10)), math.log((10 / 20) / (5 / 10)),
            math.log((0.5 / 20) / (5.5 / 10))]
    np.testing.assert_allclose(woe, want, rtol=1e-12)
    assert np.isfinite(iv).all()
    np.testing.assert_allclose(iv[0], (10.5 / 20 - 0.5 / 10) * want[0], rtol=1e-12)


def test_numeric_table_by_hand_with_a_missing_bin():
    # values 1..8, quantile bins of 2 values each (bins=4), one missing value
    x = np.array([1, 2, 3, 4, 5, 6, 7, 8, np.nan])
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1, 1])
    t = numeric_strength(x, y, bins=4)
    assert quantile_edges(x[:8], 4).tolist() == [2.0, 4.0, 6.0]
    # rates by bin (1,2] 0/2, (2,4] 1/2, (4,6] 1/2, (6,8] 2/2: PAV merges the two middle bins
    # (equal rates); the end bins keep their zero cells (+0.5 each)
    assert t["direction"] == "increasing"
    assert [b["bin"] for b in t["bins"]] == ["(-inf, 2]", "(2, 6]", "(6, inf]", "missing"]
    assert [(b["bads"], b["goods"]) for b in t["bins"]] == [(0, 2), (2, 2), (2, 0), (1, 0)]
    miss = t["bins"][-1]
    assert miss["bin"] == "missing" and (miss["bads"], miss["goods"]) == (1, 0)
    # every bin by hand: B = 5, G = 4 over all rows, zero cells +0.5
    tot_b, tot_g = 5, 4
    for b in t["bins"]:
        bb, gg = b["bads"], b["goods"]
        if bb == 0 or gg == 0:
            bb, gg = bb + 0.5, gg + 0.5
        w = math.log((gg / tot_g) / (bb / tot_b))
        assert b["woe"] == pytest.approx(w, rel=1e-12)
        assert b["iv"] == pytest.approx((gg / tot_g - bb / tot_b) * w, rel=1e-12)
    assert t["iv"] == pytest.approx(sum(b["iv"] for b in t["bins"]), rel=1e-12)
    assert sum(b["n"] for b in t["bins"]) == 9


def test_categorical_table_by_hand():
    v = np.array(["a", "a", "a", "b", "b", None, "a", "b"], dtype=object)
    y = np.array([1, 0, 0, 1, 1, 0, 0, 0])
    t = categorical_strength(v, y)
    assert [b["bin"] for b in t["bins"]] == ["a", "b", "missing"]
    # B = 3, G = 5: a (1 bad, 3 goods), b (2, 1), missing (0 -> 0.5, 1 -> 1.5)
    hand = {"a": (1, 3), "b": (2, 1), "missing": (0.5, 1.5)}
    total = 0.0
    for b in t["bins"]:
        bb, gg = hand[b["bin"]]
        w = math.log((gg / 5) / (bb / 3))
        assert b["woe"] == pytest.approx(w, rel=1e-12)
        total += (gg / 5 - bb / 3) * w
    assert t["iv"] == pytest.approx(total, rel=1e-12)


def test_flags():
    assert flag(0.01) == "not predictive"
    assert flag(0.1) == "ok"
    assert flag(0.6) == "check for leakage"
    assert flag(0.3, leak_iv=0.25) == "check for leakage"


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.integers(0, 30)), min_size=1, max_size=12))
def test_monotone_merge_gives_strictly_monotone_woe(cells):
    bads = np.array([c[0] for c in cells], float)
    goods = np.array([c[1] for c in cells], float)
    if bads.sum() == 0 or goods.sum() == 0:
        return
    blk, direction = monotone_merge(bads, goods)
    assert blk[0] == 0 and np.all(np.diff(blk) >= 0) and np.all(np.diff(blk) <= 1)  # contiguous
    pb = np.bincount(blk, weights=bads)
    pg = np.bincount(blk, weights=goods)
    assert pb.sum() == bads.sum() and pg.sum() == goods.sum()
    assert (pb + pg > 0).all() or len(pb) == 1  # no empty bin
    woe = woe_iv(pb, pg)[0]
    step = -np.diff(woe) if direction == "increasing" else np.diff(woe)
    assert (step > 0).all()


def test_feature_strength_metrics_layout():
    rng = np.random.default_rng(0)
    n = 4000
    y = (rng.random(n) < 0.3).astype(int)
    df = pd.DataFrame({"strong": rng.normal(size=n) + 1.5 * y, "noise": rng.normal(size=n),
                       "cat": rng.choice(["a", "b"], n), "leak": y.astype(float)})
    schema = CreditSchema(numeric=("strong", "noise", "leak"), categorical=("cat",), target="y",
                          positive="1")
    f = feature_strength(df, y, schema, bins=10)
    assert list(f["iv"]) == list(f["woe"]) == list(f["flags"])
    ivs = list(f["iv"].values())
    assert ivs == sorted(ivs, reverse=True)  # largest first
    assert f["flags"]["leak"] == "check for leakage"
    assert f["flags"]["noise"] == "not predictive"
    assert f["flags"]["strong"] == "check for leakage" or f["iv"]["strong"] > 0.3
    assert f["woe"]["strong"]["direction"] == "increasing"
    assert f["settings"] == {"bins": 10, "weak_iv": 0.02, "leak_iv": 0.5, "zero_cell": 0.5,
                             "rows": n}
