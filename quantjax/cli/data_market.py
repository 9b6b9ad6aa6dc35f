"""``quantjax data validate`` and ``quantjax data synth-market``."""

from __future__ import annotations

import argparse

from quantjax.cli.common import add_config_args


def register(dsub, parents) -> None:
    p = dsub.add_parser(
        "validate",
        help="check a market file and print a summary",
        description="Load a long-format market file (.csv or .parquet), validate it and print "
        "a summary: symbols, rows, date range, missing bars, fields present, unsorted rows "
        "fixed. Invalid data prints one error line and exits with code 2.",
        parents=parents,
    )
    p.add_argument("path", help="market file (.csv, .csv.gz or .parquet)")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead")
    p.set_defaults(func=run_validate)

    p = dsub.add_parser(
        "synth-market",
        help="generate synthetic multi-symbol market data",
        description="Generate bars with stochastic volatility, intraday seasonality, jumps, "
        "spreads, depth and an order-flow imbalance with a planted predictive signal. Writes "
        "OUT (.csv or .parquet) and OUT.meta.json (parameters, oracle accuracy).",
        parents=parents,
    )
    p.add_argument("--out", required=True, help="output file (.csv or .parquet)")
    p.add_argument("--symbols", type=int, default=None, help="number of symbols")
    p.add_argument("--steps", type=int, default=None, help="bars per symbol")
    p.add_argument("--freq", default=None, help="bar frequency: 1s, 5s, 1min, 1h or 1D")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    add_config_args(p, default=None)
    p.set_defaults(func=run_synth)


def run_validate(args: argparse.Namespace) -> int:
    import json

    from quantjax.cli.common import console
    from quantjax.data.market_io import load_market

    _, report = load_market(args.path)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
        return 0
    console.print(f"[bold green]valid[/bold green] market data: {args.path}", soft_wrap=True)
    for line in report.summary_lines():
        console.print(f"  {line}", markup=False, soft_wrap=True)
    return 0


def synth_config(args: argparse.Namespace):
    """Config from --config, then --set, then the explicit flags (flags win)."""
    from quantjax.config import load
    from quantjax.config.data import SynthMarketConfig

    overrides = list(args.overrides)
    for key in ("symbols", "steps", "freq", "seed"):
        value = getattr(args, key)
        if value is not None:
            overrides.append(f"{key}={value}")
    return load(SynthMarketConfig, args.config, overrides)


def run_synth(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    from quantjax.cli.common import console
    from quantjax.data.market_io import write_market
    from quantjax.data.synth_market import generate, meta_path
    from quantjax.errors import UserError
    from quantjax.jsonio import write_json

    out = Path(args.out)
    if not out.name.lower().endswith((".csv", ".parquet")):
        raise UserError(f"--out {out}: use a .csv or .parquet file name")
    cfg = synth_config(args)
    t0 = time.perf_counter()
    with console.status(f"generating {cfg.symbols} x {cfg.steps} bars"):
        df, meta = generate(cfg)
        write_market(df, out)
        mpath = write_json(meta_path(out), meta)
    dt = time.perf_counter() - t0
    freqs = meta["class_frequencies"]
    console.print(f"[bold]wrote[/bold] {out} ({meta['n_rows']} rows) and {mpath}", soft_wrap=True)
    console.print(
        f"  symbols: {cfg.symbols}, steps: {cfg.steps}, freq: {cfg.freq}, "
        f"{meta['start']} to {meta['end']}, missing bars: {meta['n_missing_bars']}",
        markup=False, soft_wrap=True,
    )
    console.print(
        f"  label: horizon {cfg.label_horizon}, threshold {cfg.label_threshold:g}; classes "
        f"down {freqs['down']:.3f} / flat {freqs['flat']:.3f} / up {freqs['up']:.3f}",
        markup=False, soft_wrap=True,
    )
    console.print(
        f"  oracle accuracy: {meta['oracle_accuracy']:.4f} +- {meta['oracle_accuracy_se']:.4f} "
        f"(signal_strength {cfg.signal_strength:g}; majority class "
        f"{meta['majority_class_accuracy']:.4f}); {dt:.1f} s",
        markup=False, soft_wrap=True,
    )
    return 0
