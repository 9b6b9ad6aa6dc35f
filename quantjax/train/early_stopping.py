"""Early stopping and best-epoch tracking, shared by :func:`quantjax.train.trainer.make_train`
(traced, under ``vmap``) and the host loop :func:`quantjax.train.loop.fit` (host values).

``state = init(); state, improved, stop = update(state, score, epoch, step, patience=...,
start_from_epoch=...)`` once per epoch. The best epoch is the one with the highest validation
``score`` among epochs ``>= start_from_epoch``; a non-finite score never improves;
``patience`` counts eligible epochs without improvement (Keras ``EarlyStopping`` semantics,
including ``start_from_epoch``: earlier epochs are trained and logged, never best, never
counted).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp


class EarlyStopping(NamedTuple):
    """Best-so-far record (every field a scalar array)."""

    best_score: jax.Array  # [] float32, -inf before the first eligible epoch
    best_epoch: jax.Array  # [] int32, -1 before
    best_step: jax.Array  # [] int32, optimizer steps at the best epoch (0 before)
    bad_epochs: jax.Array  # [] int32, eligible epochs since the last improvement


def init() -> EarlyStopping:
    return EarlyStopping(jnp.asarray(-jnp.inf, jnp.float32), jnp.asarray(-1, jnp.int32),
                         jnp.asarray(0, jnp.int32), jnp.asarray(0, jnp.int32))


def update(state: EarlyStopping, score, epoch, step, *, patience: int,
           start_from_epoch: int) -> tuple[EarlyStopping, jax.Array, jax.Array]:
    """``(state, improved[] bool, stop[] bool)`` after an epoch with validation ``score``."""
    score = jnp.asarray(score, jnp.float32)
    score = jnp.where(jnp.isfinite(score), score, -jnp.inf)
    eligible = jnp.asarray(epoch) >= start_from_epoch
    improved = eligible & (score > state.best_score)
    bad = jnp.where(improved, 0, jnp.where(eligible, state.bad_epochs + 1, state.bad_epochs))
    new = EarlyStopping(
        best_score=jnp.where(improved, score, state.best_score),
        best_epoch=jnp.where(improved, jnp.asarray(epoch, jnp.int32), state.best_epoch),
        best_step=jnp.where(improved, jnp.asarray(step, jnp.int32), state.best_step),
        bad_epochs=bad.astype(jnp.int32))
    return new, improved, bad >= patience
