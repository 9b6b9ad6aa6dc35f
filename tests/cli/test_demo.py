"""`quantjax demo` runs the whole pipeline end to end (small sizes) and writes its reports."""

from __future__ import annotations

import json

from quantjax.cli.main import main


def test_demo_end_to_end(tmp_path):
    work = tmp_path / "demo"
    rc = main(["demo", "--workdir", str(work), "--symbols", "2", "--steps", "1500",
               "--credit-rows", "800"])
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
