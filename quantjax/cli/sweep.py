"""``quantjax sweep``: hyperparameter (hft, credit) and strategy (backtest) sweeps."""

from __future__ import annotations

import argparse

from quantjax.cli.common import add_config_args, add_distributed_arg, start_distributed


def register(sub, parents) -> None:
    p = sub.add_parser(
        "sweep", help="hyperparameter and strategy sweeps",
        description="Run a grid or random sweep defined in a sweep YAML (sweep.kind: hft | "
        "credit | backtest). Trials that differ only in traced values train/backtest together "
        "in one vmapped program, sharded over all devices. Writes config.yaml, trials.csv, "
        "trials.parquet, metrics.json and best/ into --workdir.", parents=parents)
    add_config_args(p, default="configs/sweep_hft.yaml")
    p.add_argument("--workdir", default="runs/sweep", help="output folder (default: runs/sweep)")
    p.add_argument("--max-parallel", type=int, default=0, metavar="N",
                   help="strategy sweeps: parameter sets per compiled call (default: from a "
                        "memory estimate); training sweeps use sweep.chunk")
    add_distributed_arg(p)
    p.add_argument("--cpu-devices", type=int, default=None, metavar="N",
                   help="XLA CPU devices for this process, over which chunks of trials are "
                        "spread (default: QUANTJAX_CPU_DEVICES, else one per core; the trial "
                        "table is identical for any N)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run_sweep_cmd)


def _cpu_devices(n: int | None) -> int:
    """Expose ``n`` XLA CPU devices (default: one per core) to this CLI process so that the
    sweep shards its trials over the cores, unless the user's ``XLA_FLAGS`` already sets a
    device count or JAX has started a backend (:func:`quantjax.platform.request_cpu_devices`).
    Returns the count in effect."""
    import os

    from quantjax.errors import UserError

    if n is None:
        env = os.environ.get("QUANTJAX_CPU_DEVICES", "").strip()
        if env and not env.isdigit():
            raise UserError(f"QUANTJAX_CPU_DEVICES: must be a positive integer, got {env!r}")
        n = int(env or 0) or (os.cpu_count() or 1)
    if n < 1:
        raise UserError(f"--cpu-devices: must be >= 1, got {n}")
    from quantjax.platform import request_cpu_devices

    return request_cpu_devices(n)


def run_sweep_cmd(args: argparse.Namespace) -> int:
    from quantjax.errors import UserError

    if args.max_parallel < 0:
        raise UserError(f"--max-parallel: must be >= 1, got {args.max_parallel}")
    if args.cpu_devices is not None:  # a process of a distributed run reads it too
        import os

        os.environ["QUANTJAX_CPU_DEVICES"] = str(args.cpu_devices)
    if not start_distributed(args):  # before any JAX computation
        _cpu_devices(args.cpu_devices)
    from quantjax.cli.common import console
    from quantjax.config import load
    from quantjax.sweep.config import SweepConfig
    from quantjax.sweep.run import run_sweep

    cfg = load(SweepConfig, args.config, args.overrides)
    m = run_sweep(cfg, args.workdir, max_parallel=args.max_parallel,
                  progress=not args.no_progress, log=lambda s: console.print(s, markup=False))
    bm = m["best_metrics"]
    obj = m["objective"]
    console.print(f"[bold green]sweep done[/bold green]: {m['n_trials']} trials in "
                  f"{m['n_groups']} program group(s), {m['wall_s']:.1f}s on {m['n_devices']} "
                  "device(s)")
    console.print(f"  best trial {m['best_trial']}: {m['best_params']} -> {obj} = "
                  f"{bm.get(obj)}", markup=False)
    if m["kind"] == "backtest":
        d = m["dsr"]
        console.print(f"  raw Sharpe {m['best_sharpe']:.3f} (annualized), deflated Sharpe "
                      f"ratio {_fmt(d.get('dsr'))} (P[true SR > SR0 = {d.get('sr0', 0):.4g}/period] "
                      f"given {d.get('n_trials')} trials)", markup=False)
    console.print(f"  wrote {args.workdir}/trials.csv, trials.parquet, metrics.json, best/",
                  markup=False)
    return 0


def _fmt(v) -> str:
    return "n/a" if v is None or v != v else f"{v:.4f}"
