"""Classification / regression metrics: jittable (``jnp``) and host (``numpy``) versions."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np


def confusion_matrix_jnp(y_true, y_pred, n_classes: int, weight=None) -> jax.Array:
    """``[C, C]`` float counts, rows = true class, columns = predicted class."""
    w = jnp.ones(y_true.shape, jnp.float32) if weight is None else weight
    idx = y_true * n_classes + y_pred
    return jnp.zeros(n_classes * n_classes, jnp.float32).at[idx].add(w).reshape(n_classes, n_classes)


def macro_f1_from_confusion(cm) -> jax.Array:
    """Macro-averaged F1 from a confusion matrix (works for jnp and np)."""
    xp = jnp if isinstance(cm, jax.Array) else np
    tp = xp.diagonal(cm)
    prec_den = cm.sum(axis=0)
    rec_den = cm.sum(axis=1)
    f1 = 2 * tp / xp.maximum(prec_den + rec_den, 1e-12)
    present = (rec_den + prec_den) > 0
    return xp.sum(xp.where(present, f1, 0.0)) / xp.maximum(xp.sum(present), 1)


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``[C, C]`` int64 counts, rows = true, columns = predicted."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    np.add.at(cm, (y_true.astype(np.int64), y_pred.astype(np.int64)), 1)
    return cm


def classification_report(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro-F1 and confusion matrix (host, float64)."""
    cm = confusion_matrix(y_true, y_pred, n_classes)
    acc = float(np.trace(cm) / max(cm.sum(), 1))
    return {"accuracy": acc, "macro_f1": float(macro_f1_from_confusion(cm.astype(np.float64))),
            "confusion_matrix": cm.tolist()}


def r2_score(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Coefficient of determination (NaN when the target is constant)."""
    y_true = np.asarray(y_true, np.float64)
    ss_res = float(np.sum((y_true - y_pred) ** 2))
    ss_tot = float(np.sum((y_true - y_true.mean()) ** 2))
    return 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan")


def mae(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean absolute error (float64)."""
    return float(np.mean(np.abs(np.asarray(y_true, np.float64) - np.asarray(y_pred, np.float64))))
