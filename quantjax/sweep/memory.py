"""How many trials fit in one compiled call: a size estimate vs free device memory."""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np

from quantjax.platform import device_free_bytes


def tree_bytes(tree: Any) -> int:
    """Bytes of every array leaf (``ShapeDtypeStruct`` leaves too)."""
    return int(sum(math.prod(a.shape) * np.dtype(a.dtype).itemsize
                   for a in jax.tree.leaves(tree) if hasattr(a, "shape")))


def _sub_jaxprs(eqn):
    for v in eqn.params.values():
        for j in (v if isinstance(v, (list, tuple)) else (v,)):
            if hasattr(j, "eqns"):
                yield j
            elif hasattr(getattr(j, "jaxpr", None), "eqns"):
                yield j.jaxpr


def _aval_bytes(aval) -> int:
    shape = getattr(aval, "shape", None)
    if shape is None:
        return 0
    try:
        size = np.dtype(aval.dtype).itemsize
    except TypeError:  # PRNG key dtypes
        size = 8
    return math.prod(shape) * size


def jaxpr_bytes(jaxpr) -> int:
    """Upper bound of the intermediate values of a jaxpr (every equation output, scan
    bodies times their length): the activations kept for the backward pass."""
    total = 0
    for eqn in jaxpr.eqns:
        total += sum(_aval_bytes(v.aval) for v in eqn.outvars)
        inner = sum(jaxpr_bytes(j) for j in _sub_jaxprs(eqn))
        total += inner * int(eqn.params.get("length", 1) or 1)
    return total


def fn_bytes(fn, *args) -> int:
    """Intermediate bytes of ``fn(*args)`` (args may be ``ShapeDtypeStruct``)."""
    return jaxpr_bytes(jax.make_jaxpr(fn)(*args).jaxpr)


def chunk_size(n_trials: int, per_trial: int, shared: int, n_devices: int,
               fraction: float, max_parallel: int = 0) -> int:
    """Trials per call: ``max_parallel`` if set, else as many as fit in ``fraction`` of the
    free memory of each device (after the replicated ``shared`` bytes). A multiple of
    ``n_devices``, at least ``n_devices``, at most ``n_trials`` rounded up to it."""
    cap = math.ceil(n_trials / n_devices) * n_devices
    if max_parallel:
        k = max_parallel
    else:
        budget = fraction * device_free_bytes() - shared
        k = int(max(budget, 0) // max(per_trial, 1)) * n_devices
    k = math.ceil(max(k, 1) / n_devices) * n_devices
    return int(min(k, cap))
