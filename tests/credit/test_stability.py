"""Population stability: PSI/CSI against hand computations, the zero-cell floor, missing and
unseen bins, counts that add up over batches, JSON round trip, and the training run's
reference.json + ``stability.json`` of ``quantjax score credit`` on a moved population."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.cli.main import main
from quantjax.config.credit_schema import CreditSchema
from quantjax.credit.stability import (
    assign,
    bin_counts,
    bin_labels,
    build_reference,
    categorical_bins,
    index,
    index_from_counts,
    numeric_bins,
    stability_report,
    status,
)
from quantjax.errors import UserError

from support.paths import GERMAN_CSV


def test_psi_matches_a_hand_computation():
    r, c = [0.25, 0.25, 0.5], [0.5, 0.25, 0.25]
    hand = (0.5 - 0.25) * math.log(0.5 / 0.25) + 0 + (0.25 - 0.5) * math.log(0.25 / 0.5)
    assert index(r, c) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(0.5 * math.log(2))
    assert index(r, r) == 0.0


def test_zero_cell_floor():
    # an unseen category with 5% of the current rows, absent from the reference
    r, c = [0.5, 0.5, 0.0], [0.475, 0.475, 0.05]
    floor = 1e-4
    hand = 2 * (0.475 - 0.5) * math.log(0.475 / 0.5) + (0.05 - floor) * math.log(0.05 / floor)
    assert index(r, c, floor) == pytest.approx(hand, rel=1e-12)
    assert 0.25 < hand < 0.35
    assert math.isnan(index_from_counts(r, [0, 0, 0]))


def test_status_thresholds():
    assert [status(v) for v in (0.0, 0.0999, 0.1, 0.2499, 0.25, 3.0)] == [
        "stable", "stable", "watch", "watch", "act", "act"]
    assert status(float("nan")) == "stable"


def test_numeric_and_categorical_bins_have_missing_and_unseen_bins():
    x = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    spec = numeric_bins(x, 4)
    assert spec == {"kind": "numeric", "edges": [1.0, 2.0, 3.0]}
    assert bin_labels(spec) == ["(-inf, 1]", "(1, 2]", "(2, 3]", "(3, inf]", "missing"]
    assert assign(spec, np.array([0.5, 1.0, 1.5, 10.0, np.nan])).tolist() == [0, 0, 1, 3, 4]
    cat = categorical_bins(np.array(["b", "a", None, "a"], dtype=object))
    assert cat == {"kind": "categorical", "categories": ["a", "b"]}
    assert bin_labels(cat) == ["a", "b", "missing", "unseen"]
    assert assign(cat, np.array(["a", "zzz", None, "b"], dtype=object)).tolist() == [0, 3, 2, 1]


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.floats(-5, 5)), min_size=1, max_size=60),
       st.integers(1, 59))
def test_counts_of_batches_add_up(values, cut):
    x = np.array([np.nan if v is None else v for v in values], float)
    spec = numeric_bins(np.linspace(-3, 3, 50), 10)
    cut = min(cut, len(x))
    whole = bin_counts(spec, x)
    assert whole.sum() == len(x)
    np.testing.assert_array_equal(whole, bin_counts(spec, x[:cut]) + bin_counts(spec, x[cut:]))


def test_reference_and_report_round_trip_through_json():
    rng = np.random.default_rng(0)
    n = 500
    df = pd.DataFrame({"a": np.where(rng.random(n) < 0.1, np.nan, rng.normal(size=n)),
                       "c": rng.choice(["x", "y", "z"], n).astype(object)})
    schema = CreditSchema(numeric=("a",), categorical=("c",), target="t", positive="1")
    p = rng.uniform(0, 1, n)
    ref = build_reference(df.iloc[:250], schema, p[:250], bins=5)
    ref2 = json.loads(json.dumps(ref))
    cur = df.iloc[250:].copy()
    cur.loc[cur.index[:10], "c"] = "new"  # unseen
    a, b = stability_report(ref, cur, p[250:]), stability_report(ref2, cur, p[250:])
    assert a == b
    assert set(a) >= {"psi", "csi", "ranked", "thresholds", "status", "moved"}
    assert a["thresholds"] == {"watch": 0.1, "act": 0.25}
    assert a["bins"]["c"]["labels"][-1] == "unseen" and a["bins"]["c"]["current"][-1] == 0.04
    # the CSI of c by hand from the shares
    r, c = np.array(ref["inputs"]["c"]["shares"]), np.array(a["bins"]["c"]["current"])
    hand = float(np.sum((np.maximum(c, 1e-4) - np.maximum(r, 1e-4))
                        * np.log(np.maximum(c, 1e-4) / np.maximum(r, 1e-4))))
    assert a["csi"]["c"] == pytest.approx(hand, rel=1e-12)
    with pytest.raises(UserError, match="not a stability reference"):
        stability_report({"format": "other"}, cur)


def test_training_run_stores_the_reference(tiny_credit_run):
    ref = json.loads((tiny_credit_run / "reference.json").read_text())
    assert ref["format"] == "quantjax.credit_reference/1"
    m = json.loads((tiny_credit_run / "metrics.json").read_text())
    assert ref["n"] == m["train"]["n_train"]
    assert ref["thresholds"] == {"watch": 0.1, "act": 0.25} and ref["floor"] == 1e-4
    assert "duration" in ref["inputs"] and "purpose" in ref["inputs"]
    for entry in [ref["pd"], *ref["inputs"].values()]:
        assert sum(entry["shares"]) == pytest.approx(1.0)


def test_score_writes_stability_and_a_moved_input_ranks_first(tiny_credit_run, tmp_path,
                                                              capsys):
    df = pd.read_csv(GERMAN_CSV, dtype=str)
    dur = pd.to_numeric(df["duration"])
    top = df[dur >= dur.quantile(0.75)]
    src = tmp_path / "top.csv"
    top.to_csv(src, index=False)
    out = tmp_path / "scored" / "s.csv"
    assert main(["score", "credit", "--checkpoint", str(tiny_credit_run), "--data", str(src),
                 "--out", str(out), "--no-explain"]) == 0
    assert "CSI duration" in capsys.readouterr().out
    rep = json.loads((out.parent / "stability.json").read_text())
    assert rep["ranked"][0] == "duration" and rep["csi"]["duration"] > 0.25
    assert rep["status"]["duration"] == "act" and rep["moved"][0] == "duration"
    assert rep["n"] == len(top) and rep["psi"] is not None
    assert list(rep["csi"]) == rep["ranked"]
    # the same through the stability command (and a whole-file baseline of the same rows)
    o2 = tmp_path / "st.json"
    assert main(["credit", "stability", "--reference", str(tiny_credit_run), "--data", str(src),
                 "--out", str(o2)]) == 0
    rep2 = json.loads(o2.read_text())
    assert rep2["csi"] == pytest.approx(rep["csi"]) and rep2["psi"] == pytest.approx(rep["psi"])
    o3 = tmp_path / "same.json"
    assert main(["credit", "stability", "--reference", str(tiny_credit_run), "--data", str(src),
                 "--baseline", str(src), "--out", str(o3)]) == 0
    rep3 = json.loads(o3.read_text())
    assert rep3["psi"] == 0.0 and max(rep3["csi"].values()) == 0.0


def test_stability_command_bad_input_is_one_line(tiny_credit_run, tmp_path, capsys):
    rc = main(["credit", "stability", "--reference", str(tmp_path), "--data", str(GERMAN_CSV)])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "calibration.json" in err
    bad = tmp_path / "bad.csv"
    df = pd.read_csv(GERMAN_CSV, dtype=str).drop(columns=["age"])
    df.to_csv(bad, index=False)
    rc = main(["credit", "stability", "--reference", str(tiny_credit_run), "--data", str(bad),
               "--out", str(tmp_path / "x.json")])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "'age'" in err


def test_a_broken_reference_file_is_a_one_line_error(tiny_credit_run, tmp_path, capsys):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_credit_run, run)
    (run / "reference.json").write_text('{"format": "something else"}')
    rc = main(["score", "credit", "--checkpoint", str(run), "--data", str(GERMAN_CSV),
               "--out", str(tmp_path / "s.csv"), "--no-explain"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "not a stability reference" in err
    (run / "reference.json").write_text("{not json")
    assert main(["credit", "stability", "--reference", str(run), "--data",
                 str(GERMAN_CSV)]) == 2
    assert "reference.json: not valid JSON" in capsys.readouterr().err
    (run / "reference.json").unlink()  # an older run: scoring works, without a stability report
    out = tmp_path / "o" / "s.csv"
    assert main(["score", "credit", "--checkpoint", str(run), "--data", str(GERMAN_CSV),
                 "--out", str(out), "--no-explain"]) == 0
    assert "no stability report" in capsys.readouterr().out
    assert not (out.parent / "stability.json").exists()
