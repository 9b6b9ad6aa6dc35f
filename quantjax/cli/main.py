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
    launch,
    replay,
    report,
    score,
    serve,
    sweep,
    train,
)
from quantjax.cli.common import command_parser
from quantjax.errors import UserError

GROUPS = (data, train, sweep, backtest, score, credit, export, replay, serve, report, demo,
          launch)


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
        where = f"[{_distributed().describe()}] " if _distributed() else ""
        sys.stderr.write(f"quantjax: error: {where}{msg}\n")
        return _leave(2)
    except KeyboardInterrupt:
        sys.stderr.write("quantjax: interrupted\n")
        return _leave(130)
    except SystemExit:
        raise
    except BaseException:
        if not _distributed():
            raise
        traceback.print_exc()
        sys.stderr.write(f"quantjax: error: [{_distributed().describe()}] crashed (traceback "
                         "above)\n")
        return _leave(1)
    return int(rc or 0)


def _leave(code: int) -> int:
    """``code``; in a multi-process run leave at once (the other processes are stopped by
    their heartbeat or by ``quantjax launch``, see :mod:`quantjax.distributed`)."""
    dist = _distributed()
    if dist:
        dist.exit_now(code)
    return code


def _distributed():
    """The :mod:`quantjax.distributed` module when this process is part of a multi-process
    run, else None (without importing JAX when no command has started it)."""
    if "quantjax.distributed" not in sys.modules:
        return None
    from quantjax import distributed

    return distributed if distributed.is_active() else None


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
