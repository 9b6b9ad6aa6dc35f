"""``quantjax replay``: replay ticks through predictor and risk engine."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    add_placeholder(sub, parents, "replay", "replay ticks through predictor and risk engine", "issue 8")
