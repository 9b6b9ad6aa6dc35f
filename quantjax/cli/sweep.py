"""``quantjax sweep``: hyperparameter and strategy sweeps."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    add_placeholder(sub, parents, "sweep", "hyperparameter and strategy sweeps", "issue 7")
