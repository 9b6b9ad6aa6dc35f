"""Test-only helpers (oracles, references): ``from support.<module> import ...``."""
