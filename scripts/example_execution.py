"""The worked example of docs/execution.md: how latency and queue position change the PnL of
one strategy on the Binance recording (tests/support/data, MIT).

Imports the recording (1s bars and ticks), takes the built-in ``ofi`` rule's decisions on
the bars (``configs/backtest.yaml``'s strategy section), and executes them on every tick
with several execution settings (no fees, no slippage, no stops: only execution differs).
Prints one JSON object: per setting the PnL, fills, limit orders, limit fills and expiries.

Usage: ``python scripts/example_execution.py [--workdir runs/example_execution]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDING = ROOT / "tests" / "support" / "data" / "binance_spot_btcusdt_20240808.jsonl.gz"
BASE = dict(fee_rate=0.0, slippage_bps=0.0, stop_loss=0.0, take_profit=0.0, max_drawdown=0.0)
SETTINGS = {
    "market, latency 0": {},
    "market, latency 10 ms": {"latency": 10.0},
    "market, latency 100 ms": {"latency": 100.0},
    "market, latency 1000 ms": {"latency": 1000.0},
    "limit at touch, trade-through, latency 10 ms": {
        "latency": 10.0, "limit_orders": 1.0, "limit_expiry": 1000.0},
    "limit at touch, queue, latency 10 ms": {
        "latency": 10.0, "limit_orders": 1.0, "limit_expiry": 1000.0, "queue_model": 1.0},
    "limit at touch, queue, latency 100 ms": {
        "latency": 100.0, "limit_orders": 1.0, "limit_expiry": 1000.0, "queue_model": 1.0},
    "limit 1 tick behind, queue, latency 10 ms": {
        "latency": 10.0, "limit_orders": 1.0, "limit_expiry": 1000.0, "queue_model": 1.0,
        "limit_offset_ticks": 1.0},
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workdir", default="runs/example_execution")
    a = ap.parse_args()
    from quantjax.backtest.config import BacktestConfig
    from quantjax.backtest.pipeline import builtin_signals
    from quantjax.backtest.runner import run
    from quantjax.backtest.tick_series import tick_execution
    from quantjax.cli.main import main as cli
    from quantjax.data.market_io import load_market
    from quantjax.data.ticks import read_ticks
    from quantjax.risk import make_params

    imp = Path(a.workdir) / "import"
    if not (imp / "ticks.parquet").is_file():
        assert cli(["data", "import", "binance", str(RECORDING), "--out", str(imp), "--bar",
                    "1s", "--no-progress"]) == 0
    market, _ = load_market(imp / "bars.parquet")
    ticks = read_ticks(imp / "ticks.parquet")
    signals = builtin_signals(BacktestConfig(), market)
    out = {"bars": market.n_steps, "ticks": int(ticks.timestamp.size),
           "decisions": int((signals[0] == signals[0]).sum()), "strategy": "ofi (defaults)",
           "costs": BASE, "settings": {}}
    bars = run(make_params(**BASE), market, signals)
    out["bars: market at the next 1s bar's quotes"] = {
        "pnl": round(float(bars.total_equity()[-1]) - 100_000.0, 2),
        "fills": int((bars.records["order_qty"] != 0).sum())}
    for name, kw in SETTINGS.items():
        t0 = time.perf_counter()
        m, fills = tick_execution(make_params(**BASE, **kw), ticks, market.symbols,
                                  market.timestamps, signals)
        ex = m["execution"] or {}
        out["settings"][name] = {
            "params": kw, "pnl": round(m["pnl"], 2), "total_return": m["total_return"],
            "fills": m["fills"], "limit_orders": ex.get("n_limit_orders", 0),
            "limit_fills": ex.get("n_limit_fills", 0), "expired": ex.get("n_expired", 0),
            "seconds": round(time.perf_counter() - t0, 2)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
