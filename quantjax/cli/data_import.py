"""``quantjax data import binance|tardis|lobster``: exchange data into ticks and bars."""

from __future__ import annotations

import argparse

HELP = {
    "binance": ("Binance recordings: '<receive time ns> <JSON>' lines of trade, aggTrade, "
                "bookTicker and depth streams (spot, USD-M and coin-M futures), plain or .gz"),
    "tardis": "Tardis-style CSVs: trades, quotes or book_snapshot_N files, plain or .gz",
    "lobster": ("LOBSTER message + orderbook CSV pairs "
                "(TICKER_YYYY-MM-DD_START_END_message_LEVEL.csv; either file of a pair)"),
}
DESCRIPTION = (
    "Writes OUT/ticks.parquet (every trade with the prevailing top of book, plus quote "
    "updates, time-ordered), OUT/bars.parquet (OHLCV, last bid/ask and sizes, trade count, "
    "signed volume, order-flow imbalance; the long market format that train hft, backtest and "
    "replay read), OUT/metrics.json (counts of every data rule) and OUT/config.yaml. A "
    "malformed line is an error naming the file and line (exit 2) unless --skip-bad-lines. "
    "Rules: docs/data.md, 'Importing exchange data'."
)


def register(dsub, parents) -> None:
    p = dsub.add_parser("import", help="import exchange data into ticks and bars",
                        description=DESCRIPTION, parents=parents)
    isub = p.add_subparsers(dest="import_source", metavar="SOURCE", parser_class=type(p))
    isub.required = True
    for source, text in HELP.items():
        s = isub.add_parser(source, help=text, description=f"{text}. {DESCRIPTION}",
                            parents=parents)
        s.add_argument("files", nargs="+", metavar="FILE", help="input files, in time order")
        s.add_argument("--out", required=True, help="output folder")
        s.add_argument("--bar", default="1s",
                       help="bar length: 100ms, 1s, 5s, 1m (= 1min), 1h (default: 1s)")
        s.add_argument("--skip-bad-lines", action="store_true",
                       help="skip malformed lines (counted in metrics.json) instead of failing")
        if source == "lobster":
            s.add_argument("--timezone", default="America/New_York",
                           help="the exchange's time zone (default: America/New_York)")
        s.add_argument("--no-progress", action="store_true", help="no progress bar")
        s.set_defaults(func=run_import_command, source=source)


def run_import_command(args: argparse.Namespace) -> int:
    from pathlib import Path

    from quantjax.cli.common import console
    from quantjax.config.base import from_dict
    from quantjax.data.importers.config import ImportConfig
    from quantjax.data.importers.pipeline import run_import

    cfg = from_dict(ImportConfig, {
        "source": args.source, "files": list(args.files), "bar": args.bar,
        "skip_bad_lines": bool(args.skip_bad_lines),
        "timezone": getattr(args, "timezone", "America/New_York"),
    })
    out = Path(args.out)
    total = sum(Path(f).stat().st_size for f in cfg.files if Path(f).is_file())
    if args.no_progress or total < (16 << 20):
        metrics = run_import(cfg, out)
    else:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as prog:
            task = prog.add_task(f"importing {args.source}", total=total)
            metrics = run_import(cfg, out, progress=lambda n: prog.advance(task, n))
    for line in summary_lines(metrics, out):
        console.print(line, markup=False, soft_wrap=True)
    return 0


def summary_lines(m: dict, out) -> list[str]:
    """The end-of-run summary."""
    lines = [
        f"imported {m['n_lines']} lines from {len(m['files'])} file(s) ({m['source']}) in "
        f"{m['seconds']:.2f} s into {out}",
        f"  ticks: {m['n_ticks']} ({m['n_trades']} trades, {m['n_quotes']} quotes), symbols: "
        f"{', '.join(m['symbols'])}, {m['first_timestamp']} to {m['last_timestamp']} "
        f"({m['clock']} time)",
    ]
    if m["bars_file"]:
        lines.append(f"  bars ({m['bar']}): {m['n_bars']}, of which {m['n_carried_bars']} "
                     f"without trades (carried, volume 0)"
                     + ("" if m["bars_have_quotes"] else "; no quote columns"))
    else:
        lines.append("  bars: none (no trades)")
    rules = ("n_bad_lines", "n_blank_lines", "n_out_of_order", "n_duplicate_trades",
             "n_duplicate_quotes", "n_duplicate_messages", "n_zero_size_trades",
             "n_zero_size_quotes", "n_unchanged_quotes", "n_crossed_quotes",
             "n_non_market_trades", "n_snapshots", "n_halts")
    found = [f"{k[2:].replace('_', ' ')}: {m[k]}" for k in rules if m.get(k)]
    lines.append("  data rules: " + ("; ".join(found) if found else "nothing to report"))
    return lines
