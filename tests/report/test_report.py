"""``quantjax report``: kind detection, numbers equal metrics.json, embedded figures, notes for
missing pieces, one-line user errors. Run folders are tiny fixtures (no training)."""

from __future__ import annotations

import base64
import json
import math
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

from quantjax.errors import UserError
from quantjax.report import build_html, detect_kind, render
from quantjax.report.fmt import fmt_value, lookup

from support.report_runs import backtest_run, credit_run, hft_run, sweep_run

pytest.importorskip("matplotlib")

BUILDERS = {"backtest": backtest_run, "hft": hft_run, "credit": credit_run, "sweep": sweep_run}


class _Cells(HTMLParser):
    """Collects (data-key path, text), data-source cells, <td> texts and <img> sources."""

    def __init__(self):
        super().__init__()
        self.keyed: list[tuple[tuple, str]] = []
        self.sourced: list[str] = []
        self.td_texts: list[tuple[str, bool]] = []  # (text, has data-key/data-source)
        self.imgs: list[str] = []
        self.notes: list[str] = []
        self._open: list[tuple[str, dict]] = []
        self._buf: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag in ("td", "span", "div"):
            self._open.append((tag, a))
            self._buf = []

    def handle_data(self, data):
        self._buf.append(data)

    def handle_endtag(self, tag):
        if tag not in ("td", "span", "div") or not self._open:
            return
        otag, a = self._open.pop()
        text = "".join(self._buf)
        if "data-key" in a:
            self.keyed.append((tuple(json.loads(a["data-key"])), text))
        if "data-source" in a:
            self.sourced.append(text)
        if otag == "td" and a.get("class") != "l":  # class "l": row labels
            self.td_texts.append((text, "data-key" in a or "data-source" in a))
        if a.get("class") == "note":
            self.notes.append(text)
        self._buf = []


def parse(html: str) -> _Cells:
    p = _Cells()
    p.feed(html)
    return p


def _close(text: str, v) -> bool:
    """The shown text is ``v`` rounded to the digits shown (independent of fmt_value)."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return text == "n/a"
    if isinstance(v, bool):
        return text == ("yes" if v else "no")
    if isinstance(v, str):
        return text == v
    shown = float(text.replace(",", ""))
    m = re.search(r"\.(\d+)(e[-+]\d+)?$", text.replace(",", ""))
    if m and m.group(2):
        tol = 0.5 * 10 ** (-len(m.group(1))) * abs(v) * 10  # mantissa digits (relative)
    else:
        tol = 0.5 * 10 ** (-(len(m.group(1)) if m else 0))
    return abs(shown - v) <= tol * (1 + 1e-9)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs")
    return {k: f(base / k) for k, f in BUILDERS.items()}


@pytest.fixture(scope="module")
def pages(runs):
    return {k: build_html(d, recompute=False)[0] for k, d in runs.items()}


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_detects_kind(runs, kind):
    assert detect_kind(runs[kind]) == kind


@pytest.mark.parametrize("kind", list(BUILDERS))
def test_every_number_equals_metrics_json(runs, pages, kind):
    metrics = json.loads((runs[kind] / "metrics.json").read_text())
    cells = parse(pages[kind])
    assert len(cells.keyed) >= 8
    for path, text in cells.keyed:
        v = lookup(metrics, path)
        assert text == fmt_value(v), (path, text, v)
        assert _close(text, v), (path, text, v)
    # no table cell shows a number that does not come from metrics.json or a named run file
    for text, tagged in cells.td_texts:
        if re.search(r"\d", text):
            assert tagged, text


def test_key_metrics_are_shown(pages):
    keys = {k: {p for p, _ in parse(h).keyed} for k, h in pages.items()}
    assert ("portfolio", "psr") in keys["backtest"]
    assert ("portfolio", "sharpe") in keys["backtest"]
    assert ("per_symbol", "BB.B", "sharpe") in keys["backtest"]  # dotted symbol names work
    assert ("portfolio", "var_backtest", "kupiec_p_value") in keys["backtest"]
    assert ("test", "confusion_matrix", 2, 1) in keys["hft"]
    assert ("test", "bayes_accuracy") in keys["hft"]
    assert {("test", "auc"), ("test", "gini"), ("test", "ks"), ("test", "ece"),
            ("test", "ece_uncalibrated")} <= keys["credit"]
    assert ("modality_importance", "text") in keys["credit"]
    assert ("dsr", "dsr") in keys["sweep"]


@pytest.mark.parametrize("kind,n_fig", [("backtest", 7), ("hft", 5), ("credit", 6),
                                        ("sweep", 2)])
def test_figures_embedded_no_network(pages, kind, n_fig):
    html = pages[kind]
    cells = parse(html)
    assert len(cells.imgs) == n_fig, cells.notes
    for src in cells.imgs:
        assert src.startswith("data:image/png;base64,")
        assert base64.b64decode(src.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    assert "http://" not in html and "https://" not in html and "<link rel=\"stylesheet" \
        not in html
    assert cells.notes == [] or kind == "backtest"  # backtest: the DSR note only
    if kind == "backtest":
        assert len(cells.notes) == 1 and "DSR" in cells.notes[0]


def test_sweep_trial_table_sortable(runs, pages):
    html = pages["sweep"]
    assert 'class="sortable"' in html and "addEventListener" in html
    cells = parse(html)
    assert len(cells.sourced) == 12 * 6  # every trial-table cell comes from trials.csv


def test_missing_pieces_are_notes_not_empty_figures(tmp_path):
    bt = backtest_run(tmp_path / "bt", benchmark=False, trades=False)
    c = parse(build_html(bt)[0])
    assert any("No benchmark series" in n for n in c.notes)
    assert any("No closed trades" in n for n in c.notes)
    assert len(c.imgs) == 6  # the trade PnL histogram is omitted, the rest is drawn
    hf = hft_run(tmp_path / "hft", predictions=False)
    c = parse(build_html(hf)[0])
    assert any("No predictions" in n and "checkpoints" in n for n in c.notes)
    assert any("No attention samples" in n for n in c.notes)
    assert len(c.imgs) == 3
    cr = credit_run(tmp_path / "cr", scores=False)
    c = parse(build_html(cr)[0])
    assert any("no scored test rows" in n for n in c.notes)
    assert len(c.imgs) == 1  # modality importance only


@pytest.mark.parametrize("freq,n,title", [("D", 20, "Daily returns"), ("min", 200, "Hourly returns"),
                                          ("s", 60, None)])
def test_calendar_heatmap_falls_back_to_finer_periods(tmp_path, freq, n, title):
    html = build_html(backtest_run(tmp_path / "bt", n=n, freq=freq))[0]
    if title is None:
        assert "less than two hours: no calendar heatmap" in html
    else:
        assert f"{title}" in html and "calendar returns heatmap" in html


def test_credit_reason_codes_per_feature_and_importance_fallback(tmp_path):
    from quantjax.report.credit import reason_name

    assert reason_name("income = 52000") == "income"
    assert reason_name("employment length is missing") == "employment length is missing"
    cr = credit_run(tmp_path / "cr", importance_in_metrics=False)
    html = build_html(cr)[0]
    c = parse(html)
    assert len(c.imgs) == 6 and c.notes == []
    assert "importance_* columns of test_scores.parquet" in html


def test_render_writes_file_and_cli(runs, tmp_path, capsys):
    from quantjax.cli.main import main

    out = render(runs["sweep"], tmp_path / "a" / "r.html")
    assert out.is_file() and out.read_text().startswith("<!DOCTYPE html>")
    assert main(["report", "--run", str(runs["sweep"]), "--out", str(tmp_path / "b.html")]) == 0
    assert "b.html" in capsys.readouterr().out
    assert (tmp_path / "b.html").is_file()


def test_user_errors_exit_2_one_line(tmp_path, capsys):
    from quantjax.cli.main import main

    assert main(["report", "--run", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "run folder not found" in err
    d = tmp_path / "odd"
    d.mkdir()
    (d / "metrics.json").write_text('{"something": 1}')
    assert main(["report", "--run", str(d)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unknown run kind" in err
    (d / "metrics.json").write_text('{"kind": "rocket"}')
    with pytest.raises(UserError, match="unknown run kind 'rocket'"):
        detect_kind(d)
    (d / "metrics.json").write_text("{not json")
    with pytest.raises(UserError, match="not valid JSON"):
        detect_kind(d)


def test_matplotlib_missing_is_user_error(runs, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(UserError, match="pip install 'quantjax\\[report\\]'"):
        build_html(runs["sweep"])


def test_fmt_value_rule():
    assert fmt_value(None) == "n/a" and fmt_value(float("nan")) == "n/a"
    assert fmt_value(True) == "yes" and fmt_value(1234567) == "1,234,567"
    assert fmt_value(123456.789) == "123,456.79"
    assert fmt_value(-0.123456) == "-0.1235"
    assert fmt_value(1.5e-5) == "1.500e-05"
    assert fmt_value(0.0) == "0"


def test_report_path_is_package_relative():
    assert Path(render.__code__.co_filename).parent.name == "report"


def test_credit_practice_sections(runs, pages):
    html = pages["credit"]
    for title in ("Score points", "Feature strength", "Monotonicity", "Metrics by segment",
                  "Fairness across protected groups", "Population stability"):
        assert f"<h2>{title}" in html, title
    keys = {p for p, _ in parse(html).keyed}
    assert {("features", "iv", "income"), ("features", "flags", "region"),
            ("features", "woe", "income", "bins", 0, "woe"), ("points", "at_low"),
            ("monotonicity", "income", "share"), ("segments", "region", "north", "auc"),
            ("fairness", "sex", "groups", "f", "adverse_impact_ratio"),
            ("fairness", "sex", "auc_gap"), ("fairness", "sex", "model_input")} <= keys
    assert "sex was not a model input" in html
    assert "Top axis: score points" in html  # the PD distribution carries a points axis
    stab = json.loads((runs["credit"] / "stability.json").read_text())
    cells = parse(html)
    assert len(cells.sourced) == 3 * (1 + len(stab["ranked"]))  # PD row + one per input
