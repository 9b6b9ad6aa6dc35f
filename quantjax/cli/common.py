"""Shared CLI helpers: argument parser that exits 2 on one line, common flags, console."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from rich.console import Console

from quantjax import __version__

console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


class Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line on stderr and exit code 2."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def add_config_args(p: argparse.ArgumentParser, default: str | None = None) -> None:
    """``--config PATH`` and repeatable ``--set section.key=value``."""
    p.add_argument("--config", default=default, help=f"YAML config file (default: {default})")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config field, e.g. --set model.hidden_size=64 (repeatable)",
    )


def command_parser(groups) -> argparse.ArgumentParser:
    """The ``quantjax`` parser with the subcommands of ``groups`` (modules with a
    ``register(subparsers, parents)``) and the global ``--debug`` / ``--version`` flags."""
    debug = Parser(add_help=False)
    debug.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS,
        help="show full tracebacks for errors",
    )
    parser = Parser(
        prog="quantjax",
        description="JAX framework for HFT prediction, backtesting and credit risk.",
        parents=[debug],
    )
    parser.add_argument("--version", action="version", version=f"quantjax {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for group in groups:
        group.register(sub, [debug])
    return parser


def add_distributed_arg(p: argparse.ArgumentParser) -> None:
    """``--distributed``: join a multi-process run (``quantjax.distributed``)."""
    p.add_argument("--distributed", action="store_true",
                   help="one process of a multi-process run: jax.distributed.initialize() "
                        "from JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID or "
                        "SLURM (also when QUANTJAX_DISTRIBUTED=1; quantjax launch sets them); "
                        "see docs/gpu.md")


def start_distributed(args: argparse.Namespace) -> bool:
    """Join the multi-process run when ``--distributed`` (or ``QUANTJAX_DISTRIBUTED=1``) asks
    for it; call before any JAX computation. Returns whether it did."""
    from quantjax import distributed

    if not distributed.requested(getattr(args, "distributed", False)):
        return False
    distributed.initialize()
    return True
