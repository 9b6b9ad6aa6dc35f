"""Segments and fairness (adverse impact ratio, AUC gap) by hand, the schema's practice keys
and their errors, adverse-action statements (grouping, dedup, at most 4, adverse rows only,
generated fallback), the monotonicity check, and the tiny run's metrics.json / report keys."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from quantjax.config import from_dict
from quantjax.config.credit_schema import CreditSchema
from quantjax.credit import metrics as credit_metrics
from quantjax.credit.explain import feature_space
from quantjax.credit.monotone import grid_values, ice_curves, monotonicity_report, violations
from quantjax.credit.reasons import adverse_reasons, statement_groups
from quantjax.credit.segments import fairness_report, group_reports, segment_report
from quantjax.data.credit import check_credit_frame, encode, fit_encoder
from quantjax.errors import ConfigError, DataError


def _schema(**kw) -> CreditSchema:
    base = {"numeric": ["income", "debt"], "categorical": ["purpose"], "target": "y",
            "positive": "1"}
    return from_dict(CreditSchema, {**base, **kw})


# --------------------------------------------------------------------------- segments, fairness


def test_fairness_adverse_impact_ratio_and_auc_gap_by_hand():
    g = np.array(["a"] * 6 + ["b"] * 4 + [None] * 2, dtype=object)
    p = np.array([0.05, 0.05, 0.05, 0.2, 0.2, 0.4, 0.05, 0.2, 0.4, 0.5, 0.05, 0.3])
    y = np.array([0, 0, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1])
    r = fairness_report(g, y, p, low=0.1, min_air=0.8, model_input=False, min_rows=1)
    # approval (PD < 0.1): a 3/6, b 1/4, missing 1/2 -> a and missing most approved (0.5)
    assert r["groups"]["a"]["approval_rate"] == 0.5
    assert r["groups"]["b"]["approval_rate"] == 0.25
    assert r["reference_group"] == "a"
    assert r["groups"]["b"]["adverse_impact_ratio"] == 0.5
    assert r["min_adverse_impact_ratio"] == 0.5 and r["below_min_air"] == ["b"]
    auc_a = credit_metrics.auc(y[:6], p[:6])
    auc_b = credit_metrics.auc(y[6:10], p[6:10])
    auc_m = credit_metrics.auc(y[10:], p[10:])
    assert r["auc_gap"] == pytest.approx(max(auc_a, auc_b, auc_m) - min(auc_a, auc_b, auc_m))
    assert r["model_input"] is False
    # groups under min_rows are shown but not counted: the 2-row missing group here
    r3 = fairness_report(g, y, p, low=0.1, min_rows=3)
    assert r3["groups"]["missing"]["small"] and not r3["groups"]["a"]["small"]
    assert r3["auc_gap"] == pytest.approx(abs(auc_a - auc_b))
    assert r3["below_min_air"] == ["b"] and r3["groups"]["missing"]["adverse_impact_ratio"] == 1.0
    seg = segment_report(g, y, p, low=0.1)
    assert list(seg) == ["a", "b", "missing"]
    assert seg["b"]["default_rate"] == 0.5 and seg["b"]["n"] == 4
    assert seg["a"]["ks"] == pytest.approx(credit_metrics.ks(y[:6], p[:6]))


def test_schema_practice_keys_and_errors():
    s = _schema(segments=["region"], protected=["sex"], reasons={"income": "Income is low"},
                monotone={"income": "decreasing"})
    assert s.group_columns == ("region", "sex")
    assert "income_missing" in s.reason_keys
    with pytest.raises(ConfigError, match=r"protected: column 'purpose' is also a model input "
                       r"\(categorical\); .*protected_inputs: true"):
        _schema(protected=["purpose"])
    _schema(protected=["purpose"], protected_inputs=True)
    with pytest.raises(ConfigError, match="reasons: unknown input 'salary'; valid inputs: income"):
        _schema(reasons={"salary": "x"})
    with pytest.raises(ConfigError, match="reasons.income: expected a non-empty statement"):
        _schema(reasons={"income": ""})
    with pytest.raises(ConfigError, match="monotone: 'purpose' is not a numeric input"):
        _schema(monotone={"purpose": "increasing"})
    with pytest.raises(ConfigError, match=r"monotone.income: 'up' is not one of"):
        _schema(monotone={"income": "up"})
    with pytest.raises(ConfigError, match="segments: 'y' is the target column"):
        _schema(segments=["y"])
    with pytest.raises(ConfigError, match="unknown config key 'segment'"):
        _schema(segment=["x"])


def test_segment_and_protected_columns_are_read_and_required_for_training():
    s = _schema(segments=["region"], protected=["sex"])
    df = pd.DataFrame({"income": [1.0, 2.0], "debt": [1.0, 3.0], "purpose": ["a", "b"],
                       "region": [7.0, None], "sex": ["f", "m"], "y": ["1", "0"]})
    out = check_credit_frame(df, s)
    assert out["region"].tolist() == ["7", None]
    with pytest.raises(DataError, match="missing column 'sex' named in the schema's protected"):
        check_credit_frame(df.drop(columns=["sex"]), s)
    check_credit_frame(df.drop(columns=["sex", "y"]), s, require_target=False)  # scoring
    rep = group_reports(out, s, np.array([1, 0]), np.array([0.5, 0.05]), low=0.1)
    assert set(rep) == {"segments", "fairness"}
    assert rep["fairness"]["sex"]["model_input"] is False
    assert set(rep["segments"]["region"]) == {"7", "missing"}


# --------------------------------------------------------------------------- adverse-action reasons


def _encoded():
    schema = _schema()
    df = pd.DataFrame({"income": [10.0, 50.0, np.nan, 30.0], "debt": [5.0, 1.0, 2.0, 4.0],
                       "purpose": ["car", "tv", "car", "boat"], "y": ["1", "0", "0", "1"]})
    df = check_credit_frame(df, schema)
    enc = fit_encoder(df.iloc[:3], schema)
    return schema, df, enc, feature_space(enc)


def test_adverse_reasons_group_dedupe_rank_and_fallback():
    schema, df, enc, fs = _encoded()
    assert fs.names == ("income", "debt", "income_missing", "purpose")
    reasons = {"income": "Income is low", "income_missing": "Income is low",
               "debt": "Debt is high"}
    group, texts = statement_groups(fs, reasons)
    assert texts == ["Income is low", "Debt is high", None]  # purpose: generated per row
    values = np.array([[0.2, 0.3, 0.15, 0.1],     # income group 0.35 > debt 0.3 > purpose 0.1
                       [0.5, 0.4, 0.0, 0.3],      # approved: no reasons
                       [-0.1, 0.05, 0.3, -0.2],   # income group 0.2, debt 0.05; purpose < 0
                       [0.0, 0.0, 0.0, 0.4]])     # unseen category only
    flagged = np.array([True, False, True, True])
    r = adverse_reasons(values, fs, df, flagged, enc, reasons, k=4)
    assert r.statements[0].tolist() == ["Income is low", "Debt is high", "purpose is 'car'", ""]
    np.testing.assert_allclose(r.attributions[0, :3], [0.35, 0.3, 0.1])
    assert np.isnan(r.attributions[0, 3])
    assert r.details[0, 0] == "income = 10; income is missing"  # both inputs, largest first
    assert (r.statements[1] == "").all()
    assert r.statements[2].tolist()[:2] == ["Income is low", "Debt is high"]
    assert r.details[2, 0] == "income is missing"  # only the inputs that pushed the PD up
    assert r.statements[3, 0] == "purpose 'boat' was not seen in training"
    # unmapped: generated statements with the direction against the training mean
    r2 = adverse_reasons(values, fs, df, flagged, enc, {}, k=2)
    assert r2.statements[0].tolist() == ["debt is higher than average",
                                         "income is lower than average"]
    assert r2.statements.shape == (4, 2)


def test_scored_reasons_are_statements_with_attributions(tiny_credit_run, tmp_path):
    from quantjax.cli.main import main

    from support.paths import GERMAN_CSV

    out = tmp_path / "s.csv"
    assert main(["score", "credit", "--checkpoint", str(tiny_credit_run), "--data",
                 str(GERMAN_CSV), "--out", str(out)]) == 0
    s = pd.read_csv(out, keep_default_na=False)
    cal = json.loads((tiny_credit_run / "calibration.json").read_text())
    mapped = set(cal["reasons"].values())
    assert "Loan term is long" in mapped
    flagged = s["decision"] != "APPROVE"
    for i in np.flatnonzero(flagged.to_numpy()):
        st = [s.loc[i, f"reason_{r}"] for r in range(1, 5) if s.loc[i, f"reason_{r}"] != ""]
        assert len(st) == len(set(st)) <= 4  # each statement once
        at = [float(s.loc[i, f"reason_{r}_attribution"]) for r in range(1, len(st) + 1)]
        assert all(a > 0 for a in at) and at == sorted(at, reverse=True)
    used = {v for r in range(1, 5) for v in s[f"reason_{r}"] if v}
    assert used & mapped  # some mapped statement is used
    assert (s.loc[~flagged, [f"reason_{r}" for r in range(1, 5)]] == "").all().all()


# --------------------------------------------------------------------------- monotonicity


def test_violations_and_ice_curves():
    curves = np.array([[0.3, 0.2, 0.1], [0.1, 0.2, 0.15], [0.2, 0.2005, 0.1]])
    assert violations(curves, "decreasing", 1e-3).tolist() == [False, True, False]
    assert violations(curves, "increasing", 1e-3).tolist() == [True, True, True]
    schema, df, enc, _ = _encoded()
    batch = encode(enc, df)
    grid = grid_values(df["income"].iloc[:3].to_numpy(), 5)

    def falls_with_income(b):  # PD falls with the standardized income, ignores the rest
        return 1 / (1 + np.exp(b.numeric[:, 0]))

    curves = ice_curves(falls_with_income, batch, enc, "income", grid)
    assert curves.shape == (4, len(grid)) and (np.diff(curves, axis=1) < 0).all()
    rep = monotonicity_report(falls_with_income, batch, enc, {"income": grid},
                              {"income": "decreasing"})
    assert rep["income"]["share"] == 0.0 and not rep["income"]["flagged"]
    rep = monotonicity_report(falls_with_income, batch, enc, {"income": grid},
                              {"income": "increasing"})
    assert rep["income"]["share"] == 1.0 and rep["income"]["flagged"]


# --------------------------------------------------------------------------- the tiny run


def test_tiny_run_metrics_have_the_practice_keys(tiny_credit_run):
    m = json.loads((tiny_credit_run / "metrics.json").read_text())
    iv = m["features"]["iv"]
    assert {"duration", "credit_amount", "purpose", "checking_status"} <= set(iv)
    assert all(v >= 0 for v in iv.values())
    assert m["features"]["woe"]["duration"]["kind"] == "numeric"
    assert set(m["features"]["flags"].values()) <= {"ok", "not predictive", "check for leakage"}
    assert m["monotonicity"]["duration"]["direction"] == "increasing"
    assert 0 <= m["monotonicity"]["duration"]["share"] <= 1
    assert m["fairness"]["personal_status"]["model_input"] is True
    assert set(m["segments"]["housing"]) <= {"own", "rent", "free", "missing"}
    assert m["points"]["base_score"] == 600.0
