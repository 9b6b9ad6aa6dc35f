"""Replay report (``quantjax replay`` folders): headline PnL and accuracy, per-bar latency
percentiles, monitoring alerts, signal / position / equity paths per symbol, the direction
probabilities, rejected ticks and, with ``--ticks``, the tick-level execution and its fills.

Reads ``metrics.json`` (keys of docs/inference.md, "Replay"), ``replay.parquet`` (one row per
symbol and bar: ``timestamp, symbol, signal, p_down, p_flat, p_up, position`` and, from this
version on, ``equity``), ``alerts.jsonl``, ``rejected.jsonl`` and ``fills.parquet``. A missing
file becomes a visible note, never an empty figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from quantjax.report.detect import read_table
from quantjax.report.figures import new_figure, style
from quantjax.report.html import Report

#: symbols drawn in the per-symbol figures (the rest are summarized in the table)
MAX_SYMBOLS_DRAWN = 4
#: rows of the alert, rejected-tick and fill tables (the files hold all of them)
MAX_ROWS = 50

SUMMARY = (("bars", ("bars",)), ("symbols", ("symbols",)), ("predictions", ("predictions",)),
           ("predictions per second", ("predictions_per_second",)), ("trades", ("trades",)),
           ("PnL", ("pnl",)), ("total return", ("total_return",)),
           ("final equity", ("final_equity",)),
           ("resolved predictions", ("resolved_predictions",)),
           ("directional accuracy", ("directional_accuracy",)),
           ("rejected ticks", ("rejected_ticks",)), ("alerts", ("alerts",)),
           ("stream model", ("stream_model",)), ("book mode", ("mode",)))
LATENCY = (("p50", ("latency_p50_us",)), ("p95", ("latency_p95_us",)),
           ("p99", ("latency_p99_us",)), ("max", ("latency_max_us",)))
TICKS = (("tick steps", ("tick_execution", "tick_steps")),
         ("fills", ("tick_execution", "fills")),
         ("final equity", ("tick_execution", "final_equity")),
         ("PnL", ("tick_execution", "pnl")),
         ("total return", ("tick_execution", "total_return")))


def build(rep: Report, run_dir: Path, metrics: dict) -> None:
    rep.section("Summary")
    rep.metric_table(SUMMARY)
    rep.subsection("Latency per bar (tick in -> decision out, microseconds)")
    rep.metric_table(LATENCY, headers=("percentile", "us"))
    frame = _replay_frame(run_dir, rep)
    if frame is not None:
        _paths(rep, frame)
    _alerts(rep, run_dir, metrics)
    _rejected(rep, run_dir)
    _tick_execution(rep, run_dir, metrics)


def _replay_frame(run_dir: Path, rep: Report) -> pd.DataFrame | None:
    p = run_dir / "replay.parquet"
    if not p.is_file():
        rep.note("replay.parquet is missing: the signal, position and probability figures "
                 "are omitted.")
        return None
    return read_table(p)


def _paths(rep: Report, frame: pd.DataFrame) -> None:
    symbols = list(dict.fromkeys(frame["symbol"].astype(str)))
    drawn = symbols[:MAX_SYMBOLS_DRAWN]
    rep.section("Decisions per symbol")
    if len(symbols) > len(drawn):
        rep.note(f"{len(symbols)} symbols; the figures show the first {len(drawn)} "
                 f"({', '.join(drawn)}), the table all of them.")
    has_equity = "equity" in frame.columns
    rows = 3 if has_equity else 2
    fig, axes = new_figure(9.0, 2.2 * rows, nrows=rows, sharex=True)
    for sym in drawn:
        g = frame[frame["symbol"].astype(str) == sym]
        axes[0].step(g["timestamp"], g["signal"], where="post", label=sym, lw=0.9)
        axes[1].step(g["timestamp"], g["position"], where="post", label=sym, lw=0.9)
        if has_equity:
            axes[2].plot(g["timestamp"], g["equity"], label=sym, lw=0.9)
    style(axes[0], "target signal (fraction of equity) decided at each bar", None, "signal")
    style(axes[1], "position held after the bar (units)", None, "position")
    if has_equity:
        style(axes[2], "equity", "time", "equity")
    axes[0].legend(fontsize=7, loc="upper left")
    rep.figure(fig, "Signals decided at each bar (they fill at a later bar, after the risk "
               "checks), the positions held and the equity, from replay.parquet.",
               "signals, positions and equity per symbol")
    fig, ax = new_figure(9.0, 2.6)
    first = frame[frame["symbol"].astype(str) == drawn[0]]
    for col, label in (("p_down", "down"), ("p_flat", "flat"), ("p_up", "up")):
        ax.plot(first["timestamp"], first[col], label=label, lw=0.8)
    style(ax, f"direction probabilities of {drawn[0]}", "time", "probability")
    ax.legend(fontsize=7, loc="upper left")
    rep.figure(fig, f"The model's direction probabilities for {drawn[0]} at each bar (NaN "
               "before its first full feature window).", "direction probabilities")
    table = []
    for sym in symbols:
        g = frame[frame["symbol"].astype(str) == sym]
        sig = g["signal"].to_numpy(np.float64)
        pos = g["position"].to_numpy(np.float64)
        row = [sym, int(g.shape[0]), int(np.isfinite(g["p_up"].to_numpy(np.float64)).sum()),
               int(np.count_nonzero(np.nan_to_num(np.diff(pos, prepend=0.0)))),
               float(np.nanmean(np.abs(sig))) if np.isfinite(sig).any() else float("nan")]
        if has_equity:
            row.append(float(g["equity"].iloc[-1]))
        table.append(row)
    cols = ["symbol", "bars", "predicted bars", "position changes", "mean |signal|"]
    rep.data_table(cols + (["final equity"] if has_equity else []), table, "replay.parquet")


def _jsonl(path: Path) -> list[dict]:
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                rows.append({"message": f"line {i} is not valid JSON"})
    return rows


def _alerts(rep: Report, run_dir: Path, metrics: dict) -> None:
    rep.section("Monitoring alerts")
    rep.mapping_table(("alerts_by_rule",), headers=("rule", "alerts (not INFO)"))
    p = run_dir / "alerts.jsonl"
    if not p.is_file():
        rep.note("alerts.jsonl is missing.")
        return
    rows = _jsonl(p)
    if not rows:
        rep.para("No alert was raised.")
        return
    cols = ["timestamp", "bar", "level", "rule", "value", "threshold", "action", "message"]
    rep.data_table(cols, [[r.get(c, "") for c in cols] for r in rows[:MAX_ROWS]],
                   "alerts.jsonl")
    if len(rows) > MAX_ROWS:
        rep.note(f"{len(rows)} alerts; the table shows the first {MAX_ROWS} (all are in "
                 "alerts.jsonl).")


def _rejected(rep: Report, run_dir: Path) -> None:
    p = run_dir / "rejected.jsonl"
    if not p.is_file():
        return
    rows = _jsonl(p)
    rep.section("Rejected ticks")
    if not rows:
        rep.para("No tick was rejected.")
        return
    cols = ["timestamp", "symbol", "reason"]
    rep.data_table(cols, [[r.get(c, "") for c in cols] for r in rows[:MAX_ROWS]],
                   "rejected.jsonl")
    if len(rows) > MAX_ROWS:
        rep.note(f"{len(rows)} rejected ticks; the table shows the first {MAX_ROWS}.")


def _tick_execution(rep: Report, run_dir: Path, metrics: dict) -> None:
    ex = metrics.get("tick_execution")
    if not isinstance(ex, dict):
        return
    rep.section("Execution on the ticks")
    rep.para("The bar decisions above, executed tick by tick by the risk engine's execution "
             "rules (order latency, limit orders and their queue, impact, carry; "
             "docs/execution.md).")
    rep.metric_table(TICKS)
    rep.mapping_table(("tick_execution", "execution"), headers=("execution counter", "value"))
    p = run_dir / "fills.parquet"
    if not p.is_file():
        rep.note("fills.parquet is missing: the fill figure and table are omitted.")
        return
    fills = read_table(p)
    if fills.empty:
        rep.para("No order was filled on the ticks.")
        return
    fig, ax = new_figure(9.0, 2.8)
    for kind, marker in (("order", "o"), ("exit", "x")):
        g = fills[fills["kind"] == kind]
        ax.scatter(g["timestamp"], g["price"], s=10, marker=marker, label=f"{kind} fills")
    style(ax, "fill prices", "time", "price")
    ax.legend(fontsize=7, loc="upper left")
    rep.figure(fig, f"{len(fills)} fills on the ticks (orders and stop/take-profit exits), "
               "from fills.parquet.", "fill prices")
    cols = [c for c in ("timestamp", "symbol", "kind", "qty", "price", "fee")
            if c in fills.columns]
    rows = [[str(v) if c == "timestamp" else v for c, v in zip(cols, r, strict=True)]
            for r in fills[cols].head(MAX_ROWS).itertuples(index=False)]
    rep.data_table(cols, rows, "fills.parquet")
    if len(fills) > MAX_ROWS:
        rep.note(f"{len(fills)} fills; the table shows the first {MAX_ROWS}.")
