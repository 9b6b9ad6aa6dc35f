"""Evaluation of a trained HFT model on a split: predictions in real units, metrics with
baselines, the linear baseline, signal metrics, the oracle and intervals
(:mod:`quantjax.hft.metrics`), attention samples, and the run's prediction files."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.features.windows import gather_windows
from quantjax.hft.config import HFTConfig
from quantjax.hft.linear_baseline import fit_linear_baseline, last_step_features
from quantjax.hft.metrics import prediction_metrics
from quantjax.hft.task import (
    HFTArrays,
    eval_batch,
    host_windows,
    is_host,
    make_host_predict,
    make_predict,
)
from quantjax.models.registry import build, spec_of

N_ATTENTION_SAMPLES = 4


def predictor(cfg: HFTConfig, data: HFTArrays):
    """``predict(params, data, index_padded[N, 2], batch)`` for ``data``: jitted on device
    data, host-gathered batches on host data. Build it once and pass it to every
    :func:`split_predictions` call of a run, so equal shapes compile once."""
    return (make_host_predict(cfg) if is_host(data)
            else jax.jit(make_predict(cfg), static_argnums=3))


def split_predictions(cfg: HFTConfig, params, ds, data: HFTArrays, extra: dict,
                      split: str, predict=None) -> dict:
    """Predictions of ``split`` ("val" | "test") in real units, host arrays ``[N]``:
    ``index[N, 2]`` (symbol, t_end), ``pred_direction`` / ``true_direction`` (0 down, 1 flat,
    2 up), ``direction_probs[N, 3]``, ``pred_return`` / ``true_return`` (future return),
    ``pred_vol`` / ``realized_vol`` (future volatility). Host ``data``: host-gathered batches.
    ``predict``: a :func:`predictor` of ``cfg`` and ``data`` (built here if None)."""
    index = np.asarray(getattr(ds, f"{split}_index"), np.int64).reshape(-1, 2)
    padded = getattr(data, f"{split}_index")
    predict = predict or predictor(cfg, data)
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


def write_prediction_files(cfg: HFTConfig, params, data: HFTArrays, test_predictions: dict,
                           workdir) -> None:
    """``predictions.npz`` (``test_predictions``: :func:`split_predictions` of the test
    split) and, for a model with attention maps, ``attention_samples.npz``
    (``attention[K, heads, L, L]``, ``index[K, 2]``) in ``workdir``."""
    workdir = Path(workdir)
    p = test_predictions
    np.savez(workdir / "predictions.npz", **p)
    if spec_of(cfg.model).attention:
        att, pick = attention_samples(cfg, params, data.features, p["index"])
        np.savez(workdir / "attention_samples.npz", attention=att, index=pick)


def evaluate(cfg: HFTConfig, params, ds, data: HFTArrays, extra: dict, split: str,
             bayes_accuracy: float | None = None, oracle=None, linear=None,
             predictions: dict | None = None) -> dict:
    """Host metrics of ``split`` ("val" | "test") in real units, with baselines, signal
    metrics and intervals (:func:`quantjax.hft.metrics.prediction_metrics`; keys in
    docs/training.md). ``bayes_accuracy``: the generator's population oracle accuracy;
    ``oracle``: the same-rows oracle (:mod:`quantjax.hft.oracle`); ``linear``: a fitted
    :class:`~quantjax.hft.linear_baseline.LinearBaseline`; ``predictions``: those of
    ``split`` if already computed (:func:`split_predictions`)."""
    p = (split_predictions(cfg, params, ds, data, extra, split) if predictions is None
         else predictions)
    lin = None
    if linear is not None:
        lin = linear.predict(last_step_features(ds.features, p["index"]))
    majority = int(np.argmax(extra["train_class_counts"]))
    return prediction_metrics(p, ds, int(extra["horizon"]), majority, cfg.evaluation,
                              oracle=oracle, bayes_population=bayes_accuracy, linear=lin,
                              timestamps=getattr(ds, "timestamps", None))


def fit_baseline(cfg: HFTConfig, ds):
    """The linear baseline (:mod:`quantjax.hft.linear_baseline`) fitted on ``ds``'s training
    split, its penalties chosen on the validation split."""
    def rows(name):
        idx = np.asarray(getattr(ds, name), np.int64).reshape(-1, 2)
        return (last_step_features(ds.features, idx), np.asarray(ds.direction)[idx[:, 0], idx[:, 1]],
                np.asarray(ds.future_return, np.float64)[idx[:, 0], idx[:, 1]])

    return fit_linear_baseline(*rows("train_index"), *rows("val_index"),
                               cfg.evaluation.linear_l2)
