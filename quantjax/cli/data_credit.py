"""Placeholder; filled in by its owner."""


def register(dsub, parents) -> None:
    pass
