"""Paths the tests share: the repository root, its configs and the test data files."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONFIGS = ROOT / "configs"
#: a German-credit-like applications file (numeric, categorical, text and series columns)
GERMAN_CSV = ROOT / "tests" / "support" / "german_like.csv"
#: the persistent JAX compilation cache of the test suite (also for test subprocesses)
JAX_CACHE = ROOT / ".jax_cache"


def child_env(**extra: str) -> dict:
    """Environment for a test's Python subprocess: this one's, with ``tests/`` on ``PYTHONPATH``
    (so the child imports ``support.*`` as the tests do) and ``extra`` set."""
    import os

    path = os.pathsep.join(filter(None, [str(ROOT / "tests"), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **extra}
