"""Temperature scaling: ``p = sigmoid(logit / T)`` with T fitted on the validation split.

The fit minimises the validation log loss over log T by golden-section search (the loss is
unimodal in log T), on host in float64: deterministic and dependency-free.
"""

from __future__ import annotations

import math

import numpy as np


def _nll(y: np.ndarray, z: np.ndarray, log_t: float) -> float:
    s = z / math.exp(log_t)
    # log(1 + e^s) - y s, stable
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def fit_temperature(y, logits, lo: float = -4.0, hi: float = 4.0, iters: int = 80) -> float:
    """Temperature T > 0 minimising the NLL of ``sigmoid(logits / T)`` against ``y``."""
    y = np.asarray(y, dtype=np.float64).ravel()
    z = np.asarray(logits, dtype=np.float64).ravel()
    if y.size == 0 or y.min() == y.max():
        return 1.0
    g = (math.sqrt(5) - 1) / 2
    a, b = lo, hi
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = _nll(y, z, c), _nll(y, z, d)
    for _ in range(iters):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = _nll(y, z, c)
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = _nll(y, z, d)
    return float(math.exp((a + b) / 2))


def apply_temperature(logits, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logits / T)`` (float64)."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    return 0.5 * (1.0 + np.tanh(0.5 * z))
