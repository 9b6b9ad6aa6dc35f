"""PD backtest: the binomial and Jeffreys tests against SciPy, Hosmer-Lemeshow and Brier by
hand, traffic lights, the id join and its bad-input messages, the CLI end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from quantjax.cli.main import main
from quantjax.credit.backtest_pd import (
    backtest,
    calibration_tests,
    hosmer_lemeshow,
    jeffreys,
    join,
    traffic_light,
)
from quantjax.credit.special import beta_ppf, betainc, binom_sf, chi2_sf
from quantjax.errors import DataError


@pytest.mark.parametrize("d,n,pd_", [(0, 10, 0.01), (3, 50, 0.02), (30, 100, 0.25),
                                     (120, 1000, 0.1), (7, 7, 0.9), (1, 2000, 0.0005)])
def test_jeffreys_matches_scipy_beta(d, n, pd_):
    jf = jeffreys(d, n, pd_, level=0.95)
    a, b = d + 0.5, n - d + 0.5
    assert jf["p_value"] == pytest.approx(stats.beta.cdf(pd_, a, b), rel=1e-9, abs=1e-14)
    assert jf["lower"] == pytest.approx(stats.beta.ppf(0.025, a, b), rel=1e-9, abs=1e-13)
    assert jf["upper"] == pytest.approx(stats.beta.ppf(0.975, a, b), rel=1e-9, abs=1e-13)


def test_special_functions_match_scipy():
    rng = np.random.default_rng(0)
    for _ in range(200):
        a, b = rng.uniform(0.3, 300, 2)
        x, q = rng.uniform(size=2)
        assert betainc(a, b, x) == pytest.approx(stats.beta.cdf(x, a, b), abs=1e-11)
        assert beta_ppf(q, a, b) == pytest.approx(stats.beta.ppf(q, a, b), abs=1e-11)
        n = int(rng.integers(1, 3000))
        k = int(rng.integers(0, n + 1))
        assert binom_sf(k, n, x) == pytest.approx(stats.binom.sf(k - 1, n, x), abs=1e-11)
        df, chi = float(rng.integers(1, 20)), rng.uniform(0, 60)
        assert chi2_sf(chi, df) == pytest.approx(stats.chi2.sf(chi, df), abs=1e-12)


def test_hosmer_lemeshow_and_brier_by_hand():
    y = np.array([0, 0, 1, 0, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.8])
    hl = hosmer_lemeshow(y, p, groups=3)
    stat = 0.0
    for rows in ([0, 1], [2, 3], [4, 5]):
        e, o = p[rows].sum(), y[rows].sum()
        stat += (o - e) ** 2 / (e * (1 - e / 2))
    assert hl["statistic"] == pytest.approx(stat, rel=1e-12)
    assert hl["df"] == 1 and hl["p_value"] == pytest.approx(stats.chi2.sf(stat, 1), rel=1e-9)
    t = calibration_tests(y, p, groups=3)
    assert t["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert t["binomial_p"] == pytest.approx(stats.binom.sf(2, 6, p.mean()), rel=1e-9)
    assert (t["n"], t["defaults"], t["observed_rate"]) == (6, 3, 0.5)


def test_traffic_lights_and_bands():
    assert [traffic_light(v) for v in (0.5, 0.05, 0.049, 0.001, 0.0009)] == [
        "green", "green", "yellow", "yellow", "red"]
    rng = np.random.default_rng(1)
    n = 3000
    p = rng.choice([0.02, 0.15, 0.5], n)
    y = (rng.random(n) < p).astype(int)
    band = np.array(["LOW", "MEDIUM", "HIGH"])[np.searchsorted([0.1, 0.3], p)]
    y_bad = np.where(band == "LOW", (rng.random(n) < 0.08).astype(int), y)  # PD 2%, 8% observed
    res = backtest(y_bad, p, band)
    assert list(res["bands"]) == ["LOW", "MEDIUM", "HIGH"]
    assert res["bands"]["LOW"]["traffic_light"] == "red"
    assert res["bands"]["HIGH"]["traffic_light"] == "green"
    assert res["overall"]["n"] == n


def _files(tmp_path, ids_out=None, outcome=None):
    scores = pd.DataFrame({"application_id": ["A1", "A2", "A3", "A4"],
                           "risk_score": [0.05, 0.2, 0.5, 0.4],
                           "risk_category": ["LOW", "MEDIUM", "HIGH", "HIGH"]})
    outcomes = pd.DataFrame({"application_id": ids_out or ["A1", "A2", "A3", "A9"],
                             "defaulted": outcome or ["0", "0", "1", "1"]})
    s, o = tmp_path / "s.csv", tmp_path / "o.csv"
    scores.to_csv(s, index=False)
    outcomes.to_csv(o, index=False)
    return scores, outcomes, s, o


def test_join_counts_unmatched_rows_and_refuses_bad_ids(tmp_path):
    scores, outcomes, _, _ = _files(tmp_path)
    merged, counts = join(scores, outcomes, "application_id", "defaulted")
    assert merged["id"].tolist() == ["A1", "A2", "A3"]
    assert counts == {"scores": 4, "outcomes": 4, "matched": 3, "scores_without_outcome": 1,
                      "outcomes_without_score": 1, "missing_outcome": 0}
    dup = outcomes.copy()
    dup.loc[3, "application_id"] = "A1"
    with pytest.raises(DataError, match="id 'A1' in column 'application_id' appears twice"):
        join(scores, dup, "application_id", "defaulted")
    with pytest.raises(DataError, match="3 distinct values"):
        join(scores, outcomes.assign(defaulted=["0", "1", "2", "1"]), "application_id",
             "defaulted")
    with pytest.raises(DataError, match="column 'risk_score' must hold PDs"):
        join(scores.assign(risk_score=[0.1, 2.0, 0.3, 0.1]), outcomes, "application_id",
             "defaulted")


def test_backtest_pd_cli(tmp_path, capsys):
    _, _, s, o = _files(tmp_path)
    out = tmp_path / "bt"
    assert main(["credit", "backtest-pd", "--scores", str(s), "--outcomes", str(o),
                 "--out", str(out)]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["settings"]["id"] == "application_id" and m["settings"]["outcome"] == "defaulted"
    assert set(m["bands"]) == {"LOW", "MEDIUM", "HIGH"} and m["overall"]["n"] == 3
    assert m["join"]["scores_without_outcome"] == 1
    for k in ("observed_rate", "predicted_rate", "binomial_p", "jeffreys_p", "brier",
              "traffic_light", "hosmer_lemeshow"):
        assert k in m["overall"], k
    assert (out / "config.yaml").is_file()
    assert "not used" in capsys.readouterr().out


@pytest.mark.parametrize("extra,msg", [
    (["--id", "nope"], "no id column 'nope'"),
    (["--outcome", "x"], "no column 'x'"),
    (["--positive", "yes"], "positive label 'yes'"),
    (["--red", "0.1"], "--red"),
])
def test_backtest_pd_bad_input_is_one_line(tmp_path, capsys, extra, msg):
    _, _, s, o = _files(tmp_path)
    rc = main(["credit", "backtest-pd", "--scores", str(s), "--outcomes", str(o),
               "--out", str(tmp_path / "bt"), *extra])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and msg in err, err
    assert not (tmp_path / "bt" / "metrics.json").exists()
