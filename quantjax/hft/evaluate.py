"""Evaluation of a trained HFT model on a split: predictions in real units, metrics with
baselines and the oracle, attention samples, and the run's prediction files."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.features.windows import gather_windows
from quantjax.hft.config import HFTConfig
from quantjax.hft.task import (
    N_CLASSES,
    HFTArrays,
    eval_batch,
    host_windows,
    is_host,
    make_host_predict,
    make_predict,
)
from quantjax.models.registry import build, spec_of
from quantjax.train import metrics

N_ATTENTION_SAMPLES = 4


def split_predictions(cfg: HFTConfig, params, ds, data: HFTArrays, extra: dict,
                      split: str) -> dict:
    """Predictions of ``split`` ("val" | "test") in real units, host arrays ``[N]``:
    ``index[N, 2]`` (symbol, t_end), ``pred_direction`` / ``true_direction`` (0 down, 1 flat,
    2 up), ``direction_probs[N, 3]``, ``pred_return`` / ``true_return`` (future return),
    ``pred_vol`` / ``realized_vol`` (future volatility). Host ``data``: host-gathered batches."""
    index = np.asarray(getattr(ds, f"{split}_index"), np.int64).reshape(-1, 2)
    padded = getattr(data, f"{split}_index")
    predict = (make_host_predict(cfg) if is_host(data)
               else jax.jit(make_predict(cfg), static_argnums=3))
    out = predict(params, data, padded, eval_batch(cfg, len(index)))
    out = jax.tree.map(lambda a: np.asarray(a)[: len(index)], out)
    s, t = index[:, 0], index[:, 1]
    return {
        "index": index.astype(np.int32),
        "pred_direction": out["direction"].argmax(-1).astype(np.int32),
        "true_direction": np.asarray(ds.direction)[s, t].astype(np.int32),
        "direction_probs": np.asarray(jax.nn.softmax(out["direction"], -1), np.float32),
        "pred_return": out["price"].astype(np.float64) * extra["price_scale"],
        "true_return": np.asarray(ds.future_return, np.float64)[s, t],
        "pred_vol": out["volatility"].astype(np.float64) * extra["vol_scale"],
        "realized_vol": np.asarray(ds.future_vol, np.float64)[s, t],
    }


def attention_samples(cfg: HFTConfig, params, features, index: np.ndarray,
                      k: int = N_ATTENTION_SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    """``(attention[K, heads, L, L], index[K, 2])`` of ``k`` windows spread evenly over
    ``index[N, 2]`` (eval mode, ``apply(..., return_attention=True)``). Numpy ``features``
    stay on the host (only the ``k`` windows are copied)."""
    index = np.asarray(index, np.int64).reshape(-1, 2)
    pick = index[np.linspace(0, len(index) - 1, min(k, len(index))).astype(int)]
    L = cfg.model.sequence_length
    if isinstance(features, np.ndarray):
        x = jnp.asarray(host_windows(features, pick, L), jnp.float32)
    else:
        x = gather_windows(jnp.asarray(features, jnp.float32), jnp.asarray(pick, jnp.int32), L)
    att = build(cfg.model).apply(params, x, return_attention=True)["attention"]
    return np.asarray(att, np.float32), pick.astype(np.int32)


def write_prediction_files(cfg: HFTConfig, params, ds, data: HFTArrays, extra: dict,
                           workdir) -> None:
    """``predictions.npz`` (test split, see :func:`split_predictions`) and, for a model with
    attention maps, ``attention_samples.npz`` (``attention[K, heads, L, L]``, ``index[K, 2]``)
    in ``workdir``."""
    workdir = Path(workdir)
    p = split_predictions(cfg, params, ds, data, extra, "test")
    np.savez(workdir / "predictions.npz", **p)
    if spec_of(cfg.model).attention:
        att, pick = attention_samples(cfg, params, data.features, p["index"])
        np.savez(workdir / "attention_samples.npz", attention=att, index=pick)


def evaluate(cfg: HFTConfig, params, ds, data: HFTArrays, extra: dict, split: str,
             bayes_accuracy: float | None = None) -> dict:
    """Host metrics of ``split`` ("val" | "test") in real units, with baselines.

    Keys: directional_accuracy, macro_f1, confusion_matrix (rows true, cols predicted; down,
    flat, up), price_mae (return units), vol_r2, majority_baseline_accuracy,
    persistence_baseline_accuracy, zero_return_price_mae, persistence_price_mae, n, and
    bayes_accuracy / accuracy_over_bayes when given.
    """
    p = split_predictions(cfg, params, ds, data, extra, split)
    index = p["index"].astype(np.int64)
    s, t = index[:, 0], index[:, 1]
    y_dir, y_ret, y_vol = p["true_direction"], p["true_return"], p["realized_vol"]
    pred_dir, pred_ret, pred_vol = p["pred_direction"], p["pred_return"], p["pred_vol"]
    rep = metrics.classification_report(y_dir, pred_dir, N_CLASSES)
    majority = int(np.argmax(extra["train_class_counts"]))
    h = int(extra["horizon"])
    tp = t - h
    ok = (tp >= 0) & np.asarray(ds.label_valid)[s, np.maximum(tp, 0)]
    pers_dir = np.where(ok, np.asarray(ds.direction)[s, np.maximum(tp, 0)], majority)
    pers_ret = np.where(ok, np.asarray(ds.future_return, np.float64)[s, np.maximum(tp, 0)], 0.0)
    res = {
        "n": len(index),
        "directional_accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "confusion_matrix": rep["confusion_matrix"],
        "price_mae": metrics.mae(y_ret, pred_ret),
        "vol_r2": metrics.r2_score(y_vol, pred_vol),
        "majority_baseline_accuracy": float(np.mean(y_dir == majority)),
        "persistence_baseline_accuracy": float(np.mean(y_dir == pers_dir)),
        "zero_return_price_mae": metrics.mae(y_ret, np.zeros_like(y_ret)),
        "persistence_price_mae": metrics.mae(y_ret, pers_ret),
        "class_frequencies": (np.bincount(y_dir, minlength=N_CLASSES) / max(len(y_dir), 1)).tolist(),
    }
    if bayes_accuracy is not None:
        res["bayes_accuracy"] = float(bayes_accuracy)
        res["accuracy_over_bayes"] = rep["accuracy"] / float(bayes_accuracy)
    return res


