"""``quantjax train hft|credit``."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    p = sub.add_parser("train", help="train a model (hft or credit)", parents=parents)
    tsub = p.add_subparsers(dest="train_command", metavar="MODEL", parser_class=type(p))
    tsub.required = True
    add_placeholder(tsub, parents, "hft", "train the HFT LSTM-attention model", "issue 4")
    add_placeholder(tsub, parents, "credit", "train the credit-risk transformer", "issue 5")
