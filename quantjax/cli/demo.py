"""``quantjax demo``: the whole pipeline on embedded synthetic data."""

from __future__ import annotations


def register(sub, parents) -> None:
    p = sub.add_parser(
        "demo",
        help="run the pipeline end to end on synthetic data",
        description="Generate synthetic market and credit data, validate them and run the "
        "pipeline stages built so far. Writes everything under --workdir.",
        parents=parents,
    )
    p.add_argument("--workdir", default="runs/demo", help="output folder (default: runs/demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from quantjax.cli.common import console

    console.print("[bold]quantjax demo[/bold]: nothing wired yet")
    return 0
