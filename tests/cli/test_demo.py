"""`quantjax demo` runs the whole pipeline end to end (small sizes) and writes its reports."""

from __future__ import annotations

import json

from quantjax.cli.main import main

from support.credit_runs import TINY as CREDIT_TINY
from support.hft_runs import tiny_overrides


def _set_values(flags: list[str]) -> list[str]:
    return [flags[i + 1] for i, f in enumerate(flags) if f == "--set"]


def test_demo_end_to_end(tmp_path):
    work = tmp_path / "demo"
    # every stage at the shared tiny runs' sizes (tests/support): the hft stage is the tiny
    # HFT run's model, features and 2 x 500 bars, so its compiled programs are shared with it
    hft = [o for o in tiny_overrides() if not o.startswith("data.synthetic")]
    rc = main(["demo", "--workdir", str(work), "--symbols", "2", "--steps", "500",
               "--credit-rows", "400",
               *[a for o in hft for a in ("--hft-set", o)],
               *[a for o in _set_values(CREDIT_TINY) for a in ("--credit-set", o)]])
    assert rc == 0
    summary = json.loads((work / "demo.json").read_text())
    for stage in ("market", "credit_data", "hft", "backtest", "credit", "reports"):
        assert stage in summary
    for run in ("hft", "bt", "credit"):
        assert (work / run / "metrics.json").is_file()
        assert (work / run / "config.yaml").is_file()
        html = (work / run / "report.html").read_text()
        assert html.startswith("<!DOCTYPE html>") or "<html" in html[:200]
    assert 0.0 <= summary["hft"]["test_accuracy"] <= 1.0
    assert 0.0 <= summary["credit"]["test_auc"] <= 1.0
    # honest figures: the same-rows oracle and intervals; no annualized Sharpe for a short run
    hft = summary["hft"]
    lo, hi = hft["test_accuracy_ci"]
    assert lo <= hft["test_accuracy"] <= hi
    assert hft["oracle_accuracy_same_rows"] is not None and "linear_baseline" in hft
    bt = summary["backtest"]
    assert str(bt["sharpe"]).startswith("n/a (") and "sharpe_per_bar" in bt
    # the stage overrides reached the runs
    assert "max_steps: 6" in (work / "hft" / "config.yaml").read_text()
    assert "ig_steps: 4" in (work / "credit" / "config.yaml").read_text()


def test_demo_bad_stage_override_is_one_line_before_any_stage(tmp_path, capsys):
    for flag, key in (("--hft-set", "model.hiden_size"), ("--credit-set", "train.epoch")):
        work = tmp_path / flag
        assert main(["demo", "--workdir", str(work), flag, f"{key}=3"]) == 2
        err = capsys.readouterr().err.strip()
        assert key in err and "\n" not in err and not work.exists()
