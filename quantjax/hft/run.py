"""``quantjax train hft`` as a library call: load config and data, train with the host loop,
evaluate and write the run folder (``config.yaml``, ``checkpoints/``, ``metrics.jsonl``,
``metrics.json``, ``predictions.npz`` and, for attention models, ``attention_samples.npz``)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from quantjax.config import load, save, to_dict
from quantjax.distributed import is_main_process
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import load_hft_dataset
from quantjax.hft.evaluate import evaluate, write_prediction_files
from quantjax.hft.task import N_CLASSES, make_hft_task, prepare_arrays
from quantjax.jsonio import write_json
from quantjax.train.checkpoint import checkpoint_meta
from quantjax.train.loop import check_workdir, fit, use_host_loop
from quantjax.train.trainer import hparams_from_config


def train_hft(cfg: HFTConfig, ds, workdir, *, resume: bool = False, progress: bool = True,
              bayes_accuracy: float | None = None, log=print) -> dict:
    """Train on ``ds`` (an HFTDataset) into ``workdir``; returns the metrics.json mapping.

    Refuses (:func:`quantjax.train.loop.check_workdir`) a workdir with checkpoints without
    ``resume``, or a ``resume`` with another config. The arrays go to the device unless they
    exceed ``train.device_data_limit_mb`` (then they stay on the host, see
    :mod:`quantjax.hft.task`)."""
    check_workdir(workdir, resume=resume, config=to_dict(cfg), log=log)
    data, extra = prepare_arrays(ds, cfg, device=False)
    task = make_hft_task(cfg, data)
    if not use_host_loop(task, cfg.train, data):
        data = jax.device_put(data)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, N_CLASSES)
    meta = checkpoint_meta(cfg, "hft", extra, scaler=getattr(ds, "scaler", None),
                           feature_names=getattr(ds, "feature_names", ()))
    res = fit(task, cfg.train, hp, data, workdir, meta=meta, resume=resume, progress=progress,
              log=log)
    if is_main_process():  # a multi-process run: process 0 writes the run files
        write_prediction_files(cfg, res.best_params, ds, data, extra, workdir)
    return {
        "val": evaluate(cfg, res.best_params, ds, data, extra, "val"),
        "test": evaluate(cfg, res.best_params, ds, data, extra, "test", bayes_accuracy),
        "train_samples_per_sec": res.train_samples_per_sec,
        "steps": res.steps, "best_step": res.best_step, "epochs": res.epochs_run,
        "n_train": task.n_train, "n_features": extra["n_features"],
        "n_params": int(sum(np.size(a) for a in jax.tree.leaves(res.best_params))),
    }


def train_hft_run(config: str | None, workdir, *, data: str | None = None,
                  overrides=(), resume: bool = False, progress: bool = True,
                  log=print) -> dict:
    """Load config + data, train, write config.yaml / metrics.json; returns the metrics.

    A refused run (checkpoints in ``workdir`` without ``resume``, or ``resume`` with a config
    that differs from the checkpoint's) raises a UserError before anything is written.
    ``data=None`` uses the synthetic market. Used by ``quantjax train hft`` and the demo.
    """
    cfg = load(HFTConfig, config, overrides)
    workdir = Path(workdir)
    # refuse (existing checkpoints without --resume, another config with it) before anything
    # is written: config.yaml of the existing run must survive a refused call
    check_workdir(workdir, resume=resume, config=to_dict(cfg))
    ds, info = load_hft_dataset(cfg, data, log=log)
    if is_main_process():
        save(cfg, workdir)
    metrics = train_hft(cfg, ds, workdir, resume=resume, progress=progress,
                        bayes_accuracy=info.get("bayes_accuracy"), log=log)
    metrics["data"] = info
    if is_main_process():
        write_json(workdir / "metrics.json", metrics)
    return metrics
