"""``quantjax demo``: the whole pipeline on embedded synthetic data, CPU-sized.

Stages (each writes into ``--workdir``):

1. ``market``: synthetic market data (``market.parquet`` + ``.meta.json``), validated by the loader.
2. ``credit_data``: synthetic credit applications (``credit.csv`` + ``.meta.json``), validated
   through the synthetic schema.

A summary table is printed at the end and ``demo.json`` lists each stage's outputs and timing.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def register(sub, parents) -> None:
    p = sub.add_parser(
        "demo",
        help="run the pipeline end to end on synthetic data",
        description="Generate synthetic market and credit data, validate them and run every "
        "pipeline stage on them at CPU-friendly sizes. Writes everything under --workdir.",
        parents=parents,
    )
    p.add_argument("--workdir", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--symbols", type=int, default=4, help="synthetic symbols (default: 4)")
    p.add_argument("--steps", type=int, default=3000, help="bars per symbol (default: 3000)")
    p.add_argument("--credit-rows", type=int, default=3000, help="credit rows (default: 3000)")
    p.set_defaults(func=run)


def stage_market(args: argparse.Namespace, work: Path, out: dict) -> dict:
    from quantjax.cli.common import write_json
    from quantjax.config import load
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import load_market, write_market
    from quantjax.data.synth_market import generate, meta_path

    cfg = load(
        SynthMarketConfig,
        None,
        [f"symbols={args.symbols}", f"steps={args.steps}", f"seed={args.seed}"],
    )
    df, meta = generate(cfg)
    path = write_market(df, work / "market.parquet")
    write_json(meta_path(path), meta)
    market, report = load_market(path)
    out["market"] = market
    out["market_meta"] = meta
    return {
        "path": str(path),
        "rows": report.rows,
        "symbols": len(market.symbols),
        "oracle_accuracy": meta["oracle_accuracy"],
    }


def stage_credit_data(args: argparse.Namespace, work: Path, out: dict) -> dict:
    from quantjax.config import load
    from quantjax.config.credit_data import SynthCreditConfig
    from quantjax.config.credit_schema import CreditSchema
    from quantjax.data.credit import read_credit_table
    from quantjax.data.synth_credit import generate_credit, write_credit

    cfg = load(SynthCreditConfig, None, [f"rows={args.credit_rows}", f"seed={args.seed}"])
    df, meta = generate_credit(cfg)
    path, _ = write_credit(df, meta, work / "credit.csv")
    schema = load(CreditSchema, Path(__file__).resolve().parents[2] / "configs" / "credit_schema_synthetic.yaml")
    table = read_credit_table(path, schema)
    out["credit_path"] = path
    return {"path": str(path), "rows": len(table), "bayes_auc": meta.get("bayes_auc")}


STAGES: tuple[tuple[str, Callable[[argparse.Namespace, Path, dict], dict]], ...] = (
    ("market", stage_market),
    ("credit_data", stage_credit_data),
)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from quantjax.cli.common import console, write_json

    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    shared: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    t_all = time.perf_counter()
    for name, fn in STAGES:
        console.print(f"[bold]demo[/bold] {name} ...")
        t0 = time.perf_counter()
        info = fn(args, work, shared)
        info["seconds"] = round(time.perf_counter() - t0, 2)
        summary[name] = info
    summary["total_seconds"] = round(time.perf_counter() - t_all, 2)
    write_json(work / "demo.json", summary)

    table = Table(title="quantjax demo")
    table.add_column("stage")
    table.add_column("result")
    table.add_column("seconds", justify="right")
    for name, _ in STAGES:
        info = summary[name]
        result = ", ".join(f"{k}={_fmt(v)}" for k, v in info.items() if k != "seconds")
        table.add_row(name, result, f"{info['seconds']:.1f}")
    console.print(table)
    console.print(f"total {summary['total_seconds']:.1f} s; summary in {work / 'demo.json'}")
    return 0


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)
