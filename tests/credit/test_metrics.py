"""Credit metrics, calibration, decisions, logistic-regression baseline."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.credit import metrics as credit_metrics
from quantjax.credit.calibration import (
    apply_temperature,
    fit_temperature,
    fit_temperature_shift,
)
from quantjax.credit.decisions import decide
from quantjax.credit.explain import modality_importance, reason_codes


def _auc_brute(y, p):
    pos, neg = p[y == 1], p[y == 0]
    d = pos[:, None] - neg[None, :]
    return ((d > 0) + 0.5 * (d == 0)).mean()


def _ks_brute(y, p):
    best = 0.0
    for t in np.unique(p):
        tpr = np.mean(p[y == 1] >= t)
        fpr = np.mean(p[y == 0] >= t)
        best = max(best, abs(tpr - fpr))
    return best


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=40))
def test_auc_ks_match_brute_force_with_ties(rows):
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows], float) / 6.0
    if y.min() == y.max():
        assert np.isnan(credit_metrics.auc(y, p))
        return
    assert credit_metrics.auc(y, p) == pytest.approx(_auc_brute(y, p))
    assert float(credit_metrics.auc_jax(y, p)) == pytest.approx(_auc_brute(y, p), abs=1e-5)
    assert credit_metrics.ks(y, p) == pytest.approx(_ks_brute(y, p))


def test_threshold_metrics_by_hand():
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.4, 0.6, 0.1, 0.2, 0.7])
    m = credit_metrics.all_metrics(y, p, threshold=0.5)
    # predicted default: rows 0, 2, 5 -> tp 2, fp 1, fn 1, tn 2
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["precision"] == pytest.approx(2 / 3)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["fpr"] == pytest.approx(1 / 3)
    assert m["gini"] == pytest.approx(2 * m["auc"] - 1)
    assert m["brier"] == pytest.approx(np.mean((p - y) ** 2))
    ll = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    assert m["log_loss"] == pytest.approx(ll)


def test_ece_by_hand_and_calibrated_is_small():
    y = np.array([0, 1, 1, 1])
    p = np.array([0.05, 0.05, 0.95, 0.95])  # bin0: mean .05 rate .5; bin9: mean .95 rate 1
    assert credit_metrics.ece(y, p, bins=10) == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    rng = np.random.default_rng(0)
    q = rng.uniform(size=50_000)
    assert credit_metrics.ece(rng.uniform(size=q.size) < q, q) < 0.01


def test_temperature_scaling_recovers_temperature():
    rng = np.random.default_rng(1)
    true = rng.normal(0, 2, 20_000)
    y = (rng.uniform(size=true.size) < 1 / (1 + np.exp(-true))).astype(int)
    t = fit_temperature(y, true * 3.0)  # overconfident by 3x
    assert t == pytest.approx(3.0, rel=0.05)
    p = apply_temperature(true * 3.0, t)
    assert credit_metrics.ece(y, p) < 0.02
    assert credit_metrics.auc(y, p) == pytest.approx(credit_metrics.auc(y, true))  # monotone: ranking kept


def test_temperature_and_shift_recover_class_weighted_logits():
    """A class-weighted loss moves the intercept; T alone (around logit = shift) cannot undo a
    wrong shift, the joint fit recovers both and keeps the ranking."""
    rng = np.random.default_rng(2)
    true = rng.normal(-1.0, 1.5, 20_000)
    y = (rng.uniform(size=true.size) < 1 / (1 + np.exp(-true))).astype(int)
    z = 2.0 * true + 1.2  # overconfident 2x, intercept off by 1.2
    t, shift = fit_temperature_shift(y, z, shift0=0.8)  # analytic shift 0.8 is wrong
    assert t == pytest.approx(2.0, rel=0.05) and shift == pytest.approx(1.2, abs=0.1)
    p = apply_temperature(z - shift, t)
    assert credit_metrics.ece(y, p) < 0.02
    assert abs(p.mean() - y.mean()) < 1e-6  # the maximum-likelihood intercept: mean PD = rate
    assert credit_metrics.ece(y, apply_temperature(z - 0.8, fit_temperature(y, z - 0.8))) > credit_metrics.ece(y, p)
    # already calibrated: T = 1, shift = 0 up to noise
    t1, s1 = fit_temperature_shift(y, true, shift0=0.5)
    assert t1 == pytest.approx(1.0, abs=0.05) and s1 == pytest.approx(0.0, abs=0.05)


def test_calibrate_fits_the_shift_only_for_a_class_weighted_loss():
    from quantjax.config import load
    from quantjax.credit.config import CreditConfig
    from quantjax.credit.pipeline import calibrate

    rng = np.random.default_rng(3)
    true = rng.normal(-1.0, 1.5, 2_000)
    y = (rng.uniform(size=true.size) < 1 / (1 + np.exp(-true))).astype(int)
    z = true + 0.9  # a class-weighted network's logit, the analytic shift log(2/1) ~ 0.69
    cfg = load(CreditConfig, None, [])
    t, s = calibrate(cfg, (1.0, 2.0), y, z)
    assert s == pytest.approx(0.9, abs=0.15) and t == pytest.approx(1.0, abs=0.15)
    t0, s0 = calibrate(cfg, (1.0, 1.0), y, true)  # unweighted loss: temperature only
    assert s0 == 0.0 and t0 == pytest.approx(1.0, abs=0.15)
    off = load(CreditConfig, None, ["calibration.fit_shift=false"])
    assert calibrate(off, (1.0, 2.0), y, z)[1] == pytest.approx(np.log(2.0))
    # the prior only matters with few rows: 2,000 rows give the plain maximum likelihood
    ml = load(CreditConfig, None, ["calibration.prior_sd=null"])
    assert calibrate(ml, (1.0, 2.0), y, z) == pytest.approx((t, s), abs=0.02)


def test_temperature_shift_degenerate_inputs():
    y = np.array([0, 1, 0, 0, 1, 0, 0, 0])
    assert fit_temperature_shift(np.zeros(5), np.arange(5.0), 0.7) == (1.0, 0.7)  # one class
    t, s = fit_temperature_shift(y, np.full(8, 0.3), 0.0)  # no information: PD = base rate
    assert apply_temperature(0.3 - s, t) == pytest.approx(y.mean())
    t, s = fit_temperature_shift(y, -np.arange(8.0) * y, 0.0)  # backwards ranking
    assert np.isfinite([t, s]).all() and 0 < t <= np.exp(4.0) + 1e-9


def test_decisions_bands_and_boundaries():
    d = decide(np.array([0.0, 0.0999, 0.1, 0.2999, 0.3, 1.0]), 0.1, 0.3)
    assert list(d["risk_category"]) == ["LOW", "LOW", "MEDIUM", "MEDIUM", "HIGH", "HIGH"]
    assert list(d["decision"]) == ["APPROVE", "APPROVE", "REVIEW", "REVIEW", "DECLINE",
                                   "DECLINE"]
    assert d["confidence"][0] == 1.0 and d["confidence"][4] == pytest.approx(0.7)


def test_reason_codes_only_positive_and_sorted():
    v = np.array([[0.1, -2.0, 0.5, 0.0, 0.3], [-1.0, -1.0, -1.0, -1.0, -1.0]])
    codes = reason_codes(v, 4)
    assert codes[0].tolist() == [2, 4, 0, -1]
    assert codes[1].tolist() == [-1, -1, -1, -1]
    imp = modality_importance(v, np.array([0, 0, 1, 2, 3]))
    assert imp.sum(1) == pytest.approx([1.0, 1.0])
    assert imp[0, 0] == pytest.approx(2.1 / 2.9)


def test_logreg_baseline_learns_planted_signal():
    from quantjax.credit.logreg import fit_logreg, predict_logreg
    from quantjax.data.credit import CreditBatch

    rng = np.random.default_rng(0)

    def draw(n):
        x = rng.normal(size=(n, 3)).astype(np.float32)
        cat = rng.integers(2, 5, (n, 1)).astype(np.int32)
        text = rng.integers(0, 6, (n, 4)).astype(np.int32)
        z = 1.5 * x[:, 0] - x[:, 1] + np.array([0, 0, -1, 0, 1])[cat[:, 0]] + (text == 5).sum(1)
        y = (rng.uniform(size=n) < 1 / (1 + np.exp(-z))).astype(np.int32)
        return CreditBatch(x, cat, text, np.zeros((n, 0, 1), np.float32), y), z

    (tr, _), (va, _), (te, zte) = draw(3000), draw(1000), draw(2000)
    params, info = fit_logreg(tr, va, (5,), 6, (1e-3, 1e-1), steps=300)
    auc = credit_metrics.auc(te.target, predict_logreg(params, te))
    assert auc > credit_metrics.auc(te.target, zte) - 0.01
    assert info["l2"] in (1e-3, 1e-1)
