"""Feature standardization fitted on the training split only; serializable for checkpoints."""

from __future__ import annotations

from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from quantjax.errors import DataError


class Scaler(NamedTuple):
    """Per-feature affine standardization ``(x - mean) / std``."""

    mean: np.ndarray  # [F] float32
    std: np.ndarray  # [F] float32, > 0

    def to_dict(self) -> dict:
        """Plain JSON-ready mapping (lists of floats) for checkpoints."""
        return {"mean": np.asarray(self.mean).tolist(), "std": np.asarray(self.std).tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Scaler:
        return cls(np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32))


def fit_scaler(features: np.ndarray, valid: np.ndarray, train_index: np.ndarray) -> Scaler:
    """Fit mean/std (float64 on host) on the rows that training windows can read: valid rows
    ``(s, t)`` of the training symbols with ``t <= max t_end`` of ``train_index``.

    ``features[S, T, F]``, ``valid[S, T]``, ``train_index[N, 2]`` (symbol, t_end). A feature
    whose training std is 0 (or not finite) gets std 1 (it becomes a centred constant).
    """
    train_index = np.asarray(train_index)
    if train_index.size == 0:
        raise DataError("fit_scaler: the training split has no samples")
    S, T, F = features.shape
    rows = np.zeros((S, T), bool)
    syms = np.unique(train_index[:, 0])
    rows[syms, : int(train_index[:, 1].max()) + 1] = True
    rows &= np.asarray(valid, bool)
    x = np.asarray(features)[rows].astype(np.float64)
    mean = x.mean(axis=0)
    std = x.std(axis=0)
    std = np.where(np.isfinite(std) & (std > 1e-12 * np.maximum(np.abs(mean), 1e-30)), std, 1.0)
    std = np.where(std > 0, std, 1.0)
    return Scaler(mean.astype(np.float32), std.astype(np.float32))


def apply_scaler(
    scaler: Scaler, features, valid, clip: float | None = None
):
    """``(x - mean) / std`` where valid, 0 elsewhere; optional clipping to ``[-clip, clip]``.
    Works on numpy or jax arrays ``[..., F]`` with ``valid[...]``."""
    xp = np if isinstance(features, np.ndarray) else jnp
    z = (features - xp.asarray(scaler.mean)) / xp.asarray(scaler.std)
    if clip is not None:
        z = xp.clip(z, -clip, clip)
    return xp.where(xp.asarray(valid)[..., None], z, 0.0).astype(xp.float32)
