"""Numeric helpers shared by the batch (:mod:`quantjax.features.batch`) and the incremental
(:mod:`quantjax.features.incremental`) features: each small formula is written once here, so
both paths run the same float32 operations in the same order.

Pure ``jnp`` functions; every array argument may have any shape (``[T]`` series in the batch
path, scalars in the incremental path) and the arguments broadcast together.
Prices are float32 pairs ``(hi, lo)`` with ``hi + lo`` the float64 price
(:mod:`quantjax.features.prep`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def safe_div(a: jax.Array, b: jax.Array, fallback) -> jax.Array:
    """``a / b`` where ``b != 0``, ``fallback`` where ``b == 0`` (no inf/NaN from the 0)."""
    ok = b != 0
    return jnp.where(ok, a / jnp.where(ok, b, 1.0), fallback)


def price_diff(a_hi: jax.Array, a_lo: jax.Array, b_hi: jax.Array, b_lo: jax.Array) -> jax.Array:
    """``a - b`` of two prices given as ``(hi, lo)`` pairs, exact up to one float32 rounding."""
    return (a_hi - b_hi) + (a_lo - b_lo)


def pct_change(hi: jax.Array, lo: jax.Array, prev_hi: jax.Array, prev_lo: jax.Array) -> jax.Array:
    """``p / p_prev - 1`` of two ``(hi, lo)`` prices (0 where ``p_prev == 0``)."""
    return safe_div(price_diff(hi, lo, prev_hi, prev_lo), prev_hi + prev_lo, 0.0)


def std_from_sums(s1: jax.Array, s2: jax.Array, n) -> jax.Array:
    """Sample std (ddof=1) of n values from their sum ``s1`` and sum of squares ``s2``,
    clamped at 0 (cancellation never gives a NaN)."""
    return jnp.sqrt(jnp.maximum((s2 - s1 * s1 / n) / (n - 1), 0.0))


def std_from_m2(m2: jax.Array, n) -> jax.Array:
    """Sample std (ddof=1) of n values from their centred sum of squares ``m2``, clamped at 0."""
    return jnp.sqrt(jnp.maximum(m2 / (n - 1), 0.0))


def moment_stats(mean: jax.Array, m2: jax.Array, m3: jax.Array, m4: jax.Array, n: int):
    """pandas' rolling ``mean, std, skew, kurt`` (bias-corrected) of n values from their mean
    and centred power sums ``m2, m3, m4``; skew and kurt are 0 when the variance is <= 1e-12
    x the mean square (a flat window)."""
    n = float(n)
    B = m2 / n
    C = m3 / n
    D = m4 / n
    degenerate = B <= 1e-12 * (B + mean * mean)
    Bs = jnp.where(degenerate, 1.0, B)
    skew = np.sqrt(n * (n - 1)) * C / ((n - 2) * Bs * jnp.sqrt(Bs))
    kurt = ((n * n - 1) * D / (Bs * Bs) - 3 * (n - 1) ** 2) / ((n - 2) * (n - 3))
    std = std_from_m2(m2, n)
    skew = jnp.where(degenerate, 0.0, skew)
    return mean, std, skew, jnp.where(degenerate, 0.0, kurt)


def ewm_decay(span: int) -> float:
    """Decay ``beta = 1 - alpha`` of pandas ``ewm(span=span)`` (``alpha = 2 / (span + 1)``)."""
    return 1.0 - 2.0 / (span + 1.0)


def finite_or_zero(value: jax.Array, ok: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One feature's output: ``(value as float32, 0 where invalid; valid)``, where valid is
    ``ok`` and the value is finite."""
    value = jnp.asarray(value, jnp.float32)
    ok = ok & jnp.isfinite(value)
    return jnp.where(ok, value, 0.0), ok
