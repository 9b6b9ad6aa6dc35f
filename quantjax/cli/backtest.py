"""``quantjax backtest``: backtest signals or a model with the risk engine."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    add_placeholder(sub, parents, "backtest", "backtest signals or a model with the risk engine", "issue 6")
