"""``quantjax report``: write a self-contained HTML report of a run folder."""

from __future__ import annotations

import argparse

from quantjax.cli.common import Parser

DESCRIPTION = (
    "Write a self-contained HTML report (PNG figures embedded, no network) of a run folder. "
    "The kind of run is detected: backtest (tear sheet), hft (training report), credit "
    "(model report), sweep (trials) or replay (latency, decisions, alerts, tick fills). Needs matplotlib (pip install 'quantjax[report]')."
)


def register(sub, parents) -> None:
    p: Parser = sub.add_parser("report", help="write an HTML report of a run",
                               description=DESCRIPTION, parents=parents)
    p.add_argument("--run", required=True, metavar="RUN_DIR", help="run folder")
    p.add_argument("--out", default=None, metavar="PATH",
                   help="output HTML file (default: RUN_DIR/report.html)")
    p.add_argument("--kind", choices=("backtest", "hft", "credit", "sweep", "replay"), default=None,
                   help="force the run kind instead of detecting it")
    p.add_argument("--no-recompute", action="store_true",
                   help="hft/credit runs: do not recompute missing predictions, attention "
                        "samples or test scores from the checkpoint")
    p.set_defaults(func=run_report)


def run_report(args: argparse.Namespace) -> int:
    from pathlib import Path

    from quantjax.cli.common import console
    from quantjax.report import build_html

    out = Path(args.out) if args.out else Path(args.run) / "report.html"
    with console.status(f"writing the report of {args.run}"):
        html, kind = build_html(args.run, args.kind, recompute=not args.no_recompute)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(html, encoding="utf-8")
    console.print(f"report written ({kind} run): {out}", markup=False)
    return 0
