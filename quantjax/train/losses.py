"""Pure, jittable loss functions. Every function returns per-example values ``[B]``
unless documented otherwise; reductions (and weights) are done by the caller."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mse(pred: jax.Array, target: jax.Array) -> jax.Array:
    """Squared error ``[B]``."""
    return jnp.square(pred - target)


def huber(pred: jax.Array, target: jax.Array, delta: float | jax.Array = 1.0) -> jax.Array:
    """Huber loss ``[B]`` (quadratic within ``delta``, linear outside)."""
    err = jnp.abs(pred - target)
    quad = jnp.minimum(err, delta)
    return 0.5 * quad**2 + delta * (err - quad)


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    """Softmax cross-entropy ``[B]`` from ``logits[B, C]`` and integer ``labels[B]``."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.take_along_axis(logp, labels[:, None], axis=-1)[:, 0]


def weighted_cross_entropy(
    logits: jax.Array, labels: jax.Array, class_weights: jax.Array, mask: jax.Array | None = None
) -> jax.Array:
    """Scalar class-weighted CE, normalized by the summed weights (PyTorch convention).

    ``class_weights[C]``; ``mask[B]`` optional 0/1 example weights.
    """
    w = class_weights[labels]
    if mask is not None:
        w = w * mask
    return jnp.sum(w * cross_entropy(logits, labels)) / jnp.maximum(jnp.sum(w), 1e-12)


def log_mse(pred: jax.Array, target: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Squared error of logs ``[B]`` for positive quantities (volatility)."""
    return jnp.square(jnp.log(pred + eps) - jnp.log(target + eps))


def gaussian_nll(mean: jax.Array, std: jax.Array, target: jax.Array, eps: float = 1e-6) -> jax.Array:
    """Gaussian negative log-likelihood ``[B]`` of ``target`` under N(mean, std^2), no constant."""
    var = jnp.square(std) + eps
    return 0.5 * (jnp.log(var) + jnp.square(target - mean) / var)


def masked_mean(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Mean of ``x[B]`` over ``mask[B]`` (all when None)."""
    if mask is None:
        return jnp.mean(x)
    return jnp.sum(x * mask) / jnp.maximum(jnp.sum(mask), 1.0)
