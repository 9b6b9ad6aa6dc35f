"""``quantjax data ...``: validate, synth-market, synth-credit, features, import."""

from __future__ import annotations

from quantjax.cli import data_credit, data_features, data_import, data_market


def register(sub, parents) -> None:
    p = sub.add_parser("data", help="generate, validate and featurize data", parents=parents)
    dsub = p.add_subparsers(dest="data_command", metavar="SUBCOMMAND", parser_class=type(p))
    dsub.required = True
    data_market.register(dsub, parents)
    data_credit.register(dsub, parents)
    data_features.register(dsub, parents)
    data_import.register(dsub, parents)
