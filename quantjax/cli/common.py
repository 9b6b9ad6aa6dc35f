"""Shared CLI helpers: argument parser that exits 2 on one line, common flags, console."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

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


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as pretty JSON (NaN written as null)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")
    return path


def _jsonable(obj: Any) -> Any:
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def add_placeholder(sub: Any, parents: list, name: str, help_text: str, issue: str) -> Parser:
    """Register a command that exists (with --help) but is not built yet: exit 2."""
    p = sub.add_parser(name, help=help_text, description=help_text, parents=parents)

    def _run(args: argparse.Namespace) -> int:
        from quantjax.errors import UserError

        raise UserError(f"'{p.prog}' is not implemented in this version yet ({issue})")

    p.set_defaults(func=_run)
    return p
