"""Shared test setup: a persistent JAX compilation cache and deterministic CPU runs."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")
# in-process CLI calls must not switch XLA's CPU loop mode for the rest of the session;
# tests that need the fast loops run them in a subprocess
os.environ.setdefault("QUANTJAX_FAST_CPU_LOOPS", "0")
os.environ.setdefault("QUANTJAX_CPU_DEVICES", "1")  # likewise: one CPU device in-process

import jax  # noqa: E402

_CACHE = Path(os.environ.get("QUANTJAX_TEST_JAX_CACHE", Path(__file__).parent.parent / ".jax_cache"))
jax.config.update("jax_compilation_cache_dir", str(_CACHE))
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
