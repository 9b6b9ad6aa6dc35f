"""The HTML reports open in headless Chromium with no console errors, and the trial table sorts.

Skipped when no Chromium binary is installed (CI installs it through the system package
manager: ``apt-get install -y chromium``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile

import pytest

from quantjax.report import render

from support.report_runs import backtest_run, credit_run, hft_run, sweep_run

pytest.importorskip("matplotlib")

BROWSER = next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome")
                if shutil.which(b)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="Chromium is not installed")

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]


def dump_dom(path) -> tuple[str, list[str]]:
    """``(dom, console lines)`` of ``path`` loaded in headless Chromium."""
    with tempfile.TemporaryDirectory() as profile:
        r = subprocess.run([BROWSER, *FLAGS, f"--user-data-dir={profile}", "--dump-dom",
                            path.resolve().as_uri()], capture_output=True, text=True,
                           timeout=120)
    console = [ln for ln in r.stderr.splitlines()
               if ":CONSOLE" in ln or "Uncaught" in ln or "Failed to load" in ln]
    return r.stdout, console


@pytest.mark.parametrize("kind,build,n_img", [("backtest", backtest_run, 7), ("hft", hft_run, 5),
                                              ("credit", credit_run, 6),
                                              ("sweep", sweep_run, 2)])
def test_renders_without_console_errors(tmp_path, kind, build, n_img):
    out = render(build(tmp_path / kind), tmp_path / f"{kind}.html", recompute=False)
    dom, console = dump_dom(out)
    assert console == [], console
    assert "<h1>" in dom and "</html>" in dom
    assert len(re.findall(r'<img [^>]*src="data:image/png;base64,', dom)) == n_img


def test_trial_table_sorts_in_the_page(tmp_path):
    out = render(sweep_run(tmp_path / "sweep"), tmp_path / "sweep.html")
    html = out.read_text()
    probe = """<script>
    var t = document.querySelector("table.sortable");
    var heads = Array.prototype.map.call(t.tHead.rows[0].cells, function (c) {
      return c.textContent; });
    var i = heads.indexOf("sharpe");
    var col = function () { return Array.prototype.map.call(t.tBodies[0].rows, function (r) {
      return r.cells[i].getAttribute("data-sort"); }).join(" "); };
    t.tHead.rows[0].cells[i].click();
    document.body.setAttribute("data-asc", col());
    t.tHead.rows[0].cells[i].click();
    document.body.setAttribute("data-desc", col());
    </script></body>"""
    out.write_text(html.replace("</body>", probe))
    dom, console = dump_dom(out)
    assert console == [], console
    asc = [float(x) for x in re.search(r'data-asc="([^"]*)"', dom).group(1).split()]
    desc = [float(x) for x in re.search(r'data-desc="([^"]*)"', dom).group(1).split()]
    assert len(asc) == 12
    assert asc == sorted(asc) and desc == sorted(asc, reverse=True)
