"""Binary credit metrics, computed on host in float64 (numpy).

All functions take ``y`` int [N] (1 = default) and ``p`` float [N] (probability of default).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np


def _check(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y).astype(np.int64).ravel()
    p = np.asarray(p, dtype=np.float64).ravel()
    if y.shape != p.shape:
        raise ValueError(f"labels {y.shape} and scores {p.shape} differ in length")
    return y, p


def _midranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks with ties averaged."""
    s = np.sort(x)
    left = np.searchsorted(s, x, side="left")
    right = np.searchsorted(s, x, side="right")
    return (left + right + 1) / 2.0


def auc(y, p) -> float:
    """Area under the ROC curve (Mann-Whitney, ties count 1/2); NaN if one class is absent."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    r = _midranks(p)
    return float((r[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def ks(y, p) -> float:
    """Kolmogorov-Smirnov statistic: max over thresholds of |TPR - FPR|."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[ps[1:] != ps[:-1], True]  # evaluate only between distinct scores
    tpr = np.cumsum(ys)[last] / n_pos
    fpr = np.cumsum(1 - ys)[last] / n_neg
    return float(np.max(np.abs(tpr - fpr)))


def at_threshold(y, p, threshold: float) -> dict[str, float]:
    """Accuracy, precision, recall, F1 and FPR of the rule ``p >= threshold`` -> default."""
    y, p = _check(y, p)
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "accuracy": (tp + tn) / max(y.size, 1),
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": fp / (fp + tn) if fp + tn else float("nan"),
    }


def brier(y, p) -> float:
    """Mean squared error of the probability."""
    y, p = _check(y, p)
    return float(np.mean((p - y) ** 2))


def log_loss(y, p, eps: float = 1e-12) -> float:
    """Mean negative log-likelihood (natural log), probabilities clipped to [eps, 1-eps]."""
    y, p = _check(y, p)
    p = np.clip(p, eps, 1 - eps)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def reliability(y, p, bins: int = 10) -> dict[str, np.ndarray]:
    """Equal-width reliability bins on [0, 1]: count, mean predicted, observed rate per bin."""
    y, p = _check(y, p)
    idx = np.clip((p * bins).astype(np.int64), 0, bins - 1)
    count = np.bincount(idx, minlength=bins).astype(np.float64)
    sum_p = np.bincount(idx, weights=p, minlength=bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "count": count,
            "mean_predicted": np.where(count > 0, sum_p / count, np.nan),
            "observed_rate": np.where(count > 0, sum_y / count, np.nan),
        }


def ece(y, p, bins: int = 10) -> float:
    """Expected calibration error: sum_b (n_b / N) |mean p_b - rate_b| over equal-width bins."""
    y, p = _check(y, p)
    r = reliability(y, p, bins)
    ok = r["count"] > 0
    gap = np.abs(r["mean_predicted"][ok] - r["observed_rate"][ok])
    return float(np.sum(r["count"][ok] * gap) / max(y.size, 1))


def all_metrics(y, p, threshold: float = 0.5, bins: int = 10) -> dict[str, float]:
    """Every metric of the issue, flat: auc, gini, ks, accuracy, precision, recall, f1, fpr,
    brier, ece, log_loss, n, positive_rate."""
    y, p = _check(y, p)
    a = auc(y, p)
    out = {"auc": a, "gini": 2 * a - 1, "ks": ks(y, p)}
    out.update(at_threshold(y, p, threshold))
    out.update({
        "brier": brier(y, p), "ece": ece(y, p, bins), "log_loss": log_loss(y, p),
        "n": int(y.size), "positive_rate": float(y.mean()) if y.size else float("nan"),
    })
    return out


def auc_jax(y, s):
    """AUC in jnp (jittable, fixed shapes), ties count 1/2. y int [N], s float [N]."""

    y = jnp.asarray(y).astype(jnp.float32)
    s = jnp.asarray(s, jnp.float32)
    srt = jnp.sort(s)
    r = (jnp.searchsorted(srt, s, side="left") + jnp.searchsorted(srt, s, side="right") + 1) / 2.0
    n_pos = y.sum()
    n_neg = y.size - n_pos
    return ((r * y).sum() - n_pos * (n_pos + 1) / 2.0) / jnp.maximum(n_pos * n_neg, 1.0)
