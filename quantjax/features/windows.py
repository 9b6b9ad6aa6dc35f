"""Sample windows over the feature array, gathered inside jit (memory O(T*F), never O(T*L*F)).

A sample is an index pair ``(symbol, t_end)``; its input window is rows
``[t_end - L + 1, t_end]`` of ``features[symbol]`` and its label is the label at ``t_end``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax


def sample_valid(valid: np.ndarray, label_valid: np.ndarray, seq_len: int) -> np.ndarray:
    """``[S, T]`` bool: all L rows of the window ending at t are feature-valid and the label
    at t is valid (so ``t >= L - 1``)."""
    S, T = valid.shape
    L = int(seq_len)
    bad = np.concatenate([np.zeros((S, 1), np.int64), np.cumsum(~valid, axis=1)], axis=1)
    t = np.arange(T)
    start = np.clip(t - L + 1, 0, None)
    ok = (t >= L - 1) & (bad[:, t + 1] - bad[:, start] == 0)
    return ok & label_valid


def sample_index(ok: np.ndarray, t_range: tuple[int, int] | None = None) -> np.ndarray:
    """``[N, 2]`` int32 ``(symbol, t_end)`` of the True entries of ``ok[S, T]`` whose t_end
    lies in ``[lo, hi)``; ordered by t_end, then symbol."""
    t_idx, s_idx = np.nonzero(ok.T)
    if t_range is not None:
        keep = (t_idx >= t_range[0]) & (t_idx < t_range[1])
        t_idx, s_idx = t_idx[keep], s_idx[keep]
    return np.stack([s_idx, t_idx], axis=1).astype(np.int32).reshape(-1, 2)


def gather_windows(features: jax.Array, index: jax.Array, seq_len: int) -> jax.Array:
    """``features[S, T, F]``, ``index[B, 2]`` int32 (symbol, t_end) -> ``[B, L, F]``.

    Jittable (``seq_len`` static): one ``dynamic_slice`` per sample, vmapped.
    """
    features = jnp.asarray(features)
    index = jnp.asarray(index, jnp.int32)
    F = features.shape[-1]

    def one(ix):
        start = ix[1] - (seq_len - 1)
        return lax.dynamic_slice(features, (ix[0], start, 0), (1, seq_len, F))[0]

    return jax.vmap(one)(index)
