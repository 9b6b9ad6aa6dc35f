"""End to end: ``quantjax train credit`` (file + schema, synthetic + CV) and
``quantjax score credit`` (rows kept, reason codes, bad input)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from quantjax.cli.common import Parser
from quantjax.cli.main import main
from quantjax.cli.train_credit import register_credit

from support.credit_runs import TINY
from support.paths import GERMAN_CSV, ROOT

GERMAN = str(GERMAN_CSV)


def _train(argv: list[str]) -> int:
    p = Parser(prog="quantjax train")
    sub = p.add_subparsers(dest="train_command", parser_class=Parser)
    register_credit(sub, [])
    args = p.parse_args(["credit", *argv])
    return args.func(args)


@pytest.fixture(scope="module")
def german_run(tiny_credit_run) -> Path:
    return tiny_credit_run  # the shared tiny credit run (conftest)


def test_train_writes_metrics_and_artifacts(german_run):
    m = json.loads((german_run / "metrics.json").read_text())
    for k in ("auc", "gini", "ks", "accuracy", "precision", "recall", "f1", "fpr", "brier",
              "ece", "log_loss", "logreg_auc"):
        assert k in m["test"], k
    assert 0.0 <= m["test"]["auc"] <= 1.0
    for k in ("auc", "ks", "brier", "accuracy"):  # row-bootstrap 95% intervals
        lo, hi = m["test"][f"{k}_ci"]
        assert lo <= m["test"][k] <= hi, k
    assert m["test"]["bootstrap"]["unit"] == "row"
    assert (german_run / "calibration.json").is_file()
    assert (german_run / "config.yaml").is_file()
    assert (german_run / "metrics.jsonl").read_text().count("\n") >= 1
    cal = m["calibration"]
    assert cal["temperature"] > 0
    art = json.loads((german_run / "calibration.json").read_text())
    assert art["logit_shift"] == pytest.approx(cal["logit_shift"])  # the fitted shift is scored
    w0, w1 = m["train"]["class_weights"]
    assert cal["class_weight_shift"] == pytest.approx(np.log(w1 / w0))  # its prior centre


def test_finished_run_is_not_overwritten(german_run):
    with pytest.raises(Exception, match="already holds"):
        _train([*TINY, "--data", str(GERMAN), "--schema",
                str(ROOT / "configs" / "credit_schema_german.yaml"),
                "--workdir", str(german_run)])


def test_score_keeps_every_row_and_explains(german_run, tmp_path):
    df = pd.read_csv(GERMAN, dtype=str).drop(columns=["class"])
    df.loc[0, "purpose"] = "spaceship"  # unseen category
    df.loc[1, "duration"] = None  # missing numeric
    df.insert(0, "application_id", [f"A{i}" for i in range(len(df))])
    src = tmp_path / "apps.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "scored.csv"
    assert main(["score", "credit", "--checkpoint", str(german_run), "--data", str(src),
                 "--out", str(out)]) == 0
    s = pd.read_csv(out, keep_default_na=False)
    assert len(s) == len(df) and s["row"].tolist() == list(range(len(df)))
    assert s["application_id"].tolist() == df["application_id"].tolist()
    assert s["risk_score"].between(0, 1).all()
    assert set(s["decision"]) <= {"APPROVE", "REVIEW", "DECLINE"}
    band = {"LOW": "APPROVE", "MEDIUM": "REVIEW", "HIGH": "DECLINE"}
    assert (s["risk_category"].map(band) == s["decision"]).all()
    assert ((s["risk_score"] < 0.1) == (s["decision"] == "APPROVE")).all()
    reasons = s[[f"reason_{i}" for i in range(1, 5)]]
    assert (reasons[s["decision"] == "APPROVE"] == "").all().all()
    imp = s[[c for c in s.columns if c.startswith("importance_")]].sum(axis=1)
    np.testing.assert_allclose(imp, 1.0, atol=1e-6)
    flagged = s["decision"] != "APPROVE"
    if flagged.any():
        assert (reasons[flagged]["reason_1"] != "").any()


def test_score_wrong_column_type_names_column(german_run, tmp_path, capsys):
    df = pd.read_csv(GERMAN, dtype=str)
    df.loc[3, "credit_amount"] = "lots"
    src = tmp_path / "bad.csv"
    df.to_csv(src, index=False)
    rc = main(["score", "credit", "--checkpoint", str(german_run), "--data", str(src),
               "--out", str(tmp_path / "o.csv")])
    assert rc == 2
    assert "credit_amount" in capsys.readouterr().err


def test_score_input_column_named_like_an_output_column_is_refused(german_run, tmp_path,
                                                                   capsys):
    df = pd.read_csv(GERMAN, dtype=str).head(5)
    df["risk_score"] = "0.2"  # e.g. a score from an older system: would be overwritten
    src = tmp_path / "clash.csv"
    df.to_csv(src, index=False)
    out = tmp_path / "o.csv"
    rc = main(["score", "credit", "--checkpoint", str(german_run), "--data", str(src),
               "--out", str(out)])
    assert rc == 2 and not out.exists()
    err = capsys.readouterr().err
    assert "'risk_score'" in err and err.count("\n") == 1


def test_synthetic_cross_validation(tmp_path):
    run = tmp_path / "cv"
    # few categories and a capped vocabulary: both folds' encoders (and the refit's) have the
    # same input widths, so the second fold reuses the first fold's compiled programs
    rc = _train([*TINY, "--synthetic", "--set", "data.synthetic.rows=300",
                 "--set", "data.synthetic.n_numeric=6", "--set", "data.synthetic.n_informative=3",
                 "--set", "data.synthetic.cardinalities=[3,4,3]", "--set", "data.vocab_size=64",
                 "--set", "data.max_text_len=8", "--set", "train.epochs=1",
                 "--set", "decision.threshold=0.3", "--set", "decision.ece_bins=5",
                 "--workdir", str(run), "--cv", "2"])
    assert rc == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["cv"]["k"] == 2 and len(m["cv"]["folds"]) == 2
    for k in ("auc", "ks", "brier", "ece", "logreg_auc", "bayes_auc"):
        assert k in m["test"] and k in m["test_std"], k
    assert m["cv"]["pooled"]["n"] == 300
    # pooled out-of-fold metrics use the configured threshold and ECE bins, like the folds
    assert m["cv"]["metric_settings"] == {"threshold": 0.3, "ece_bins": 5}
    oof = [np.load(run / "cv" / f"fold_{k}" / "oof.npz") for k in range(2)]
    y, p = np.concatenate([o["y"] for o in oof]), np.concatenate([o["p"] for o in oof])
    from quantjax.credit import metrics as credit_metrics
    want = credit_metrics.all_metrics(y, p, 0.3, 5)
    for k in ("ece", "accuracy", "recall", "fpr"):
        assert m["cv"]["pooled"][k] == pytest.approx(want[k]), k
    assert m["data"]["synthetic"] is True
    # the folder's scoring model: refit on all rows for the CV-chosen number of epochs
    r = m["refit"]
    assert r["epochs"] == 1 and r["fold_best_epochs"] == [1, 1]
    assert r["n_train"] + r["n_calibration"] == 300 and r["calibration"]["temperature"] > 0
    art = json.loads((run / "calibration.json").read_text())
    assert art["best_step"] == r["steps"]
    from quantjax.config import from_dict
    from quantjax.config.credit_data import SynthCreditConfig
    from quantjax.credit.scoring import load_scorer, score_frame
    from quantjax.data.synth_credit import generate_credit

    df, _ = generate_credit(from_dict(SynthCreditConfig, {
        "rows": 12, "seed": 5, "n_numeric": 6, "n_informative": 3}))
    scored = score_frame(load_scorer(run), df, explain=False)
    assert len(scored) == 12 and scored["risk_score"].between(0, 1).all()


def test_cv_folder_without_scoring_model_is_a_clear_error(tmp_path):
    from quantjax.credit.scoring import load_scorer
    from quantjax.errors import UserError

    (tmp_path / "cv" / "fold_0").mkdir(parents=True)
    with pytest.raises(UserError, match="--no-refit"):
        load_scorer(tmp_path)


def test_unfinished_run_is_refused_before_its_config_is_overwritten(german_run, tmp_path, capsys):
    """An unfinished single run (checkpoints, no metrics.json): a new run without --resume, or a
    --resume with another config, exits 2 and leaves the run's config.yaml as it was."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(german_run, run)
    (run / "metrics.json").unlink()
    before = (run / "config.yaml").read_text()
    base = ["train", "credit", *TINY, "--data", str(GERMAN), "--schema",
            str(ROOT / "configs" / "credit_schema_german.yaml"), "--workdir", str(run)]
    assert main([*base, "--set", "train.learning_rate=0.5"]) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*base, "--set", "train.weight_decay=0.3", "--resume"]) == 2
    assert "train.weight_decay" in capsys.readouterr().err
    assert (run / "config.yaml").read_text() == before
