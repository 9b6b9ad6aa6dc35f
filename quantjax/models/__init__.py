"""Flax linen models used through pure ``init`` / ``apply``."""
