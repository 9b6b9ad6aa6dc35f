"""Benchmark: the Binance importer (parsing plus bar building) against pandas ``read_json``.

Prints one JSON object:

- ``lines_per_sec_per_core``: feed lines per CPU second (process time, so per core) of
  ``import_binance`` + ``apply_rules`` + ``assemble_ticks`` + ``build_bars`` on the ``.gz``
  recording (decompression included, file writing excluded), best of ``--repeats``;
- ``speedup_vs_pandas``: CPU seconds of ``pandas.read_json(lines=True)`` on the same lines over
  the importer's. pandas cannot read the ``<receive ns> `` prefix, so it gets the JSON parts
  already stripped and decompressed in memory (that preparation is not timed: favourable to
  pandas), and it only parses into a frame of nested dicts, with no bars;
- ``peak_mb_per_million_lines``: peak RSS increase (``ru_maxrss`` after the import minus after
  the imports, in a fresh subprocess) of a full ``run_import`` (files written) of ``--copies``
  time-shifted copies of the recording, per million lines.

Goals (issue 21): >= 1e6 lines/s per core and >= 3x pandas.

    python scripts/bench_import.py [--file PATH] [--repeats 5] [--copies 10]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT / "tests" / "support" / "data" / "binance_spot_btcusdt_20240808.jsonl.gz"


def _maxrss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def importer_cpu(path: Path, repeats: int) -> tuple[float, float, int]:
    """Best CPU and wall seconds of parse + rules + ticks + bars, and the line count."""
    from quantjax.data.bars import build_bars
    from quantjax.data.importers.binance import import_binance
    from quantjax.data.importers.common import BadLines
    from quantjax.data.ticks import apply_rules, assemble_ticks

    best_cpu = best_wall = float("inf")
    lines = 0
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        result = import_binance([path], BadLines(False))
        trades, quotes, _ = apply_rules(result.trades, result.quotes)
        build_bars(assemble_ticks(trades, quotes, result.symbols), 10**9)
        best_cpu = min(best_cpu, time.process_time() - c0)
        best_wall = min(best_wall, time.perf_counter() - w0)
        lines = result.counts["n_lines"]
    return best_cpu, best_wall, lines


def pandas_cpu(path: Path, repeats: int) -> float:
    import pandas as pd

    text = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    json_part = b"\n".join(line.split(b" ", 1)[1] for line in text.splitlines() if line)
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        pd.read_json(io.BytesIO(json_part), lines=True)
        best = min(best, time.process_time() - c0)
    return best


def shifted_copies(path: Path, copies: int, out: Path) -> int:
    """``copies`` back-to-back copies of the recording, each shifted by its span in receive
    time, trade ids and update ids (so no copy duplicates another); returns the line count."""
    text = gzip.decompress(path.read_bytes()).decode()
    lines = text.splitlines()
    first, last = int(lines[0].split(" ", 1)[0]), int(lines[-1].split(" ", 1)[0])
    span = last - first + 1_000_000
    ids = re.compile(r'"(t|u|U)":(\d+)')
    with gzip.open(out, "wt", compresslevel=1) as fh:
        for k in range(copies):
            for line in lines:
                ts, rest = line.split(" ", 1)
                if k:
                    rest = ids.sub(lambda m, k=k: f'"{m.group(1)}":{int(m.group(2)) + k * 10**7}',
                                   rest)
                fh.write(f"{int(ts) + k * span} {rest}\n")
    return len(lines) * copies


def peak_child(path: str, out: str) -> None:
    from quantjax.data.importers.config import ImportConfig
    from quantjax.data.importers.pipeline import run_import

    before = _maxrss_mb()
    m = run_import(ImportConfig(source="binance", files=(path,)), out)
    print(json.dumps({"peak_mb": _maxrss_mb() - before, "lines": m["n_lines"]}))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", type=Path, default=DEFAULT)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--copies", type=int, default=10)
    ap.add_argument("--peak-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peak_child:
        peak_child(*args.peak_child)
        return
    if not args.file.is_file():
        sys.exit(f"bench_import: {args.file} not found (use --file)")
    cpu, wall, lines = importer_cpu(args.file, args.repeats)
    ref = pandas_cpu(args.file, args.repeats)
    with tempfile.TemporaryDirectory() as d:
        big = Path(d) / "copies.jsonl.gz"
        n_big = shifted_copies(args.file, args.copies, big)
        child = subprocess.run([sys.executable, __file__, "--peak-child", str(big),
                                str(Path(d) / "out")], capture_output=True, text=True,
                               check=True)
        peak = json.loads(child.stdout)
    print(json.dumps({
        "file": str(args.file),
        "lines": lines,
        "importer_cpu_seconds": round(cpu, 4),
        "importer_wall_seconds": round(wall, 4),
        "lines_per_sec_per_core": round(lines / cpu),
        "lines_per_sec_wall": round(lines / wall),
        "pandas_read_json_cpu_seconds": round(ref, 4),
        "speedup_vs_pandas": round(ref / cpu, 2),
        "peak_lines": n_big,
        "peak_mb": round(peak["peak_mb"], 1),
        "peak_mb_per_million_lines": round(peak["peak_mb"] / n_big * 1e6, 1),
        "goal_lines_per_sec_per_core": 1_000_000,
        "goal_speedup_vs_pandas": 3,
        "note": "2-core machine shared with other engineers; CPU (process) times, best of "
                f"{args.repeats}; pandas gets the JSON parts pre-stripped in memory",
    }))


if __name__ == "__main__":
    main()
