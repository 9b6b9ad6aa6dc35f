"""``quantjax export``: export a checkpoint as a portable artifact."""

from __future__ import annotations

from quantjax.cli.common import add_placeholder


def register(sub, parents) -> None:
    add_placeholder(sub, parents, "export", "export a checkpoint as a portable artifact", "issue 8")
