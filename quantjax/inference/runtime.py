"""Process-level JAX runtime settings for latency-critical serving.

On CPU, JAX dispatches each executable call asynchronously: the call is queued to a worker
thread and the caller later waits for it. That lets Python run ahead during training, but a
serving loop that needs each result before the next tick pays two thread hand-offs per call
(measured 37-60 µs per call on the 2-core dev machine, about a third of the compiled
streaming update of one symbol; docs/benchmarks.md). :func:`set_cpu_async_dispatch` turns it off (calls run inline in
the calling thread) — JAX's own ``jax_cpu_enable_async_dispatch`` option, equivalent to the
environment variable ``JAX_CPU_ENABLE_ASYNC_DISPATCH=false``. It only affects single-device CPU
computations and must be set before JAX creates its CPU backend (the first computation or
device query).

:func:`batch_compiler_options` gives the per-executable XLA options of an inference call of
many rows. On CPU, XLA's YNNPACK fusions (a matmul fused with the elementwise work around it)
made forward passes of 64+ rows slower, while a single row and training were faster with them
(measured on the 2-core dev machine, stop 13, docs/benchmarks.md): credit scoring, 128-row
chunks, 530 -> 610 applications/s; HFT forward, batch 64 826 -> 980 and batch 256
928 -> 1068 windows/s; one HFT window 399 -> 376 /s; HFT training 256 -> 237 samples/s. So
inference executables of at least ``min_rows`` rows turn them off; everything else keeps XLA's
defaults.
"""

from __future__ import annotations

import jax


def backends_initialized() -> bool:
    """True once JAX has created its backends (process-level settings are then fixed)."""
    try:  # private API; if it moves, assume JAX has not started yet
        from jax._src.xla_bridge import backends_are_initialized
    except ImportError:  # pragma: no cover
        return False
    return bool(backends_are_initialized())


def set_cpu_async_dispatch(enabled: bool) -> bool:
    """Set JAX's CPU async dispatch for this process. Returns the setting in effect: the
    requested one, or the current one when JAX's backend already exists (then nothing changes)."""
    if backends_initialized():
        return bool(jax.config.values["jax_cpu_enable_async_dispatch"])
    jax.config.update("jax_cpu_enable_async_dispatch", bool(enabled))
    return bool(enabled)


#: XLA options of a CPU inference executable of many rows (see the module doc).
CPU_BATCH_OPTIONS = {"xla_cpu_experimental_ynn_fusion_type": ""}


def batch_compiler_options(rows: int, min_rows: int = 64) -> dict | None:
    """Per-executable XLA compiler options for an inference call of ``rows`` rows: on the CPU
    backend with ``rows >= min_rows``, :data:`CPU_BATCH_OPTIONS` (YNNPACK fusions off);
    otherwise ``None`` (XLA's defaults). Pass to ``jax.jit(..., compiler_options=...)`` or
    ``lowered.compile(compiler_options=...)``."""
    if rows >= min_rows and jax.default_backend() == "cpu":
        return dict(CPU_BATCH_OPTIONS)
    return None
