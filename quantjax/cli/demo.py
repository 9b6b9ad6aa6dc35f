"""``quantjax demo``: the whole pipeline on embedded synthetic data, CPU-sized.

Stages (each writes into ``--workdir``):

1. ``market``: synthetic market data (``market.parquet`` + ``.meta.json``), validated by the loader.
2. ``credit_data``: synthetic credit applications (``credit.csv`` + ``.meta.json``), validated
   through the synthetic schema.
3. ``hft``: the tiny LSTM-attention config trained on the market data (``hft/``).
4. ``backtest``: the trained model's predictions through the risk engine (``bt/``).
5. ``credit``: the tiny credit transformer trained on the credit data (``credit/``).
6. ``reports``: an HTML report for each run (``*/report.html``).

Stages 3-5 call the same code as ``quantjax train hft``, ``quantjax backtest`` and
``quantjax train credit``; ``--hft-set`` / ``--credit-set KEY=VALUE`` override the hft / credit
stage's config (e.g. fewer epochs for a quick smoke run, as tests/cli/test_demo.py does).

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
    p.add_argument("--hft-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of the hft stage's config (configs/hft_lstm_tiny.yaml), "
                   "repeatable, e.g. --hft-set train.epochs=2 for a quicker smoke run")
    p.add_argument("--credit-set", action="append", default=[], metavar="KEY=VALUE",
                   help="override of the credit stage's config "
                   "(configs/credit_transformer_tiny.yaml), repeatable")
    p.set_defaults(func=run)


def stage_market(args: argparse.Namespace, work: Path, out: dict) -> dict:
    from quantjax.config import load
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import load_market, write_market
    from quantjax.data.synth_market import generate, meta_path
    from quantjax.jsonio import write_json

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
    schema = load(CreditSchema, _config("credit_schema_synthetic.yaml"))
    table = read_credit_table(path, schema)
    out["credit_path"] = path
    return {"path": str(path), "rows": len(table), "bayes_auc": meta.get("bayes_auc")}


def _config(name: str) -> Path:
    """A bundled YAML from the repository's ``configs/`` folder."""
    return Path(__file__).resolve().parents[2] / "configs" / name


def _cli(argv: list[str]) -> None:
    """Run one stage as the ``quantjax`` subcommand ``argv`` (same parser and code path; a
    user error propagates as a :class:`UserError`)."""
    from quantjax.cli import backtest, train
    from quantjax.cli.common import command_parser
    from quantjax.errors import UserError

    args = command_parser((train, backtest)).parse_args(argv)
    rc = args.func(args)
    if rc:
        raise UserError(f"demo stage 'quantjax {' '.join(argv[:2])}' failed (exit code {rc})")


def _sets(overrides: list[str]) -> list[str]:
    """``--set KEY=VALUE`` pairs of a stage's overrides."""
    return [arg for o in overrides for arg in ("--set", o)]


def _metrics(run: Path) -> dict:
    import json

    return json.loads((run / "metrics.json").read_text())


def stage_hft(args: argparse.Namespace, work: Path, out: dict) -> dict:
    run = work / "hft"
    _cli(["train", "hft", "--config", str(_config("hft_lstm_tiny.yaml")),
          "--data", str(work / "market.parquet"), "--workdir", str(run),
          "--set", f"train.seed={args.seed}", *_sets(args.hft_set)])
    m = _metrics(run)
    test = m.get("test", {})
    return {"run": str(run), "test_accuracy": test.get("directional_accuracy"),
            "test_accuracy_ci": test.get("directional_accuracy_ci"),
            "oracle_accuracy_same_rows": test.get("bayes_accuracy"),
            "oracle_accuracy_population": test.get("bayes_accuracy_population"),
            "linear_baseline": test.get("linear_baseline_accuracy"),
            "majority_baseline": test.get("majority_baseline_accuracy"),
            "rank_ic": test.get("rank_ic")}


def stage_backtest(args: argparse.Namespace, work: Path, out: dict) -> dict:
    run = work / "bt"
    _cli(["backtest", "--config", str(_config("backtest.yaml")), "--checkpoint",
          str(work / "hft"), "--data", str(work / "market.parquet"), "--out", str(run),
          "--set", "backtest.benchmark=equal_weight"])
    p = _metrics(run).get("portfolio", {})
    ann = p.get("annualization") or {}
    out = {"run": str(run), "total_return": p.get("total_return"),
           "max_drawdown": p.get("max_drawdown"), "trades": p.get("n_trades"),
           "sharpe_per_bar": p.get("sharpe_per_bar"),
           "sharpe_per_bar_ci": p.get("sharpe_per_bar_ci")}
    if ann.get("annualized"):
        out["sharpe"] = p.get("sharpe")
    else:  # a run of a few thousand bars: no annualized figure, and the reason
        out["sharpe"] = f"n/a ({ann.get('n_days', 0):g} trading days < {ann.get('min_days')})"
    return out


def stage_credit(args: argparse.Namespace, work: Path, out: dict) -> dict:
    run = work / "credit"
    _cli(["train", "credit", "--config", str(_config("credit_transformer_tiny.yaml")),
          "--data", str(work / "credit.csv"),
          "--schema", str(_config("credit_schema_synthetic.yaml")), "--workdir", str(run),
          *_sets(args.credit_set)])
    test = _metrics(run).get("test", {})
    return {"run": str(run), "test_auc": test.get("auc"), "logreg_auc": test.get("logreg_auc"),
            "ece": test.get("ece")}


def stage_reports(args: argparse.Namespace, work: Path, out: dict) -> dict:
    from quantjax.report import render

    paths = {}
    for name in ("hft", "bt", "credit"):
        paths[name] = str(render(work / name, work / name / "report.html", recompute=False))
    return paths


STAGES: tuple[tuple[str, Callable[[argparse.Namespace, Path, dict], dict]], ...] = (
    ("market", stage_market),
    ("credit_data", stage_credit_data),
    ("hft", stage_hft),
    ("backtest", stage_backtest),
    ("credit", stage_credit),
    ("reports", stage_reports),
)


def _check_overrides(args: argparse.Namespace) -> None:
    """Resolve the hft / credit stage configs with their overrides before any stage runs: a
    bad ``--hft-set`` / ``--credit-set`` is a one-line :class:`ConfigError` up front."""
    from quantjax.config import load
    from quantjax.credit.config import CreditConfig
    from quantjax.hft.config import HFTConfig

    load(HFTConfig, _config("hft_lstm_tiny.yaml"), args.hft_set)
    load(CreditConfig, _config("credit_transformer_tiny.yaml"), args.credit_set)


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from quantjax.cli.common import console
    from quantjax.jsonio import write_json

    _check_overrides(args)
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
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, float) for x in v):
        return f"[{v[0]:.4f}, {v[1]:.4f}]"
    return f"{v:.4f}" if isinstance(v, float) else str(v)
