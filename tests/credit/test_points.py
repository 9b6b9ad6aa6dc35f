"""Score points: the log-odds formula, its inverse, the config and that points never change a
decision."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from quantjax.config import from_dict
from quantjax.credit.config import CreditDecisionConfig
from quantjax.credit.decisions import decide
from quantjax.credit.points import pd_at_points, points, points_of, points_summary
from quantjax.errors import ConfigError


def test_points_follow_the_formula():
    pdo, base, odds0 = 20.0, 600.0, 50.0
    factor = pdo / math.log(2)
    offset = base - factor * math.log(odds0)
    pd_ = np.array([0.01, 0.1, 0.3, 0.9])
    want = offset + factor * np.log((1 - pd_) / pd_)
    np.testing.assert_allclose(points(pd_, pdo, base, odds0), want, rtol=1e-12)
    # the base odds score the base score; doubling the odds adds pdo points
    p0 = 1 / (1 + odds0)
    p1 = 1 / (1 + 2 * odds0)
    assert points(p0, pdo, base, odds0) == pytest.approx(base, abs=1e-9)
    assert points(p1, pdo, base, odds0) - points(p0, pdo, base, odds0) == pytest.approx(pdo)
    np.testing.assert_allclose(pd_at_points(points(pd_)), pd_, rtol=1e-10)
    assert np.isfinite(points(np.array([0.0, 1.0]))).all()


def test_points_config_and_summary():
    dc = from_dict(CreditDecisionConfig, {"points": {"pdo": 50, "base_score": 500,
                                                     "base_odds": 19}})
    s = points_summary(dc)
    assert (s["pdo"], s["base_score"], s["base_odds"]) == (50.0, 500.0, 19.0)
    assert s["at_low"] == pytest.approx(points(0.1, 50, 500, 19))
    assert s["at_high"] < s["at_low"]
    with pytest.raises(ConfigError, match="unknown config key 'points.scale'"):
        from_dict(CreditDecisionConfig, {"points": {"scale": 1}})
    with pytest.raises(ConfigError, match="points.pdo"):
        from_dict(CreditDecisionConfig, {"points": {"pdo": 0}})


@given(st.lists(st.floats(1e-6, 1 - 1e-6), min_size=1, max_size=50),
       st.floats(1, 100), st.floats(100, 900), st.floats(0.5, 200))
def test_points_are_monotone_and_never_change_a_decision(pds, pdo, base, odds0):
    pd_ = np.array(pds)
    pts = points(pd_, pdo, base, odds0)
    order = np.argsort(pd_, kind="stable")
    assert np.all(np.diff(pts[order]) <= 1e-9)  # higher PD, fewer points
    dc = from_dict(CreditDecisionConfig, {"points": {"pdo": pdo, "base_score": base,
                                                     "base_odds": odds0}})
    # decisions come from the PD: more points never get a harsher decision
    rank = {"APPROVE": 0, "REVIEW": 1, "DECLINE": 2}
    dec = np.array([rank[d] for d in decide(pd_)["decision"]])
    by_points = np.argsort(-pts, kind="stable")
    assert np.all(np.diff(dec[by_points]) >= 0) or np.allclose(np.diff(pts[by_points]), 0)
    np.testing.assert_allclose(points_of(dc, pd_), pts)


def test_scores_carry_points_beside_the_pd(tiny_credit_run, tmp_path):
    import pandas as pd

    from quantjax.cli.main import main

    from support.paths import GERMAN_CSV

    out = tmp_path / "s.csv"
    assert main(["score", "credit", "--checkpoint", str(tiny_credit_run), "--data",
                 str(GERMAN_CSV), "--out", str(out), "--no-explain"]) == 0
    s = pd.read_csv(out)
    cols = list(s.columns)
    assert cols.index("points") == cols.index("risk_score") + 1
    np.testing.assert_allclose(s["points"], points(s["risk_score"].to_numpy()), rtol=1e-9)
    assert ((s["risk_score"] < 0.1) == (s["decision"] == "APPROVE")).all()
