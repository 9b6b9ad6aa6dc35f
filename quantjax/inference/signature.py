"""The signature of an exported model function: named inputs and the flat param dict.

Runtime-only (no model code, no training code): the artifact loader, the compiled predictor
and the service import it.

Params travel as a FLAT dict ``{"params/lstm_0/w_ih": array, ...}`` (sorted string keys), so
the same function signature ``fn(params_flat, inputs) -> outputs`` works in-process, in the
compiled predictor and in an exported artifact, and the params are stored without pickle.
``inputs`` is a dict of named arrays with a leading batch axis ``[B, *shape]``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

SEP = "/"


class InputSpec(NamedTuple):
    """One named input: per-example shape (without batch) and dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str


def flatten_params(params: Any) -> dict[str, np.ndarray]:
    """Nested param dict -> ``{"a/b/c": array}`` with sorted keys."""
    flat = traverse_util.flatten_dict(jax.device_get(params), sep=SEP)
    return {k: np.asarray(flat[k]) for k in sorted(flat)}


def unflatten_params(flat: dict[str, Any]) -> dict:
    """Inverse of :func:`flatten_params`."""
    return traverse_util.unflatten_dict(dict(flat), sep=SEP)


def example_inputs(specs, batch: int) -> dict[str, np.ndarray]:
    """Zero inputs of ``batch`` examples for ``specs``."""
    return {s.name: np.zeros((batch, *s.shape), np.dtype(s.dtype)) for s in specs}


def probe_inputs(specs, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    """Deterministic non-trivial inputs of ``batch`` examples: standard normal floats, integer
    ids in {0, 1} (valid for every embedding: unseen/missing, PAD/OOV)."""
    rng = np.random.default_rng(seed)
    out = {}
    for s in specs:
        dt = np.dtype(s.dtype)
        shape = (batch, *s.shape)
        out[s.name] = (rng.integers(0, 2, shape).astype(dt) if np.issubdtype(dt, np.integer)
                       else rng.standard_normal(shape).astype(dt))
    return out


def abstract_inputs(specs, batch) -> dict[str, jax.ShapeDtypeStruct]:
    """``{name: ShapeDtypeStruct((batch, *shape))}``; ``batch`` may be symbolic."""
    return {s.name: jax.ShapeDtypeStruct((batch, *s.shape), jnp.dtype(s.dtype)) for s in specs}
