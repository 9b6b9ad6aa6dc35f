"""``quantjax replay``: replay ticks through predictor and risk engine."""

from __future__ import annotations

from quantjax.cli.common import Parser, add_config_args

DESCRIPTION = (
    "Replay market ticks in timestamp order through streaming features, the exported model "
    "(--artifact), the strategy, the pre-trade risk checks and simulated fills of the SAME "
    "risk step as the backtester (--risk backtest config), with the spec's monitor alerts. "
    "Writes config.yaml, metrics.json (latency p50/p95/p99/max, predictions/s, trades, PnL), "
    "alerts.jsonl, rejected.jsonl and replay.parquet into --out. With --ticks (a ticks.parquet "
    "of `quantjax data import`), the bar decisions are also executed on every trade and quote "
    "by the same risk step with its execution rules (latency in ms, limit orders and the queue "
    "model, impact, carry), scanned over the ticks (--tick-by-tick: one step call per tick, "
    "identical fills): metrics.json gains a tick_execution section, fills.parquet the fills."
)


def register(sub, parents) -> None:
    p: Parser = sub.add_parser("replay", help="replay ticks through predictor and risk engine",
                               description=DESCRIPTION, parents=parents)
    add_config_args(p, default="configs/inference.yaml")
    p.add_argument("--artifact", required=True, metavar="PATH", help="model artifact (.qjx)")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="market ticks/bars (.csv or .parquet, long format)")
    p.add_argument("--risk", default="configs/backtest.yaml", metavar="PATH",
                   help="backtest config whose risk and backtest.mode sections are used")
    p.add_argument("--ticks", default=None, metavar="PATH",
                   help="ticks.parquet of the same market: execute the decisions tick by tick")
    p.add_argument("--tick-by-tick", action="store_true",
                   help="with --ticks: call the risk step once per tick from Python (as live) "
                        "instead of one scan over the ticks; same fills, slower")
    p.add_argument("--out", default="runs/replay", help="output folder (default: runs/replay)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_replay)


def run_replay(args) -> int:
    import logging
    from pathlib import Path

    import numpy as np

    from quantjax.backtest.config import BacktestConfig
    from quantjax.backtest.pipeline import infer_periods_per_year, risk_params
    from quantjax.cli.common import console
    from quantjax.config import load, save
    from quantjax.data.market_io import load_market
    from quantjax.errors import UserError
    from quantjax.inference.artifact import load_artifact
    from quantjax.inference.config import InferenceConfig
    from quantjax.inference.replay import ReplayEngine, replay_market
    from quantjax.jsonio import write_json

    cfg = load(InferenceConfig, args.config, args.overrides)
    from quantjax.platform import set_cpu_async_dispatch

    async_dispatch = set_cpu_async_dispatch(cfg.runtime.cpu_async_dispatch)  # before any JAX call
    if not Path(args.risk).is_file():
        raise UserError(f"--risk: config file not found: {args.risk}")
    bcfg = load(BacktestConfig, args.risk)
    art = load_artifact(args.artifact)
    market, _ = load_market(args.data)
    sel = ((art.config.get("data") or {}).get("features") or {}).get("extra_columns") or ()
    if sel:  # the model reads extra columns: the ticks carry them after the market fields
        from quantjax.data.extra_columns import read_extra_columns
        from quantjax.features.streaming import with_extra_fields

        market = with_extra_fields(market, read_extra_columns(args.data, market, sel))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save(cfg, out)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    ppy = cfg.monitor.periods_per_year or infer_periods_per_year(market.timestamps)
    engine = ReplayEngine(art, risk_params(bcfg), market.symbols, market.fields, cfg,
                          mode=bcfg.backtest.mode, alerts_path=out / "alerts.jsonl",
                          periods_per_year=ppy)
    if args.no_progress:
        res = replay_market(engine, market)
    else:
        from rich.progress import Progress

        with Progress(console=console, transient=True) as prog:
            task = prog.add_task("replaying", total=market.n_steps)
            res = replay_market(engine, market, lambda t: prog.update(task, completed=t + 1))
    m = res.metrics()
    if args.ticks:
        m["tick_execution"] = _tick_execution(args.ticks, bcfg, res, out, args.tick_by_tick)
    m.update(stream_model=cfg.stream.model, artifact=str(args.artifact), data=str(args.data),
             mode=bcfg.backtest.mode, cpu_async_dispatch=async_dispatch,
             predictor=engine.predictor.describe() if engine.predictor is not None else None)
    write_json(out / "metrics.json", m)
    import json

    with (out / "rejected.jsonl").open("w") as f:
        for r in res.rejected:
            f.write(json.dumps({"timestamp": str(r.timestamp), "symbol": str(r.symbol),
                                "reason": r.reason}) + "\n")
    import pandas as pd

    S, T = res.signals.shape
    frame = pd.DataFrame({
        "timestamp": pd.to_datetime(np.repeat(res.timestamps[None], S, 0).ravel(), utc=True),
        "symbol": np.repeat(np.asarray(res.symbols, object), T),
        "signal": res.signals.ravel(),
        "p_down": res.probs[..., 0].ravel(), "p_flat": res.probs[..., 1].ravel(),
        "p_up": res.probs[..., 2].ravel(),
        "position": np.asarray(res.records["position"]).reshape(S, T).ravel(),
    })
    books = np.asarray(res.records["equity"]).reshape(-1, T)  # [S, T] or [1, T] (portfolio)
    frame["equity"] = np.broadcast_to(books, (S, T)).ravel()
    frame.to_parquet(out / "replay.parquet", index=False)
    console.print(
        f"{m['bars']} bars x {m['symbols']} symbols, {m['predictions']} predictions "
        f"({m['predictions_per_second']:.0f}/s), latency p50 {m['latency_p50_us']:.0f} us "
        f"p95 {m['latency_p95_us']:.0f} us p99 {m['latency_p99_us']:.0f} us max "
        f"{m['latency_max_us']:.0f} us; {m['trades']} trades, PnL {m['pnl']:.2f}; "
        f"{m['alerts']} alerts, {m['rejected_ticks']} rejected ticks -> {out}/metrics.json")
    return 0


def _tick_execution(path, bcfg, res, out, stepwise: bool) -> dict:
    """Execute the replay's bar decisions on the ticks of ``path``; writes fills.parquet."""
    import pandas as pd

    from quantjax.backtest.pipeline import risk_params
    from quantjax.backtest.tick_series import tick_execution
    from quantjax.data.ticks import read_ticks

    metrics, fills = tick_execution(risk_params(bcfg), read_ticks(path), res.symbols,
                                    res.timestamps, res.signals, mode=bcfg.backtest.mode,
                                    stepwise=stepwise)
    frame = pd.DataFrame(fills)
    frame["timestamp"] = pd.to_datetime(frame["timestamp"].astype("int64"), utc=True)
    frame.to_parquet(out / "fills.parquet", index=False)
    return metrics
