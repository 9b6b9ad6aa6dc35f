"""Entry point of the ``quantjax`` console script.

Every subcommand group lives in its own module with a ``register(subparsers)``
function. A :class:`quantjax.errors.UserError` becomes one line on stderr and
exit code 2 (traceback only with ``--debug``).
"""

from __future__ import annotations

import argparse
import sys
import traceback

from quantjax.cli import (
    backtest,
    credit,
    data,
    demo,
    export,
    replay,
    report,
    score,
    serve,
    sweep,
    train,
)
from quantjax.cli.common import command_parser
from quantjax.errors import UserError

GROUPS = (data, train, sweep, backtest, score, credit, export, replay, serve, report, demo)


def build_parser() -> argparse.ArgumentParser:
    return command_parser(GROUPS)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    debug = bool(getattr(args, "debug", False))
    try:
        rc = args.func(args)
    except UserError as e:
        if debug:
            traceback.print_exc()
        msg = str(e).replace("\n", " ")
        sys.stderr.write(f"quantjax: error: {msg}\n")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("quantjax: interrupted\n")
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
