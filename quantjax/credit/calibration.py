"""Calibration of the credit model's logit: ``p = sigmoid((logit - shift) / T)``.

Two fits, both on host in float64, deterministic and dependency-free:

- :func:`fit_temperature`: T only, for logits whose offset is already right (the loss was not
  class-weighted); minimises the log loss over log T by golden-section search (the loss is
  unimodal in log T).
- :func:`fit_temperature_shift`: T and the shift jointly (maximum likelihood of
  ``sigmoid(a z + c)`` with ``a = 1/T``, ``c = -shift/T``: a convex logistic regression on one
  feature, solved by Newton's method with a backtracking line search). Used after a
  class-weighted loss: the weighting moves the network's intercept by ``log(w_pos / w_neg)``
  only at the optimum of the weighted loss; an early-stopped, regularised network sits
  elsewhere, so the shift that undoes the weighting is estimated on the calibration rows,
  starting from the analytic value. The temperature is then a pure slope: it scales the
  logit around the network's own decision point, not around ``logit = shift``.
"""

from __future__ import annotations

import math

import numpy as np

LOG_T_BOUNDS = (-4.0, 4.0)  # T in [0.018, 54.6]


def _nll(y: np.ndarray, z: np.ndarray, log_t: float) -> float:
    s = z / math.exp(log_t)
    # log(1 + e^s) - y s, stable
    return float(np.mean(np.logaddexp(0.0, s) - y * s))


def _prepare(y, logits) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype=np.float64).ravel()
    z = np.asarray(logits, dtype=np.float64).ravel()
    if y.shape != z.shape:
        raise ValueError(f"y has {y.size} rows, logits {z.size}")
    return y, z


def fit_temperature(y, logits, lo: float = LOG_T_BOUNDS[0], hi: float = LOG_T_BOUNDS[1],
                    iters: int = 80) -> float:
    """Temperature T > 0 minimising the NLL of ``sigmoid(logits / T)`` against ``y``.

    y [N] in {0, 1}, logits [N]. Returns 1.0 when y has a single class."""
    y, z = _prepare(y, logits)
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


def _platt_loss(y: np.ndarray, z: np.ndarray, a: float, c: float, c0: float,
                lam: float) -> float:
    s = a * z + c
    return float(np.mean(np.logaddexp(0.0, s) - y * s)) + lam * ((a - 1.0) ** 2 + (c - c0) ** 2)


def fit_temperature_shift(y, logits, shift0: float = 0.0, prior_sd: float | None = None,
                          iters: int = 100, tol: float = 1e-12) -> tuple[float, float]:
    """``(T, shift)`` maximising the likelihood of ``sigmoid((logits - shift) / T)`` for ``y``.

    y [N] in {0, 1}, logits [N] (raw network logits); ``shift0`` is the analytic class-weight
    correction, the starting point. ``prior_sd`` (logit units, None = plain maximum likelihood)
    adds independent Gaussian priors ``1/T ~ N(1, sd^2)`` and ``-shift/T ~ N(-shift0, sd^2)``
    (a maximum a posteriori fit: the prior weighs as much whatever N, so it only matters when
    the few calibration rows say little). T is kept in ``exp(LOG_T_BOUNDS)``; logits that
    rank the rows backwards give the upper bound (near-constant PD). A single class returns
    ``(1.0, shift0)``.
    """
    y, z = _prepare(y, logits)
    if y.size == 0 or y.min() == y.max():
        return 1.0, float(shift0)
    lam = 0.0 if prior_sd is None else 1.0 / (2.0 * float(prior_sd) ** 2 * y.size)
    a_lo, a_hi = math.exp(-LOG_T_BOUNDS[1]), math.exp(-LOG_T_BOUNDS[0])
    c0 = -float(shift0)
    a, c = 1.0, c0
    f = _platt_loss(y, z, a, c, c0, lam)
    for _ in range(iters):
        q = 0.5 * (1.0 + np.tanh(0.5 * (a * z + c)))
        r, w = q - y, np.maximum(q * (1.0 - q), 1e-12)
        grad = np.array([np.mean(r * z) + 2 * lam * (a - 1.0), np.mean(r) + 2 * lam * (c - c0)])
        hess = np.array([[np.mean(w * z * z), np.mean(w * z)], [np.mean(w * z), np.mean(w)]])
        step = np.linalg.solve(hess + (2 * lam + 1e-12) * np.eye(2), grad)
        t = 1.0
        while t > 1e-8:  # backtracking: accept the first step that lowers the loss
            a_new = min(max(a - t * step[0], a_lo), a_hi)
            c_new = c - t * step[1]
            f_new = _platt_loss(y, z, a_new, c_new, c0, lam)
            if f_new <= f:
                break
            t *= 0.5
        else:
            break
        done = abs(f - f_new) < tol
        a, c, f = a_new, c_new, f_new
        if done:
            break
    for _ in range(50):  # c alone (matters when a sits on a bound)
        q = 0.5 * (1.0 + np.tanh(0.5 * (a * z + c)))
        g = np.mean(q - y) + 2 * lam * (c - c0)
        dc = g / max(float(np.mean(q * (1.0 - q))) + 2 * lam, 1e-12)
        c -= dc
        if abs(dc) < 1e-12:
            break
    temperature = 1.0 / a
    return float(temperature), float(-c * temperature)


def apply_temperature(logits, temperature: float) -> np.ndarray:
    """Calibrated probabilities ``sigmoid(logits / T)`` (float64); pass ``logits - shift``."""
    z = np.asarray(logits, dtype=np.float64) / float(temperature)
    return 0.5 * (1.0 + np.tanh(0.5 * z))
