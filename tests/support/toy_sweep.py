"""A toy training-sweep kind (a 2-layer MLP on a planted 3-class problem) for the sweep
tests: the sharding test (1 and 8 devices) and the multi-process test (2 processes)."""

from __future__ import annotations

import dataclasses

import numpy as np

from quantjax.config import spec
from quantjax.train.config import TrainConfig


@dataclasses.dataclass(frozen=True)
class ToyModel:
    hidden: int = spec(8, ge=1)
    dropout: float = spec(0.0, ge=0, lt=1)


@dataclasses.dataclass(frozen=True)
class ToyConfig:
    model: ToyModel = spec(default_factory=ToyModel)
    train: TrainConfig = spec(default_factory=TrainConfig)


def toy_kind():
    """A TrainKind for a 2-layer MLP classifier on a planted 3-class problem."""
    import jax
    import jax.numpy as jnp

    from quantjax.sweep.tasks import Prepared, TrainKind
    from quantjax.train.trainer import Task, hparams_from_config

    def prepare(cfg, section, cache):
        rng = np.random.default_rng(0)
        x = rng.standard_normal((192, 4)).astype(np.float32)
        y = np.digitize(x[:, 0] + 0.5 * x[:, 1], [-0.5, 0.5]).astype(np.int32)
        data = {"x": jnp.asarray(x[:128]), "y": jnp.asarray(y[:128]),
                "vx": jnp.asarray(x[128:]), "vy": jnp.asarray(y[128:])}
        H = cfg.model.hidden

        def init_params(key):
            k1, k2 = jax.random.split(key)
            return {"w1": jax.random.normal(k1, (4, H)) * 0.5, "b1": jnp.zeros(H),
                    "w2": jax.random.normal(k2, (H, 3)) * 0.5}

        def logits(p, x, key=None, rate=0.0):
            h = jnp.tanh(x @ p["w1"] + p["b1"])
            if key is not None:
                keep = jax.random.bernoulli(key, 1.0 - rate, h.shape)
                h = jnp.where(keep, h / (1.0 - rate), 0.0)
            return h @ p["w2"]

        def ce(z, y, w):
            lp = jax.nn.log_softmax(z)
            nll = -jnp.take_along_axis(lp, y[:, None], 1)[:, 0]
            return jnp.sum(w[y] * nll) / jnp.sum(w[y])

        def loss_fn(p, d, rows, hp, key):
            z = logits(p, d["x"][rows], key, hp.dropout_rate)
            return hp.loss_weights[0] * ce(z, d["y"][rows], hp.class_weights), {}

        def val_score(p, hp, d):
            z = logits(p, d["vx"])
            acc = jnp.mean(jnp.argmax(z, -1) == d["vy"])
            return {"score": acc, "loss": ce(z, d["vy"], hp.class_weights), "accuracy": acc}

        task = Task(init_params, loss_fn, val_score, 128)
        return Prepared(task, data, lambda c: hparams_from_config(c.train, c.model.dropout, 3),
                        lambda c: {})

    traced = ("train.learning_rate", "train.weight_decay", "train.loss_weights",
              "train.class_weights", "train.seed", "model.dropout")
    return TrainKind("toy", ToyConfig, traced, prepare)


TOY_BASE = "train: {batch_size: 32, epochs: 3, patience: 2, warmup_fraction: 0.0}\n"
TOY_PARAMS = {"train.learning_rate": [0.01, 0.1], "train.seed": [0, 1, 2],
              "model.dropout": [0.0, 0.2], "model.hidden": [4, 8]}
