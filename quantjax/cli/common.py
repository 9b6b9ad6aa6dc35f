"""Shared CLI helpers: argument parser that exits 2 on one line, common flags, console."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from rich.console import Console

from quantjax.jsonio import write_json  # noqa: F401  (re-exported for the CLI modules)

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
