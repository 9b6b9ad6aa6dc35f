"""``quantjax score credit``."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    p = sub.add_parser("score", help="score applications with a trained model", parents=parents)
    ssub = p.add_subparsers(dest="score_command", metavar="MODEL", parser_class=type(p))
    ssub.required = True
    add_placeholder(ssub, parents, "credit", "score credit applications", "issue 5")
