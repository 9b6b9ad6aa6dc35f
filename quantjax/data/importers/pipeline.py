"""One import run: read with the chosen importer, apply the data rules, write
``ticks.parquet``, ``bars.parquet``, ``metrics.json`` and ``config.yaml`` into a folder."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from quantjax.config.base import save
from quantjax.data.bars import build_bars
from quantjax.data.importers.binance import import_binance
from quantjax.data.importers.common import BadLines, ImportResult, Progress
from quantjax.data.importers.config import ImportConfig
from quantjax.data.importers.lobster import import_lobster
from quantjax.data.importers.tardis import import_tardis
from quantjax.data.market_io import iso, write_market
from quantjax.data.ticks import apply_rules, assemble_ticks, write_ticks
from quantjax.errors import DataError
from quantjax.jsonio import write_json

TICKS_FILE = "ticks.parquet"
BARS_FILE = "bars.parquet"
#: importer counts every source reports (0 where a rule cannot occur)
COMMON_COUNTS = ("n_lines", "n_blank_lines", "n_out_of_order")


def read_source(cfg: ImportConfig, bad: BadLines, progress: Progress | None = None
                ) -> ImportResult:
    """Run the importer of ``cfg.source`` on ``cfg.files``."""
    if not cfg.files:
        raise DataError("no input files given")
    for f in cfg.files:
        if not Path(f).is_file():
            raise DataError(f"file not found: {f}")
    if cfg.source == "binance":
        return import_binance(cfg.files, bad, progress)
    if cfg.source == "tardis":
        return import_tardis(cfg.files, bad, progress)
    return import_lobster(cfg.files, bad, cfg.timezone, progress)


def run_import(cfg: ImportConfig, out: str | Path, progress: Progress | None = None
               ) -> dict[str, Any]:
    """Import ``cfg.files`` into folder ``out``; returns the metrics written to
    ``metrics.json`` (keys documented in docs/data.md)."""
    out = Path(out)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    bad = BadLines(cfg.skip_bad_lines)
    result = read_source(cfg, bad, progress)
    trades, quotes, rule_counts = apply_rules(result.trades, result.quotes)
    ticks = assemble_ticks(trades, quotes, result.symbols)
    if ticks.timestamp.size == 0:
        raise DataError(f"{', '.join(cfg.files)}: no trades or quotes found")
    bars, bar_summary = build_bars(ticks, cfg.bar_ns)
    out.mkdir(parents=True, exist_ok=True)
    save(cfg, out)
    write_ticks(ticks, out / TICKS_FILE, clock=result.clock, source=cfg.source)
    bars_file = None
    if len(bars):
        write_market(bars, out / BARS_FILE)
        bars_file = BARS_FILE
    elif (out / BARS_FILE).exists():
        (out / BARS_FILE).unlink()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    counts = {k: 0 for k in COMMON_COUNTS}
    counts.update(result.counts)
    metrics: dict[str, Any] = {
        "source": cfg.source,
        "files": list(cfg.files),
        "bar": cfg.bar,
        "clock": result.clock,
        **counts,
        "n_bad_lines": bad.count,
        "bad_line_examples": bad.examples,
        **rule_counts,
        "n_trades": int(ticks.is_trade.sum()),
        "n_quotes": int((~ticks.is_trade).sum()),
        "n_ticks": int(ticks.timestamp.size),
        "symbols": list(ticks.symbols),
        "first_timestamp": iso(int(ticks.timestamp[0])),
        "last_timestamp": iso(int(ticks.timestamp[-1])),
        "n_bars": bar_summary["n_bars"],
        "n_carried_bars": bar_summary["n_carried_bars"],
        "bars_have_quotes": bar_summary["quotes"],
        "symbols_without_trades": bar_summary["symbols_without_trades"],
        "ticks_file": TICKS_FILE,
        "bars_file": bars_file,
        "seconds": round(wall, 4),
        "cpu_seconds": round(cpu, 4),
        "lines_per_second": round(counts["n_lines"] / wall, 1) if wall > 0 else None,
    }
    write_json(out / "metrics.json", metrics)
    return metrics
