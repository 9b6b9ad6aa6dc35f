"""``quantjax train hft`` as a library call: load config and data, train with the host loop,
evaluate and write the run folder (``config.yaml``, ``checkpoints/``, ``metrics.jsonl``,
``metrics.json``, ``predictions.npz`` and, for attention models, ``attention_samples.npz``)."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np

from quantjax.config import load, save, to_dict
from quantjax.data.market_io import load_market
from quantjax.distributed import is_main_process
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import effective_config, load_hft_dataset
from quantjax.hft.evaluate import (
    evaluate,
    fit_baseline,
    predictor,
    split_predictions,
    write_prediction_files,
)
from quantjax.hft.oracle import same_rows_oracle
from quantjax.hft.task import N_CLASSES, make_hft_task, prepare_arrays
from quantjax.jsonio import write_json
from quantjax.train.checkpoint import checkpoint_meta
from quantjax.train.loop import check_workdir, fit, use_host_loop
from quantjax.train.trainer import hparams_from_config


def train_hft(cfg: HFTConfig, ds, workdir, *, resume: bool = False, progress: bool = True,
              bayes_accuracy: float | None = None, oracle=None, log=print) -> dict:
    """Train on ``ds`` (an HFTDataset) into ``workdir``; returns the metrics.json mapping.

    ``bayes_accuracy``: the generator's population oracle accuracy; ``oracle``: the same-rows
    oracle of the test rows (:mod:`quantjax.hft.oracle`). The linear baseline
    (``evaluation.linear_baseline``) is fitted on the same split and scored beside the model.

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
    predict = predictor(cfg, data)  # one compiled program for both splits' shapes
    preds = {split: split_predictions(cfg, res.best_params, ds, data, extra, split, predict)
             for split in ("val", "test")}
    if is_main_process():  # a multi-process run: process 0 writes the run files
        write_prediction_files(cfg, res.best_params, data, preds["test"], workdir)
    linear = fit_baseline(cfg, ds) if cfg.evaluation.linear_baseline else None
    return {
        "val": evaluate(cfg, res.best_params, ds, data, extra, "val", linear=linear,
                        predictions=preds["val"]),
        "test": evaluate(cfg, res.best_params, ds, data, extra, "test", bayes_accuracy,
                         oracle=oracle, linear=linear, predictions=preds["test"]),
        "linear_baseline": None if linear is None else {
            "l2_direction": linear.l2_direction, "l2_price": linear.l2_price},
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
    check_workdir(workdir, resume=resume)  # checkpoints without --resume: refused at once
    ds, info = load_hft_dataset(cfg, data, log=log)
    cfg = effective_config(cfg, info)  # the warm-up adapted to the data is part of the config
    # refuse (existing checkpoints without --resume, another config with it) before anything
    # is written: config.yaml of the existing run must survive a refused call
    check_workdir(workdir, resume=resume, config=to_dict(cfg))
    if is_main_process():  # a multi-process run: process 0 writes the run files
        save(cfg, workdir)
    oracle = run_oracle(cfg, data, info, log)
    metrics = train_hft(cfg, ds, workdir, resume=resume, progress=progress,
                        bayes_accuracy=info.get("bayes_accuracy"), oracle=oracle, log=log)
    metrics["data"] = info
    if is_main_process():
        write_json(workdir / "metrics.json", metrics)
    return metrics


def run_oracle(cfg: HFTConfig, data: str | None, info: dict, log=print):
    """The same-rows oracle of a run's data (None, with a logged reason, when the data are not
    the synthetic generator's path)."""
    if info.get("synthetic_config") is None:
        return None
    market = None if data is None else load_market(data)[0]
    oracle, why = same_rows_oracle(info["synthetic_config"], market, cfg.data.prediction_horizon,
                                   cfg.data.direction_threshold, cfg.evaluation.oracle_paths,
                                   cfg.evaluation.bootstrap_seed)
    if oracle is None:
        log(f"no same-rows oracle: {why}")
        info["same_rows_oracle"] = why
    return oracle
