"""The HFT task: a registered HFT model + multi-task loss on an ``HFTDataset``.

Windows are gathered inside jit from the ``[S, T, F]`` feature array (never materialized as
``[N, L, F]``): example ``(s, t_end)`` reads ``features[s, t_end-L+1 : t_end+1]`` and its
labels at ``(s, t_end)``. Price and volatility targets are scaled by train-split constants
(``price_scale`` = std of train future returns, ``vol_scale`` = mean train future vol)
stored in the checkpoint's ``extra``; :func:`quantjax.hft.predict.predict_fn` returns real units.

Placement: :class:`HFTArrays` of jax arrays live on the device (windows gathered inside jit);
of numpy arrays (``prepare_arrays(..., device=False)``, the prefetching host loop) they stay
in host memory, and training, validation and test batches are gathered on the host
(:func:`host_windows`) and copied to the device one batch at a time.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.errors import DataError
from quantjax.features.windows import gather_windows
from quantjax.hft.config import HFTConfig
from quantjax.models.registry import build
from quantjax.train import losses, metrics
from quantjax.train.prefetch import Prefetcher
from quantjax.train.trainer import HParams, Task

N_CLASSES = 3


class HFTArrays(NamedTuple):
    """Training data (a pytree; shared, not vmapped, in sweeps): jax arrays on the device,
    or numpy arrays in host memory (see the module docstring)."""

    features: jax.Array  # [S, T, F] float32
    direction: jax.Array  # [S, T] int32
    price_target: jax.Array  # [S, T] float32, future_return / price_scale
    vol_target: jax.Array  # [S, T] float32, future_vol / vol_scale
    train_index: jax.Array  # [N, 2] int32 (symbol, t_end)
    val_index: jax.Array  # [Nv_pad, 2] int32, padded to a multiple of the eval batch
    val_weight: jax.Array  # [Nv_pad] float32, 0 on padding
    test_index: jax.Array  # [Nt_pad, 2]
    test_weight: jax.Array  # [Nt_pad]
    train_weight: jax.Array | None = None  # [N] float32, 0 on padding rows (walk-forward folds)


def _pad(index: np.ndarray, multiple: int) -> tuple[np.ndarray, np.ndarray]:
    n = len(index)
    n_pad = max(math.ceil(n / multiple), 1) * multiple
    out = np.zeros((n_pad, 2), np.int32)
    w = np.zeros(n_pad, np.float32)
    if n:
        out[:n], out[n:] = index, index[0]
        w[:n] = 1.0
    return out, w


def eval_batch(cfg: HFTConfig, n: int) -> int:
    return max(1, min(cfg.train.eval_batch_size, n))


def _check_index(ds, name: str, seq_len: int) -> np.ndarray:
    idx = np.asarray(getattr(ds, name), np.int32).reshape(-1, 2)
    if len(idx) == 0:
        raise DataError(f"dataset split '{name}' is empty; use more data or a shorter "
                        "model.sequence_length")
    if idx[:, 1].min() < seq_len - 1:
        raise DataError(f"{name}: window end t={int(idx[:, 1].min())} is shorter than "
                        f"model.sequence_length={seq_len}")
    bad = ~np.asarray(ds.label_valid)[idx[:, 0], idx[:, 1]]
    if bad.any():
        s, t = idx[np.argmax(bad)]
        raise DataError(f"{name}: example (symbol {s}, t {t}) has no valid label")
    return idx


def prepare_arrays(ds, cfg: HFTConfig, device: bool = True) -> tuple[HFTArrays, dict]:
    """Arrays + ``extra`` (target scales, horizon, class frequencies) from an HFTDataset:
    on the device, or host numpy arrays with ``device=False``."""
    L = cfg.model.sequence_length
    tr = _check_index(ds, "train_index", L)
    va = _check_index(ds, "val_index", L)
    te = _check_index(ds, "test_index", L)
    lv = np.asarray(ds.label_valid)
    fr = np.where(lv, np.asarray(ds.future_return, np.float64), 0.0)
    fv = np.where(lv, np.asarray(ds.future_vol, np.float64), 0.0)
    price_scale = float(np.std(fr[tr[:, 0], tr[:, 1]])) or 1.0
    vol_scale = float(np.mean(np.abs(fv[tr[:, 0], tr[:, 1]]))) or 1.0
    counts = np.bincount(np.asarray(ds.direction)[tr[:, 0], tr[:, 1]], minlength=N_CLASSES)
    va_p, va_w = _pad(va, eval_batch(cfg, len(va)))
    te_p, te_w = _pad(te, eval_batch(cfg, len(te)))
    arrays = HFTArrays(
        features=np.asarray(ds.features, np.float32),
        direction=np.where(lv, ds.direction, 0).astype(np.int32),
        price_target=(fr / price_scale).astype(np.float32),
        vol_target=(fv / vol_scale).astype(np.float32),
        train_index=tr, val_index=va_p, val_weight=va_w, test_index=te_p, test_weight=te_w,
    )
    if device:
        arrays = jax.tree.map(jnp.asarray, arrays)
    extra = {"price_scale": price_scale, "vol_scale": vol_scale,
             "horizon": cfg.data.prediction_horizon, "threshold": cfg.data.direction_threshold,
             "train_class_counts": counts.tolist(), "n_features": int(ds.features.shape[-1])}
    return arrays, extra


def _targets(data: HFTArrays, idx):
    s, t = idx[:, 0], idx[:, 1]
    return data.direction[s, t], data.price_target[s, t], data.vol_target[s, t]


def task_losses(cfg: HFTConfig, out: dict, y_dir, y_price, y_vol, hp: HParams, mask=None):
    """``(total, {"price", "direction", "volatility"})`` multi-task loss (scalars)."""
    if cfg.loss.price == "huber":
        lp = losses.huber(out["price"], y_price, cfg.loss.huber_delta)
    else:
        lp = losses.mse(out["price"], y_price)
    if cfg.loss.volatility == "log_mse":
        lv = losses.log_mse(out["volatility"], y_vol)
    elif cfg.loss.volatility == "gaussian_nll":
        # vol head = sigma of the one-bar returns r[t+1..t+k]; their Gaussian NLL under
        # N(0, sigma^2) is k/2 * (log sigma^2 + future_vol^2 / sigma^2) + const (per bar here)
        lv = losses.gaussian_nll(jnp.zeros_like(y_vol), out["volatility"], y_vol)
    else:
        lv = losses.mse(out["volatility"], y_vol)
    lp, lv = losses.masked_mean(lp, mask), losses.masked_mean(lv, mask)
    ld = losses.weighted_cross_entropy(out["direction"], y_dir, hp.class_weights, mask)
    w = hp.loss_weights
    total = w[0] * lp + w[1] * ld + w[2] * lv
    return total, {"price_loss": lp, "direction_loss": ld, "vol_loss": lv}


def is_host(data: HFTArrays) -> bool:
    """True when ``data`` holds host numpy arrays (see the module docstring)."""
    return isinstance(data.features, np.ndarray)


def host_windows(features: np.ndarray, idx: np.ndarray, seq_len: int) -> np.ndarray:
    """Numpy :func:`gather_windows`: ``x[B, L, F]`` from ``features[S, T, F]`` and
    ``idx[B, 2]`` (symbol, t_end)."""
    idx = np.asarray(idx)
    s, t = idx[:, 0], idx[:, 1]
    steps = t[:, None] + np.arange(seq_len)[None, :] - (seq_len - 1)
    return np.asarray(features)[s[:, None], steps]


def make_predict(cfg: HFTConfig):
    """``predict(params, data, index_padded[N, 2]) -> dict of [N] / [N, 3]`` (eval mode, scaled)."""
    model = build(cfg.model)
    L = cfg.model.sequence_length

    def predict(params, data: HFTArrays, index, batch: int):
        chunks = index.reshape(-1, batch, 2)
        out = jax.lax.map(lambda idx: model.apply(params, gather_windows(data.features, idx, L)),
                          chunks)
        out.pop("hidden")
        return jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), out)

    return predict


def make_host_predict(cfg: HFTConfig):
    """:func:`make_predict` for host data (not jitted itself): each ``[batch, L, F]`` window
    batch is gathered on the host and prefetched to the device; the outputs (``[N]`` /
    ``[N, 3]``) are concatenated on the device."""
    model = build(cfg.model)
    L = cfg.model.sequence_length

    @jax.jit
    def apply(params, x):
        out = model.apply(params, x)
        out.pop("hidden")
        return out

    def predict(params, data: HFTArrays, index, batch: int) -> dict:
        pieces = np.asarray(index).reshape(-1, batch, 2)
        with Prefetcher(lambda idx: host_windows(data.features, idx, L), pieces) as pf:
            outs = [apply(params, x) for x in pf]
        return jax.tree.map(lambda *a: jnp.concatenate(a), *outs)

    return predict


def make_hft_task(cfg: HFTConfig, data: HFTArrays) -> Task:
    """The :class:`Task` for the trainer (``data`` only fixes static sizes)."""
    model = build(cfg.model)
    L = cfg.model.sequence_length
    n_feat = data.features.shape[-1]
    predict = make_predict(cfg)
    host_predict = make_host_predict(cfg)
    vb = int(data.val_index.shape[0])
    vb = eval_batch(cfg, vb) if vb % eval_batch(cfg, vb) == 0 else vb

    def init_params(key):
        return model.init(key, jnp.zeros((1, L, n_feat), jnp.float32))

    def batch_loss_fn(params, batch: dict, hp: HParams, key):
        out = model.apply(params, batch["x"], train=True, dropout_rate=hp.dropout_rate,
                          rngs={"dropout": key})
        return task_losses(cfg, out, batch["direction"], batch["price"], batch["vol"], hp,
                           batch.get("weight"))

    def loss_fn(params, data: HFTArrays, rows, hp: HParams, key):
        idx = data.train_index[rows]
        y_dir, y_p, y_v = _targets(data, idx)
        batch = {"x": gather_windows(data.features, idx, L), "direction": y_dir,
                 "price": y_p, "vol": y_v}
        if data.train_weight is not None:  # padded walk-forward folds: padding rows weigh 0
            batch["weight"] = data.train_weight[rows]
        return batch_loss_fn(params, batch, hp, key)

    def scores(out: dict, y_dir, y_p, y_v, w, hp: HParams) -> dict:
        loss, _ = task_losses(cfg, out, y_dir, y_p, y_v, hp, w)
        pred = jnp.argmax(out["direction"], -1)
        acc = jnp.sum((pred == y_dir) * w) / jnp.sum(w)
        f1 = metrics.macro_f1_from_confusion(
            metrics.confusion_matrix_jnp(y_dir, pred, N_CLASSES, w))
        score = {"val_accuracy": acc, "val_macro_f1": f1, "val_loss": -loss}[cfg.loss.monitor]
        return {"score": score, "loss": loss, "accuracy": acc, "macro_f1": f1}

    def val_score(params, hp: HParams, data: HFTArrays) -> dict:
        out = predict(params, data, data.val_index, vb)
        return scores(out, *_targets(data, data.val_index), data.val_weight, hp)

    host_scores = jax.jit(scores)

    def host_val_score(params, hp: HParams, data: HFTArrays) -> dict:
        out = host_predict(params, data, data.val_index, vb)
        y = jax.device_put((*_targets(data, np.asarray(data.val_index)), data.val_weight))
        return host_scores(out, *y, hp)

    return Task(init_params, loss_fn, val_score, int(data.train_index.shape[0]),
                host_batch=lambda d, rows: host_batch(d, rows, L), batch_loss_fn=batch_loss_fn,
                host_val_score=host_val_score)


def host_batch(data: HFTArrays, rows: np.ndarray, seq_len: int) -> dict:
    """One training batch gathered on the host (numpy): ``x[B, L, F]`` windows of the
    training examples ``rows[B]`` and their targets ``direction`` / ``price`` / ``vol`` ``[B]``."""
    idx = np.asarray(data.train_index)[np.asarray(rows)]
    s, t = idx[:, 0], idx[:, 1]
    return {"x": host_windows(data.features, idx, seq_len),
            "direction": np.asarray(data.direction)[s, t],
            "price": np.asarray(data.price_target)[s, t],
            "vol": np.asarray(data.vol_target)[s, t]}
