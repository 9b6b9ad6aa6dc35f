"""Ahead-of-time compiled predictor with fixed batch buckets.

``CompiledPredictor(fn, params, inputs, buckets)`` lowers and compiles
``jax.jit(fn).lower(params, inputs_of_bucket).compile()`` for every bucket at construction
(params are ARGUMENTS of the executable, not baked-in constants, so new weights need no
recompile), runs ``warmup`` calls per bucket, and serves ``predict(inputs)`` by padding the
request to the next bucket (requests above the largest bucket are split into chunks of it).
No call of :meth:`CompiledPredictor.predict` ever compiles. Buckets of 64 rows or more get
:func:`quantjax.platform.batch_compiler_options` (on CPU: YNNPACK fusions off,
measured faster for batched forward passes).
"""

from __future__ import annotations

import time
from typing import Any

import jax
import numpy as np

from quantjax.errors import UserError
from quantjax.inference.model_fn import InputSpec, abstract_inputs, example_inputs
from quantjax.inference.model_fn import from_checkpoint as mf_from_checkpoint
from quantjax.platform import batch_compiler_options

DEFAULT_BUCKETS = (1, 8, 64, 512)


class CompiledPredictor:
    """See module docstring. ``inputs``: the :class:`InputSpec` of every named input."""

    def __init__(self, fn, params: Any, inputs: tuple[InputSpec, ...],
                 buckets: tuple[int, ...] = DEFAULT_BUCKETS, warmup: int = 3):
        self.inputs = tuple(inputs)
        self.buckets = tuple(sorted(set(int(b) for b in buckets)))
        self.params = jax.device_put(params)
        abstract_params = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype),
                                       self.params)
        jitted = jax.jit(fn)
        t0 = time.perf_counter()
        self._compiled = {b: jitted.lower(abstract_params, abstract_inputs(self.inputs, b))
                          .compile(compiler_options=batch_compiler_options(b))
                          for b in self.buckets}
        self.compile_seconds = time.perf_counter() - t0
        for b in self.buckets:
            ex = example_inputs(self.inputs, b)
            for _ in range(warmup):
                jax.block_until_ready(self._compiled[b](self.params, ex))

    def bucket_for(self, n: int) -> int:
        """Smallest bucket >= n (the largest bucket when n exceeds it)."""
        for b in self.buckets:
            if b >= n:
                return b
        return self.buckets[-1]

    def _check(self, inputs: dict) -> int:
        n = None
        for s in self.inputs:
            if s.name not in inputs:
                raise UserError(f"predict: missing input {s.name!r}")
            a = inputs[s.name]
            if tuple(a.shape[1:]) != tuple(s.shape):
                raise UserError(f"predict: input {s.name!r} has per-example shape "
                                f"{tuple(a.shape[1:])}, expected {tuple(s.shape)}")
            n = a.shape[0] if n is None else n
            if a.shape[0] != n:
                raise UserError(f"predict: input {s.name!r} has batch {a.shape[0]}, expected {n}")
        return int(n or 0)

    def predict(self, inputs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for a batch of ``n`` examples (numpy, leading axis n)."""
        if not isinstance(inputs, dict):
            inputs = {self.inputs[0].name: inputs}
        n = self._check(inputs)
        if n == 0:
            raise UserError("predict: empty batch")
        top = self.buckets[-1]
        parts = []
        for a in range(0, n, top):
            m = min(top, n - a)
            b = self.bucket_for(m)
            chunk = {}
            for s in self.inputs:
                x = np.asarray(inputs[s.name][a:a + m], dtype=np.dtype(s.dtype))
                if m < b:
                    x = np.concatenate([x, np.zeros((b - m, *s.shape), x.dtype)], axis=0)
                chunk[s.name] = x
            out = self._compiled[b](self.params, chunk)
            parts.append({k: np.asarray(v)[:m] for k, v in out.items()})
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def set_params(self, params: Any) -> None:
        """Swap weights of the same shapes (no recompilation)."""
        self.params = jax.device_put(params)


def from_model_fn(mf, buckets=DEFAULT_BUCKETS, warmup: int = 3) -> CompiledPredictor:
    """Compiled predictor of a :class:`quantjax.inference.model_fn.ModelFn`."""
    return CompiledPredictor(mf.fn, mf.params, mf.inputs, buckets, warmup)


def from_checkpoint(run_dir, buckets=DEFAULT_BUCKETS, warmup: int = 3) -> CompiledPredictor:
    """Compiled predictor of a training run folder (in-process model code)."""

    return from_model_fn(mf_from_checkpoint(run_dir), buckets, warmup)
