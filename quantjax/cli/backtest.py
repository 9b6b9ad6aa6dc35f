"""``quantjax backtest``: backtest signals or a model with the risk engine."""

from __future__ import annotations

import argparse

from quantjax.cli.common import Parser, add_config_args, add_distributed_arg, start_distributed

DESCRIPTION = (
    "Backtest target positions with the risk engine (fills at t+1, fees, slippage, stops, "
    "limits, drawdown breaker). Signals come from --signals (long CSV/Parquet: timestamp, "
    "symbol, target | entry, exit), from a trained model (--checkpoint) or from the built-in "
    "rule strategy.name (ofi | momentum). Writes config.yaml, metrics.json, equity.parquet, "
    "trades.parquet and returns.csv into --out."
)


def register(sub, parents) -> None:
    p: Parser = sub.add_parser("backtest", help="backtest signals or a model with the risk engine",
                               description=DESCRIPTION, parents=parents)
    add_config_args(p, default="configs/backtest.yaml")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", metavar="RUN", help="trained HFT run folder")
    src.add_argument("--signals", metavar="PATH", help="signals file (.csv or .parquet)")
    data = p.add_mutually_exclusive_group(required=True)
    data.add_argument("--data", metavar="PATH", help="market file (.csv or .parquet)")
    data.add_argument("--synthetic", action="store_true",
                      help="generate the market from the config's synthetic section")
    p.add_argument("--strategy", choices=("ofi", "momentum"), default=None,
                   help="built-in rule when neither --signals nor --checkpoint is given "
                        "(same as --set strategy.name=...)")
    p.add_argument("--out", default="runs/bt", help="output folder (default: runs/bt)")
    p.add_argument("--memory-budget", metavar="SIZE", default=None,
                   help="device memory one time chunk of the engine may use, e.g. 512MB or 2GB "
                        "(same as --set backtest.memory_budget_mb=...; default: half the "
                        "device's free memory); longer runs go in chunks, with the same results")
    add_distributed_arg(p)
    p.set_defaults(func=run_backtest_cmd)


def _load_config(args: argparse.Namespace):
    from pathlib import Path

    from quantjax.backtest.config import BacktestConfig
    from quantjax.config import load

    path = args.config
    if path == "configs/backtest.yaml" and not Path(path).is_file():
        path = None  # default config file absent (e.g. outside the repo): use built-in defaults
    overrides = list(args.overrides)
    if args.strategy:
        overrides.append(f"strategy.name={args.strategy}")
    if args.memory_budget is not None:
        from quantjax.backtest.budget import parse_size_mb

        overrides.append(f"backtest.memory_budget_mb={parse_size_mb(args.memory_budget):.6g}")
    return load(BacktestConfig, path, overrides)


def _market(args: argparse.Namespace, cfg):
    if args.synthetic:
        from quantjax.data.market_io import market_from_frame
        from quantjax.data.synth_market import generate

        df, _ = generate(cfg.synthetic)
        market, _ = market_from_frame(df, name="<synthetic>")
        return market
    from quantjax.data.market_io import load_market

    market, _ = load_market(args.data)
    return market


def _fast_cpu_loops() -> bool:
    """Enable XLA's single-kernel CPU loops for this process (a CLI process: process-wide is
    fine) unless ``JAX_PLATFORMS`` excludes the CPU or ``QUANTJAX_FAST_CPU_LOOPS=0``."""
    import os

    from quantjax.platform import enable_fast_cpu_loops

    platforms = os.environ.get("JAX_PLATFORMS", "")
    if os.environ.get("QUANTJAX_FAST_CPU_LOOPS", "1") == "0":
        return False
    if platforms and "cpu" not in platforms.lower().split(","):
        return False
    return enable_fast_cpu_loops()


def _num(v, spec: str) -> str:
    import math

    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def _interval(ci, spec: str) -> str:
    if not ci or ci[0] is None:
        return ""
    return f" [95% {_num(ci[0], spec)}, {_num(ci[1], spec)}]"


def annualization_lines(port: dict) -> list[str]:
    """Summary lines of a backtest's annualized and per-bar figures (``metrics.json``
    ``portfolio``): the annualized Sharpe / annual return with their intervals, or why they
    are null, and the per-bar Sharpe beside them."""
    ann = port.get("annualization") or {}
    bar = (f"per bar: mean return {_num(port['mean_bar_return'], '.3g')}, Sharpe "
           f"{_num(port['sharpe_per_bar'], '.4f')}"
           f"{_interval(port.get('sharpe_per_bar_ci'), '.4f')} over {port['n_bars']} bars")
    if ann.get("annualized"):
        basis = "daily returns" if ann["basis"] == "daily" else "bar returns"
        return [f"  annualized from {basis} ({ann['n_days']:g} trading days): Sharpe "
                f"{_num(port['sharpe'], '.2f')}{_interval(port.get('sharpe_ci'), '.2f')}, annual "
                f"return {_num(port['annual_return'], '.2%')}"
                f"{_interval(port.get('annual_return_ci'), '.2%')}",
                "  " + bar]
    return [f"  annualized figures: n/a ({ann.get('reason')})", "  " + bar]


def run_backtest_cmd(args: argparse.Namespace) -> int:
    import time

    fast = _fast_cpu_loops()  # before any JAX computation
    start_distributed(args)

    import numpy as np

    from quantjax.backtest import pipeline
    from quantjax.backtest.outputs import write_results
    from quantjax.backtest.signals import read_signals
    from quantjax.cli.common import console
    from quantjax.config import save

    t0 = time.perf_counter()
    cfg = _load_config(args)
    with console.status("loading market data"):
        market = _market(args, cfg)
    if args.signals:
        signals = read_signals(args.signals, market)
        source = f"signals file {args.signals}"
    elif args.checkpoint:
        from quantjax.hft import predict as hft_predict
        from quantjax.hft.walk_forward import is_walk_forward_run

        extra = None
        names = hft_predict.run_extra_columns(args.checkpoint)
        if names:
            from quantjax.data.extra_columns import read_extra_columns
            from quantjax.errors import UserError

            if args.synthetic:
                raise UserError(f"{args.checkpoint} uses extra columns ({names}); backtest it "
                                "on a --data file that has them")
            extra = read_extra_columns(args.data, market, names)
        with console.status(f"predicting with the model of {args.checkpoint}"):
            kw = {} if extra is None else {"extra_columns": extra}
            outputs = hft_predict.predict_market(args.checkpoint, market, **kw)
        signals = pipeline.model_signals(cfg, market, *outputs)
        if is_walk_forward_run(args.checkpoint):
            n_oos = int(np.isfinite(outputs[1]).sum())
            source = (f"walk-forward run {args.checkpoint}, out-of-sample predictions only "
                      f"({n_oos} symbol-bars)")
        else:
            source = f"checkpoint {args.checkpoint}"
    else:
        signals = pipeline.builtin_signals(cfg, market)
        source = f"built-in strategy '{cfg.strategy.name}'"
    with console.status(f"running the engine on {market.n_symbols} symbols x "
                        f"{market.n_steps} steps"):
        res = pipeline.run_backtest(cfg, market, signals)
    ppy = cfg.backtest.periods_per_year
    if not ppy:
        ppy = (pipeline.synthetic_periods_per_year(cfg.synthetic) if args.synthetic
               else pipeline.infer_periods_per_year(market.timestamps))
    bench = pipeline.equal_weight_benchmark(market) if cfg.backtest.benchmark != "none" else None
    from quantjax.distributed import is_main_process

    if not is_main_process():  # a multi-process run: process 0 writes the results
        return 0
    save(cfg, args.out)
    bt = cfg.backtest
    with console.status("writing results"):
        metrics = write_results(res, args.out, ppy, bench, min_days=bt.min_days_annualized,
                                bootstrap=(bt.bootstrap_resamples, bt.bootstrap_seed),
                                info={"signal_source": source})
    port = metrics["portfolio"]

    def fmt(v, spec=".4f"):
        return "n/a" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)

    console.print(f"[bold green]backtest done[/bold green] ({source}, mode {res.mode}, "
                  f"record {res.record}, fast CPU loops {'on' if fast else 'off'}, "
                  f"{time.perf_counter() - t0:.1f}s)")
    console.print(f"  final equity {fmt(port['final_equity'], ',.2f')} "
                  f"(initial {port['initial_equity']:,.2f}), total return "
                  f"{fmt(port['total_return'], '.2%')}, max drawdown "
                  f"{fmt(port['max_drawdown'], '.2%')}", markup=False)
    for line in annualization_lines(port):
        console.print(line, markup=False)
    console.print(f"  trades {port['n_trades']}, win rate {fmt(port['win_rate'], '.1%')}, "
                  f"fees {fmt(port['total_fees'], ',.2f')}, breaker tripped "
                  f"{port['breaker_tripped']}", markup=False)
    console.print(f"  wrote {args.out}/metrics.json, equity.parquet, trades.parquet, "
                  "returns.csv, config.yaml", markup=False)
    return 0
