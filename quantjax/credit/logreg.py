"""Logistic-regression baseline in JAX on the same encoded inputs as the transformer.

The linear model is written with gathers instead of a dense design matrix:

    logit = b + w_num . numeric + sum_c w_cat[c][categorical_c]
              + mean_{non-PAD words} w_text[word] + w_ts . time_series

which is exactly logistic regression on [numeric, one-hot categoricals, bag-of-words (mean),
series values] without materialising the one-hot matrix. Fitted full-batch with Adam and an L2
penalty (not on the bias); every L2 strength of the grid is fitted at once with ``jax.vmap``
and the one with the best validation AUC is kept.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from quantjax.credit.metrics import auc_jax


class LogRegParams(NamedTuple):
    """bias [], w_num [Dn], w_cat [C, Kmax] (padded tables), w_text [V], w_ts [T]."""

    bias: jax.Array
    w_num: jax.Array
    w_cat: jax.Array
    w_text: jax.Array
    w_ts: jax.Array


def _inputs(batch) -> tuple[jax.Array, ...]:
    return (
        jnp.asarray(batch.numeric, jnp.float32),
        jnp.asarray(batch.categorical, jnp.int32),
        jnp.asarray(batch.text, jnp.int32),
        jnp.asarray(batch.time_series, jnp.float32).reshape(len(batch.numeric), -1),
    )


def logits(params: LogRegParams, numeric, categorical, text, series) -> jax.Array:
    """Linear logit [N] (see module docstring). series [N, T]."""
    z = params.bias + numeric @ params.w_num + series @ params.w_ts
    if categorical.shape[1]:
        cols = jnp.arange(categorical.shape[1])[None, :]
        z = z + params.w_cat[cols, categorical].sum(-1)
    if text.shape[1]:
        m = (text > 0).astype(jnp.float32)
        z = z + (params.w_text[text] * m).sum(-1) / jnp.maximum(m.sum(-1), 1.0)
    return z


def _zeros(n_numeric: int, cardinalities, vocab_size: int, n_steps: int) -> LogRegParams:
    k = max(list(cardinalities) + [1])
    return LogRegParams(
        jnp.zeros(()), jnp.zeros(n_numeric), jnp.zeros((len(cardinalities), k)),
        jnp.zeros(max(vocab_size, 1)), jnp.zeros(n_steps),
    )


def fit_logreg(train, val, cardinalities, vocab_size: int, l2_grid=(1e-4, 1e-3, 1e-2, 1e-1),
               steps: int = 500, learning_rate: float = 0.05, pos_weight: float = 1.0):
    """Fit on ``train`` (CreditBatch-like), pick the L2 strength by AUC on ``val``.

    Returns ``(params, info)`` with info = {"l2": chosen strength, "val_auc": its val AUC}.
    """
    xtr, xva = _inputs(train), _inputs(val)
    ytr = jnp.asarray(train.target, jnp.float32)
    yva = jnp.asarray(val.target)
    w = jnp.where(ytr > 0, pos_weight, 1.0)
    w = w / w.mean()
    p0 = _zeros(xtr[0].shape[1], cardinalities, vocab_size, xtr[3].shape[1])
    opt = optax.adam(learning_rate)

    def fit_one(l2):
        def loss(p):
            z = logits(p, *xtr)
            nll = jnp.mean(w * (jnp.logaddexp(0.0, z) - ytr * z))
            reg = sum(jnp.sum(a * a) for a in (p.w_num, p.w_cat, p.w_text, p.w_ts))
            return nll + 0.5 * l2 * reg

        def step(carry, _):
            p, s = carry
            g = jax.grad(loss)(p)
            u, s = opt.update(g, s, p)
            return (optax.apply_updates(p, u), s), None

        (p, _), _ = jax.lax.scan(step, (p0, opt.init(p0)), None, length=steps)
        return p, auc_jax(yva, logits(p, *xva))

    grid = jnp.asarray(l2_grid, jnp.float32)
    params, aucs = jax.jit(jax.vmap(fit_one))(grid)
    aucs = np.nan_to_num(np.asarray(aucs), nan=-1.0)
    best = int(np.argmax(aucs))
    chosen = jax.tree.map(lambda a: a[best], params)
    return chosen, {"l2": float(l2_grid[best]), "val_auc": float(aucs[best])}


def predict_logreg(params: LogRegParams, batch) -> np.ndarray:
    """Probability of default [N] (float64)."""
    z = np.asarray(jax.jit(logits)(params, *_inputs(batch)), np.float64)
    return 1.0 / (1.0 + np.exp(-z))
