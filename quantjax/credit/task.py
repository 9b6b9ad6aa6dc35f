"""The credit task plugged into the shared trainer (:mod:`quantjax.train.trainer`).

``data`` given to the trainer is ``{"train": Arrays, "val": Arrays}`` of device arrays.
The class weights are the traced ``hp.class_weights`` [2] (repaid, default); with
``loss.balanced`` and no ``train.class_weights`` they are ``n / (2 n_c)`` from the training split.
Dropout is the traced ``hp.dropout_rate`` (from ``model.dropout``), so sweeps vmap over it.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.credit.config import CreditConfig
from quantjax.credit.metrics import auc_jax
from quantjax.models.credit import CreditTransformer
from quantjax.train.trainer import HParams, Task


class Arrays(NamedTuple):
    """Device copy of a CreditBatch: numeric [N, Dn], categorical [N, C], text [N, Lt],
    time_series [N, T, 1], target [N]."""

    numeric: jax.Array
    categorical: jax.Array
    text: jax.Array
    time_series: jax.Array
    target: jax.Array


def to_arrays(batch) -> Arrays:
    """CreditBatch (numpy) -> :class:`Arrays` (jnp, model dtypes)."""
    return Arrays(
        jnp.asarray(batch.numeric, jnp.float32), jnp.asarray(batch.categorical, jnp.int32),
        jnp.asarray(batch.text, jnp.int32), jnp.asarray(batch.time_series, jnp.float32),
        jnp.asarray(batch.target, jnp.int32),
    )


def take(a: Arrays, rows) -> Arrays:
    """Rows ``rows`` of every field."""
    return Arrays(*(x[rows] for x in a))


def balanced_weights(target: np.ndarray) -> tuple[float, float]:
    """``n / (2 n_c)`` for c = 0, 1 (1.0 for an absent class)."""
    y = np.asarray(target)
    n = max(y.size, 1)
    n1 = int((y == 1).sum())
    n0 = int((y == 0).sum())
    return (n / (2 * n0) if n0 else 1.0, n / (2 * n1) if n1 else 1.0)


def binary_loss(logits, y, class_weights, kind: str = "weighted_bce", gamma: float = 2.0):
    """Scalar class-weighted BCE or focal loss, normalized by the summed weights.

    logits [B], y int [B] in {0, 1}, class_weights [2]."""
    yf = y.astype(jnp.float32)
    w = class_weights[y]
    bce = jnp.logaddexp(0.0, logits) - yf * logits
    if kind == "focal":
        p = jax.nn.sigmoid(logits)
        pt = jnp.where(y > 0, p, 1.0 - p)
        bce = bce * (1.0 - pt) ** gamma
    return jnp.sum(w * bce) / jnp.maximum(jnp.sum(w), 1e-12)


def predict_logits_fn(model: CreditTransformer, batch_size: int):
    """``f(params, arrays) -> logits [N]`` in eval mode, in chunks of ``batch_size``
    (``lax.map``; the last chunk is padded, pads are dropped). Jittable."""

    def f(params, a: Arrays):
        n = a.numeric.shape[0]
        bs = min(batch_size, max(n, 1))
        nc = -(-n // bs)
        pad = nc * bs - n

        def chunked(x):
            x = jnp.concatenate([x, jnp.zeros((pad, *x.shape[1:]), x.dtype)]) if pad else x
            return x.reshape(nc, bs, *x.shape[1:])

        xs = tuple(chunked(x) for x in a[:4])
        out = jax.lax.map(lambda c: model.apply({"params": params}, *c), xs)
        return out.reshape(-1)[:n]

    return f


def make_task(model: CreditTransformer, cfg: CreditConfig, n_train: int, example: Arrays) -> Task:
    """A trainer :class:`Task` for ``data = {"train": Arrays, "val": Arrays}``."""
    kind, gamma = cfg.loss.kind, cfg.loss.focal_gamma
    predict = predict_logits_fn(model, cfg.train.eval_batch_size)
    ex = take(example, slice(0, 2))

    def init_params(key):
        return model.init(key, *ex[:4])["params"]

    def loss_fn(params, data, rows, hp: HParams, key):
        b = take(data["train"], rows)
        z = model.apply({"params": params}, *b[:4], deterministic=False,
                        dropout_rate=hp.dropout_rate, rngs={"dropout": key})
        loss = binary_loss(z, b.target, hp.class_weights, kind, gamma)
        return loss, {"pos_rate": jnp.mean(b.target.astype(jnp.float32))}

    def val_score(params, hp: HParams, data):
        v = data["val"]
        z = predict(params, v)
        auc = auc_jax(v.target, z)
        return {"score": auc, "auc": auc,
                "loss": binary_loss(z, v.target, hp.class_weights, kind, gamma)}

    return Task(init_params, loss_fn, val_score, int(n_train))
