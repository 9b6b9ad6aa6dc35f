"""``quantjax report``: write an HTML report of a run."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    add_placeholder(sub, parents, "report", "write an HTML report of a run", "issue 9")
