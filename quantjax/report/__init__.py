"""HTML reports of run folders: ``render(run_dir, out) -> Path``.

The kind of run (backtest, hft training, credit, sweep, replay) is detected from the folder
(:func:`quantjax.report.detect.detect_kind`); the page is one self-contained HTML file with
PNG figures embedded as base64 (matplotlib, Agg canvas) and no network access.
"""

from __future__ import annotations

from pathlib import Path

from quantjax.errors import UserError
from quantjax.report import backtest, credit, hft, replay, sweep
from quantjax.report.detect import KINDS, detect_kind, read_config_text, read_metrics
from quantjax.report.figures import require_matplotlib
from quantjax.report.html import Report

__all__ = ["KINDS", "detect_kind", "render"]

TITLES = {"backtest": "Backtest report", "hft": "HFT training report",
          "credit": "Credit model report", "sweep": "Sweep report", "replay": "Replay report"}
BUILDERS = {"backtest": backtest.build, "hft": hft.build, "credit": credit.build,
            "sweep": sweep.build, "replay": replay.build}


def build_html(run_dir: str | Path, kind: str | None = None,
               recompute: bool = True) -> tuple[str, str]:
    """``(html, kind)`` of the report of ``run_dir`` (UserError for user mistakes).

    ``recompute``: for HFT runs without prediction files (credit runs without scored test
    rows), recompute them from the best checkpoint (imports JAX, rebuilds the dataset)."""

    require_matplotlib()
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"--run: run folder not found: {run_dir}")
    kind = kind or detect_kind(run_dir)
    metrics = read_metrics(run_dir)
    if kind not in KINDS:
        raise UserError(f"--kind: unknown run kind '{kind}' (expected one of {', '.join(KINDS)})")
    rep = Report(f"{TITLES[kind]}: {run_dir.resolve().name}", kind, str(run_dir), metrics)
    if kind in ("hft", "credit"):
        BUILDERS[kind](rep, run_dir, metrics, recompute=recompute)
    else:
        BUILDERS[kind](rep, run_dir, metrics)
    cfg = read_config_text(run_dir)
    rep.section("Configuration")
    if cfg is None:
        rep.note("The run folder has no config.yaml.")
    else:
        rep.pre(cfg, "resolved config.yaml of the run")
    return rep.to_html(), kind


def render(run_dir: str | Path, out: str | Path, kind: str | None = None,
           recompute: bool = True) -> Path:
    """Write the HTML report of ``run_dir`` to ``out`` and return its path.

    ``kind`` forces the run kind (default: detected); see :func:`build_html` for ``recompute``.
    """
    html, _ = build_html(run_dir, kind, recompute)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html, encoding="utf-8")
    return out
