"""Training-sweep adapters: how to build the trainer's :class:`Task` for HFT and credit.

Each kind says which dotted config keys are traced :class:`HParams` leaves (everything else
is static: a new group, a new compiled program) and how to build ``(task, data, hparams,
checkpoint meta)`` for a resolved config. Datasets are cached per data-relevant settings.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NamedTuple

import jax.numpy as jnp

from quantjax.config import to_dict
from quantjax.credit import pipeline as cp
from quantjax.credit.config import CreditConfig
from quantjax.credit.task import make_task, to_arrays
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import load_hft_dataset
from quantjax.hft.task import N_CLASSES, make_hft_task, prepare_arrays
from quantjax.models.credit import build_model
from quantjax.train.checkpoint import checkpoint_meta
from quantjax.train.trainer import HParams, Task, hparams_from_config

_TRAIN_TRACED = ("train.learning_rate", "train.weight_decay", "train.loss_weights",
                 "train.class_weights", "train.seed")


class Prepared(NamedTuple):
    """A static group's trainer inputs."""

    task: Task
    data: Any  # pytree of device arrays, shared by all trials
    hparams: Callable[[Any], HParams]  # resolved trial config -> HParams
    meta: Callable[[Any], dict]  # resolved trial config -> checkpoint meta


class TrainKind(NamedTuple):
    name: str
    config_cls: type
    traced: tuple[str, ...]
    prepare: Callable[..., Prepared]  # (cfg, sweep_section, cache) -> Prepared


def _key(*parts) -> str:
    return json.dumps(parts, sort_keys=True, default=str)


def prepare_hft(cfg, section, cache: dict) -> Prepared:
    key = _key("hft", section.data, to_dict(cfg.data), cfg.model.sequence_length)
    if key not in cache:
        cache[key] = load_hft_dataset(cfg, section.data, log=lambda *a, **k: None)[0]
    ds = cache[key]
    data, extra = prepare_arrays(ds, cfg)
    task = make_hft_task(cfg, data)
    scaler = getattr(ds, "scaler", None)

    def meta(c) -> dict:
        return checkpoint_meta(c, "hft", extra, scaler=scaler,
                               feature_names=getattr(ds, "feature_names", ()))

    return Prepared(task, data, lambda c: hparams_from_config(c.train, c.model.dropout, N_CLASSES),
                    meta)


def prepare_credit(cfg, section, cache: dict) -> Prepared:
    key = _key("credit", section.data, section.schema, to_dict(cfg.data))
    if key not in cache:
        ds = cp.load_dataset(cfg, section.data, section.schema, synthetic=section.data is None)
        idx = cp.split_indices(cfg, cp.target_of(ds))
        enc, (btr, bva, _) = cp.encode_splits(cfg, ds, idx)
        cache[key] = (enc, btr, bva)
    enc, btr, bva = cache[key]
    model = build_model(cfg.model, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    tr, va = to_arrays(btr), to_arrays(bva)
    task = make_task(model, cfg, len(btr.target), tr)

    def hparams(c) -> HParams:
        w = cp.class_weights(c, btr.target)
        return hparams_from_config(c.train, c.model.dropout, 2)._replace(
            class_weights=jnp.asarray(w, jnp.float32))

    def meta(c) -> dict:
        return checkpoint_meta(c, "credit", {"encoder": enc.to_dict(),
                                             "class_weights": list(cp.class_weights(c, btr.target))},
                               feature_names=list(enc.numeric_names) + list(enc.categorical_names))

    return Prepared(task, {"train": tr, "val": va}, hparams, meta)


def get_kind(name: str) -> TrainKind:
    if name == "hft":

        return TrainKind("hft", HFTConfig, _TRAIN_TRACED + ("model.dropout",), prepare_hft)

    return TrainKind("credit", CreditConfig, _TRAIN_TRACED + ("model.dropout",), prepare_credit)
