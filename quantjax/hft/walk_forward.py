"""Walk-forward retraining of the HFT model (``quantjax train hft --walk-forward``).

Folds (:func:`fold_ranges`) come from :func:`quantjax.features.splits.walk_forward` over the
sample end times: K test blocks cover the last ``walk_forward.test_fraction`` of the range;
each fold trains on everything before its test block (``expanding``) or the last
``train_size`` positions (``rolling``), holds out the last ``val_fraction`` of that window for
early stopping, and leaves a gap of ``purge + embargo`` positions (purge = the label horizon
``h``, embargo = ``walk_forward.embargo``, default the window length ``L``) before validation
and before the test block, so no training or validation label window reaches a test label
or input window.

Each fold gets its own scaler (fitted on its training rows), target scales, class counts,
linear baseline and model. The folds' arrays are padded to common shapes: training indices to
the largest fold with ``train_weight`` 0 on padding rows (a shorter fold takes the same steps
per epoch; each epoch still visits each of its samples once, with fewer real rows per batch),
validation and test indices with zero weights. So one compiled :func:`make_train` serves
every fold: ``jit(vmap(train, in_axes=(None, 0)))`` trains all folds at once
(``walk_forward.vmap``), or one after another (optionally warm-started from the previous fold).

Out-of-sample predictions: every bar of a fold's test block with a full valid window is
predicted by that fold's model only (``oos_predictions.npz``); the labelled ones are scored per
fold and pooled (``metrics.json`` ``walk_forward.folds`` / ``walk_forward.pooled``; ``test`` is
the pooled figure). ``quantjax backtest --checkpoint RUN`` and ``quantjax report`` read them.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.config import load, save, to_dict
from quantjax.errors import DataError, UserError
from quantjax.features.splits import TimeRange, walk_forward
from quantjax.features.windows import sample_index, sample_valid
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import (
    HFTSource,
    adapt_features,
    effective_config,
    features_config,
    load_extra,
    load_hft_market,
    prepare_source,
    split_dataset,
)
from quantjax.hft.linear_baseline import fit_linear_baseline, last_step_features
from quantjax.hft.metrics import prediction_metrics
from quantjax.hft.oracle import same_rows_oracle
from quantjax.hft.task import N_CLASSES, HFTArrays, make_hft_task, make_predict, prepare_arrays
from quantjax.jsonio import write_json
from quantjax.train.trainer import hparams_from_config, make_train

OOS_FILE = "oos_predictions.npz"
PREDICTIONS_FILE = "predictions.npz"


class Fold(NamedTuple):
    """Sample-time ranges of one fold (half-open ``[start, stop)``)."""

    train: TimeRange
    val: TimeRange
    test: TimeRange


def gap(cfg: HFTConfig) -> int:
    """Positions between training, validation and test: purge (the label horizon) + embargo."""
    wf = cfg.walk_forward
    embargo = cfg.model.sequence_length if wf.embargo is None else wf.embargo
    return int(cfg.data.prediction_horizon) + int(embargo)


def fold_ranges(t_lo: int, t_hi: int, cfg: HFTConfig) -> list[Fold]:
    """The K folds over sample times ``[t_lo, t_hi]`` (module docstring)."""
    wf = cfg.walk_forward
    n = t_hi - t_lo + 1
    test_size = int(wf.test_fraction * n) // wf.folds
    if test_size < 1:
        raise DataError(f"walk_forward: {n} sample times are too few for {wf.folds} test blocks "
                        f"of walk_forward.test_fraction={wf.test_fraction:g}")
    g = gap(cfg)
    out = []
    for i, (window, test) in enumerate(walk_forward(t_lo, t_hi, wf.folds, test_size, g, wf.mode,
                                                    wf.train_size)):
        n_val = max(1, int(round(wf.val_fraction * (window.stop - window.start))))
        val = TimeRange(window.stop - n_val, window.stop)
        train = TimeRange(window.start, val.start - g)
        if train.stop <= train.start:
            raise DataError(f"walk_forward: fold {i} has no training data before its validation "
                            "block; use fewer folds, a smaller test_fraction or more data")
        out.append(Fold(train, val, test))
    return out


def _pad_rows(index: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    out = np.zeros((n, 2), np.int32)
    w = np.zeros(n, np.float32)
    out[:len(index)] = index
    out[len(index):] = index[0]
    w[:len(index)] = 1.0
    return out, w


def _round_up(n: int, multiple: int) -> int:
    return max(math.ceil(n / multiple), 1) * multiple


class FoldData(NamedTuple):
    """The standardized dataset, arrays and scales of every fold (host)."""

    datasets: list  # HFTDataset per fold
    arrays: HFTArrays  # leaves stacked on a fold axis [K, ...], padded to common shapes
    extras: list  # prepare_arrays' ``extra`` per fold (scales, class counts)
    oos_index: list  # [N_k, 2] every bar of the test block with a full valid window


def fold_data(src: HFTSource, folds: list[Fold], cfg: HFTConfig) -> FoldData:
    """Per-fold datasets (own scaler) and the stacked, padded arrays."""
    L = cfg.model.sequence_length
    clip = features_config(cfg).clip
    window_ok = sample_valid(src.features.valid, np.ones_like(src.ok), L)
    datasets, arrays, extras, oos = [], [], [], []
    for i, f in enumerate(folds):
        parts = [sample_index(src.ok, r) for r in f]
        for name, idx in zip(("training", "validation", "test"), parts, strict=True):
            if len(idx) == 0:
                raise DataError(f"walk_forward: fold {i} has no {name} samples; use fewer folds "
                                "or more data")
        ds = split_dataset(src, *parts, clip)
        arr, extra = prepare_arrays(ds, cfg, device=False)
        datasets.append(ds)
        arrays.append(arr)
        extras.append(extra)
        oos.append(sample_index(window_ok, f.test))
    eb = cfg.train.eval_batch_size
    n_tr = max(len(d.train_index) for d in datasets)
    n_va, n_te = (max(len(getattr(d, name)) for d in datasets)
                  for name in ("val_index", "test_index"))
    n_va, n_te = (_round_up(n, eb) if n >= eb else n for n in (n_va, n_te))
    padded = []
    for d, a in zip(datasets, arrays, strict=True):
        tr, tw = _pad_rows(np.asarray(d.train_index), n_tr)
        va, vw = _pad_rows(np.asarray(d.val_index), n_va)
        te, tew = _pad_rows(np.asarray(d.test_index), n_te)
        padded.append(a._replace(train_index=tr, train_weight=tw, val_index=va, val_weight=vw,
                                 test_index=te, test_weight=tew))
    stacked = jax.tree.map(lambda *xs: np.stack(xs), *padded)
    return FoldData(datasets, stacked, extras, oos)


_TRAIN_CACHE: dict = {}


def _compiled(cfg: HFTConfig, one: HFTArrays, vmapped: bool, warm: bool):
    """The jitted trainer of the padded fold shapes (cached per config and shapes, so repeated
    walk-forward runs in one process compile once)."""
    shapes = tuple((a.shape, str(a.dtype)) for a in jax.tree.leaves(one))
    key = (json.dumps(to_dict(cfg), sort_keys=True, default=str), shapes, vmapped, warm)
    if key not in _TRAIN_CACHE:
        task = make_hft_task(cfg, one)
        if warm:
            def run(p0, hp, data):
                t = task._replace(init_params=lambda k: p0)
                return make_train(t, cfg.train)(hp, data)
            fn = jax.jit(run)
        else:
            train = make_train(task, cfg.train)
            fn = jax.jit(jax.vmap(train, in_axes=(None, 0)) if vmapped else train)
        _TRAIN_CACHE[key] = (fn, task)
    return _TRAIN_CACHE[key]


def train_folds(cfg: HFTConfig, data: FoldData, log=print) -> tuple[list, list[dict]]:
    """``(params per fold, training info per fold)``: vmapped or one fold after another."""
    wf = cfg.walk_forward
    K = len(data.datasets)
    one = jax.tree.map(lambda a: a[0], data.arrays)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, N_CLASSES)
    if wf.vmap:
        fn, _ = _compiled(cfg, one, True, False)
        log(f"walk-forward: training {K} folds in one vmapped program")
        state, hist, best = jax.device_get(fn(hp, jax.device_put(data.arrays)))
        params = [jax.tree.map(lambda a, k=k: a[k], state.params) for k in range(K)]
        info = [{"best_epoch": int(best["epoch"][k]), "best_step": int(best["step"][k]),
                 "steps": int(state.step[k]), "epochs_run": int(np.sum(hist.active[k]))}
                for k in range(K)]
        return params, info
    params, info = [], []
    prev = None
    for k in range(K):
        fold = jax.device_put(jax.tree.map(lambda a, k=k: a[k], data.arrays))
        log(f"walk-forward: training fold {k + 1}/{K}")
        if wf.warm_start and prev is not None:
            fn, _ = _compiled(cfg, one, False, True)
            state, hist, best = jax.device_get(fn(prev, hp, fold))
        else:
            fn, _ = _compiled(cfg, one, False, False)
            state, hist, best = jax.device_get(fn(hp, fold))
        prev = state.params
        params.append(state.params)
        info.append({"best_epoch": int(best["epoch"]), "best_step": int(best["step"]),
                     "steps": int(state.step), "epochs_run": int(np.sum(hist.active))})
    return params, info


def predict_folds(cfg: HFTConfig, data: FoldData, params: list, batch: int = 512) -> list[dict]:
    """Real-unit predictions of every fold's out-of-sample rows by its own model:
    ``index[N, 2]``, ``direction_probs[N, 3]``, ``pred_return[N]``, ``pred_vol[N]``."""
    predict = jax.jit(make_predict(cfg), static_argnums=3)
    out = []
    for k, idx in enumerate(data.oos_index):
        n = len(idx)
        b = max(1, min(batch, n))
        padded, _ = _pad_rows(np.asarray(idx), _round_up(n, b))
        fold = jax.tree.map(lambda a, k=k: a[k], data.arrays)
        arrays = HFTArrays(*(jnp.asarray(a) if a is not None else None for a in fold))
        o = jax.device_get(predict(params[k], arrays, jnp.asarray(padded), b))
        ex = data.extras[k]
        out.append({"index": np.asarray(idx, np.int32),
                    "direction_probs": np.asarray(jax.nn.softmax(o["direction"][:n], -1),
                                                  np.float32),
                    "pred_return": np.asarray(o["price"][:n], np.float64) * ex["price_scale"],
                    "pred_vol": np.asarray(o["volatility"][:n], np.float64) * ex["vol_scale"]})
    return out


def _labelled(pred: dict, ds) -> dict:
    """The rows of ``pred`` that have a valid label, in the format of ``predictions.npz``."""
    idx = pred["index"].astype(np.int64)
    keep = np.asarray(ds.label_valid)[idx[:, 0], idx[:, 1]]
    idx = idx[keep]
    s, t = idx[:, 0], idx[:, 1]
    probs = pred["direction_probs"][keep]
    return {"index": idx.astype(np.int32), "pred_direction": probs.argmax(-1).astype(np.int32),
            "true_direction": np.asarray(ds.direction)[s, t].astype(np.int32),
            "direction_probs": probs, "pred_return": pred["pred_return"][keep],
            "true_return": np.asarray(ds.future_return, np.float64)[s, t],
            "pred_vol": pred["pred_vol"][keep],
            "realized_vol": np.asarray(ds.future_vol, np.float64)[s, t]}


def _concat(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


class WalkForwardResult(NamedTuple):
    folds: list[Fold]
    oos: list[dict]  # per fold: every out-of-sample bar's predictions
    labelled: list[dict]  # per fold: the labelled rows (predictions.npz format)
    train_info: list[dict]
    data: FoldData
    seconds: float


def run_walk_forward(cfg: HFTConfig, src: HFTSource, log=print) -> WalkForwardResult:
    """Folds, training and out-of-sample predictions of ``src`` (no files written)."""
    times = np.nonzero(src.ok.any(axis=0))[0]
    folds = fold_ranges(int(times[0]), int(times[-1]), cfg)
    data = fold_data(src, folds, cfg)
    t0 = time.perf_counter()
    params, info = train_folds(cfg, data, log)
    seconds = time.perf_counter() - t0
    oos = predict_folds(cfg, data, params, cfg.train.eval_batch_size)
    labelled = [_labelled(p, ds) for p, ds in zip(oos, data.datasets, strict=True)]
    return WalkForwardResult(folds, oos, labelled, info, data, seconds)


def _cached_oracle(oracle, index: np.ndarray):
    """``oracle`` evaluated once on ``index[N, 2]``; the returned oracle serves any subset."""
    full = oracle(index)
    pos = {(int(s), int(t)): i for i, (s, t) in enumerate(index)}

    def sub(idx):
        rows = np.array([pos[(int(s), int(t))] for s, t in idx], np.int64)
        return {k: v[rows] for k, v in full.items()}

    return sub


def walk_forward_metrics(cfg: HFTConfig, res: WalkForwardResult, oracle=None,
                         bayes_population=None) -> dict:
    """``{"folds": [...], "pooled": {...}}`` (keys in docs/training.md)."""
    ecfg = cfg.evaluation
    h = cfg.data.prediction_horizon
    pooled_pred = _concat(res.labelled)
    if oracle is not None:
        oracle = _cached_oracle(oracle, pooled_pred["index"])
    folds, majorities, lin_parts = [], [], []
    for k, (f, ds, lab) in enumerate(zip(res.folds, res.data.datasets, res.labelled,
                                         strict=True)):
        ex = res.data.extras[k]
        majority = int(np.argmax(ex["train_class_counts"]))
        lin = None
        if ecfg.linear_baseline:
            def rows(name, ds=ds):
                idx = np.asarray(getattr(ds, name), np.int64)
                return (last_step_features(ds.features, idx),
                        np.asarray(ds.direction)[idx[:, 0], idx[:, 1]],
                        np.asarray(ds.future_return, np.float64)[idx[:, 0], idx[:, 1]])
            model = fit_linear_baseline(*rows("train_index"), *rows("val_index"), ecfg.linear_l2)
            lin = model.predict(last_step_features(ds.features, lab["index"]))
            lin_parts.append(lin)
        m = prediction_metrics(lab, ds, h, majority, ecfg, oracle=oracle, linear=lin,
                               timestamps=ds.timestamps, with_intervals=False)
        majorities.append(np.full(len(lab["index"]), majority))
        folds.append({"fold": k, "train": list(f.train), "val": list(f.val), "test": list(f.test),
                      "n_train": len(ds.train_index), "n_val": len(ds.val_index),
                      "n_test": len(lab["index"]), "n_oos_bars": len(res.oos[k]["index"]),
                      "price_scale": ex["price_scale"], **res.train_info[k], "metrics": m})
    lin = _concat([{k: v for k, v in p.items() if k != "direction_probs"} for p in lin_parts]) \
        if lin_parts else None
    ds0 = res.data.datasets[-1]  # labels and persistence are the same arrays in every fold
    pooled = prediction_metrics(pooled_pred, ds0, h, np.concatenate(majorities), ecfg,
                                oracle=oracle, bayes_population=bayes_population, linear=lin,
                                timestamps=ds0.timestamps)
    return {"folds": folds, "pooled": pooled}


def write_oos(res: WalkForwardResult, src: HFTSource, workdir: Path) -> None:
    """``oos_predictions.npz`` (every out-of-sample bar: ``index``, ``fold``, probabilities,
    return and vol, plus the market's ``symbols`` and ``timestamps``) and ``predictions.npz``
    (the labelled rows, the format of a single-split run, with ``fold``)."""
    oos = _concat(res.oos)
    fold = np.concatenate([np.full(len(p["index"]), k, np.int32) for k, p in enumerate(res.oos)])
    np.savez(workdir / OOS_FILE, **oos, fold=fold, symbols=np.asarray(src.symbols),
             timestamps=np.asarray(src.timestamps, np.int64))
    lab = _concat(res.labelled)
    lfold = np.concatenate([np.full(len(p["index"]), k, np.int32)
                            for k, p in enumerate(res.labelled)])
    np.savez(workdir / PREDICTIONS_FILE, **lab, fold=lfold)


def walk_forward_run(config: str | None, workdir, *, data: str | None = None, overrides=(),
                     log=print) -> dict:
    """``quantjax train hft --walk-forward``: config.yaml, metrics.json, oos_predictions.npz and
    predictions.npz in ``workdir``; returns the metrics mapping."""
    cfg = load(HFTConfig, config, overrides)
    workdir = Path(workdir)
    if (workdir / OOS_FILE).exists() or (workdir / "checkpoints").exists():
        raise UserError(f"{workdir}: already holds a run; use another --workdir")
    market, info = load_hft_market(cfg, data)
    cfg, dropped = adapt_features(cfg, market, log)
    info.update(features=cfg.data.features, dropped_timeframes=list(dropped))
    cfg = effective_config(cfg, info)
    extra = load_extra(cfg, data, market)
    src = prepare_source(market, features_config(cfg), cfg.model.sequence_length,
                         cfg.data.prediction_horizon, cfg.data.direction_threshold, extra=extra)
    save(cfg, workdir)
    res = run_walk_forward(cfg, src, log)
    write_oos(res, src, workdir)
    oracle = None
    if info.get("synthetic_config") is not None:
        oracle, why = same_rows_oracle(info["synthetic_config"], None if data is None else market,
                                       cfg.data.prediction_horizon, cfg.data.direction_threshold,
                                       cfg.evaluation.oracle_paths, cfg.evaluation.bootstrap_seed)
        if oracle is None:
            info["same_rows_oracle"] = why
    wf = walk_forward_metrics(cfg, res, oracle, info.get("bayes_accuracy"))
    info.update(n_symbols=market.n_symbols, n_steps=market.n_steps,
                n_features=len(src.features.names))
    wcfg = cfg.walk_forward
    metrics = {
        "run_kind": "walk_forward",
        "test": wf["pooled"],
        "walk_forward": {"folds": wf["folds"], "pooled": wf["pooled"],
                         "settings": {**to_dict(wcfg), "purge": cfg.data.prediction_horizon,
                                      "gap": gap(cfg)},
                         "train_seconds": res.seconds,
                         "n_oos_bars": int(sum(len(p["index"]) for p in res.oos))},
        "n_features": len(src.features.names),
        "data": info,
    }
    write_json(workdir / "metrics.json", metrics)
    return metrics


def is_walk_forward_run(run_dir) -> bool:
    """True when ``run_dir`` holds walk-forward out-of-sample predictions."""
    return (Path(run_dir) / OOS_FILE).is_file()


def oos_market_predictions(run_dir, market) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(probs[S, T, 3], pred_return[S, T], pred_vol[S, T])`` of a walk-forward run on its own
    market: out-of-sample predictions only, NaN at every other bar. A market with other
    symbols or bars is a DataError."""
    with np.load(Path(run_dir) / OOS_FILE) as z:
        d = {k: z[k] for k in z.files}
    symbols = tuple(str(s) for s in d["symbols"])
    if symbols != tuple(market.symbols) or not np.array_equal(d["timestamps"],
                                                               market.timestamps):
        raise DataError(f"{run_dir}: a walk-forward run's out-of-sample predictions cover its own "
                        f"market ({len(symbols)} symbols x {len(d['timestamps'])} bars); backtest "
                        "it on that market (the same --data file, or --synthetic with the run's "
                        "data.synthetic settings)")
    S, T = market.n_symbols, market.n_steps
    probs = np.full((S, T, 3), np.nan, np.float32)
    ret = np.full((S, T), np.nan, np.float32)
    vol = np.full((S, T), np.nan, np.float32)
    s, t = d["index"][:, 0], d["index"][:, 1]
    probs[s, t] = d["direction_probs"]
    ret[s, t] = d["pred_return"]
    vol[s, t] = d["pred_vol"]
    return probs, ret, vol
