"""Integrated-gradients reason codes and modality importance.

Integrated gradients (Sundararajan et al. 2017) run in the model's continuous input space
(:meth:`quantjax.models.credit.CreditTransformer.embed`): raw numeric values, categorical and
word embeddings, raw series values. The baseline is all zeros there: the training mean of
every standardized numeric/series value, a zero embedding for every category and word (the
text padding mask is kept). With ``m`` midpoint steps,

    attr_i = (x_i - x0_i) * int_0^1 d logit(x0 + a (x - x0)) / d x_i da,

computed with the substitution a = t^2 and ``m`` midpoint steps in t (steps are denser near
the baseline, where the LayerNorm of almost-empty tokens bends the path sharply),

summed over the embedding width (and over words / months), so one attribution per input
feature, in logit units; they add up to about ``logit(x) - logit(baseline)`` (completeness).
Features: the numeric columns (missing indicators separately), each categorical column, the
text column, the time series (one feature).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.models.credit import CreditTransformer, Embedded, categorical_widths

MODALITIES = ("numerical", "categorical", "time_series", "text")


class Attribution(NamedTuple):
    """values [N, F] float64 per-feature attributions (logit units); logit [N] and
    baseline_logit [N] of the explained model (uncalibrated logit)."""

    values: np.ndarray
    logit: np.ndarray
    baseline_logit: np.ndarray


class FeatureSpace(NamedTuple):
    """The F explained features: ``names`` (column names; ``<col>_missing`` for indicators),
    ``columns`` (source column in the applications file, or None for the series),
    ``modality`` int [F] index into :data:`MODALITIES`, ``kind`` ('numeric', 'missing',
    'categorical', 'text', 'series')."""

    names: tuple[str, ...]
    columns: tuple[str | None, ...]
    modality: np.ndarray
    kind: tuple[str, ...]


def feature_space(enc) -> FeatureSpace:
    """Features of a fitted :class:`quantjax.data.credit.CreditEncoder`."""
    names, cols, mod, kind = [], [], [], []
    for c in enc.numeric_columns:
        names.append(c), cols.append(c), mod.append(0), kind.append("numeric")
    for c in enc.indicator_columns:
        names.append(f"{c}_missing"), cols.append(c), mod.append(0), kind.append("missing")
    for c in enc.categorical_columns:
        names.append(c), cols.append(c), mod.append(1), kind.append("categorical")
    if enc.series_len:
        names.append(_series_name(enc.series_columns))
        cols.append(None), mod.append(2), kind.append("series")
    if enc.text_column is not None and enc.text_len:
        names.append(enc.text_column), cols.append(enc.text_column), mod.append(3)
        kind.append("text")
    return FeatureSpace(tuple(names), tuple(cols), np.asarray(mod, np.int64), tuple(kind))


def _series_name(columns) -> str:
    first, last = columns[0], columns[-1]
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    prefix = first[:i].rstrip("_m0123456789") or "series"
    return f"{prefix} history"


def make_ig_fn(model: CreditTransformer, steps: int):
    """``f(params, numeric, categorical, text, time_series) -> (attr [B, F], logit [B],
    baseline_logit [B])``, jittable; F as in :func:`feature_space`."""
    cfg = model.cfg

    def f(params, numeric, categorical, text, time_series):
        v = {"params": params}
        e = model.apply(v, numeric, categorical, text, time_series, method="embed")
        mask = e.text_mask
        x = (e.numeric, e.categorical, e.text, e.time_series)
        x0 = jax.tree.map(jnp.zeros_like, x)

        def logit_sum(xs):
            emb = Embedded(xs[0], xs[1], xs[2], mask, xs[3])
            return model.apply(v, emb, method="from_embedded").sum()

        grad = jax.grad(logit_sum)

        def body(acc, k):
            t = (k + 0.5) / steps
            a = t * t  # a = t^2: denser steps near the baseline, where LayerNorm is sharp
            g = grad(jax.tree.map(lambda p, q: q + a * (p - q), x, x0))
            return jax.tree.map(lambda s, u: s + 2.0 * t * u, acc, g), None

        acc, _ = jax.lax.scan(body, jax.tree.map(jnp.zeros_like, x), jnp.arange(steps))
        att = jax.tree.map(lambda g, p, q: g / steps * (p - q), acc, x, x0)
        b = numeric.shape[0]
        parts = [att[0]]
        n_cat = categorical.shape[1]
        if n_cat:
            if cfg.categorical_tokenizer == "split":
                edges = np.cumsum((0,) + categorical_widths(cfg.d_model, n_cat))
                parts.append(jnp.stack(
                    [att[1][:, edges[i]:edges[i + 1]].sum(-1) for i in range(n_cat)], axis=1))
            else:
                parts.append(att[1].sum(-1))
        if time_series.shape[1]:
            parts.append(att[3].reshape(b, -1).sum(-1, keepdims=True))
        if text.shape[1]:
            parts.append(att[2].sum((1, 2))[:, None])
        logit = model.apply(v, numeric, categorical, text, time_series)
        base = model.apply(v, Embedded(*x0[:3], mask, x0[3]), method="from_embedded")
        return jnp.concatenate(parts, axis=1), logit, base

    return f


def integrated_gradients(model: CreditTransformer, params, batch, steps: int = 32,
                         chunk: int = 256) -> Attribution:
    """Attributions for every row of a CreditBatch, ``chunk`` rows per compiled call."""
    f = jax.jit(make_ig_fn(model, steps))
    n = len(batch.numeric)
    out = [], [], []
    for s in range(0, n, chunk):
        sl = slice(s, min(s + chunk, n))
        pad = chunk - (sl.stop - sl.start) if n > chunk else 0
        xs = [np.asarray(a[sl]) for a in batch[:4]]
        if pad:
            xs = [np.concatenate([a, np.zeros((pad, *a.shape[1:]), a.dtype)]) for a in xs]
        r = f(params, *xs)
        for acc, a in zip(out, r, strict=True):
            acc.append(np.asarray(a, np.float64)[: sl.stop - sl.start])
    return Attribution(*(np.concatenate(a) for a in out))


def reason_codes(values: np.ndarray, k: int = 4) -> np.ndarray:
    """Indices [N, k] of the features with the largest POSITIVE attribution (pushing the
    default score up), descending; -1 where fewer than k features push up."""
    values = np.asarray(values)
    order = np.argsort(-values, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(values, order, axis=1)
    return np.where(top > 0, order, -1)


def modality_importance(values: np.ndarray, modality: np.ndarray) -> np.ndarray:
    """Share of the absolute attribution per modality [N, 4] (rows sum to 1, or 0 if all
    attributions are 0), columns in :data:`MODALITIES` order."""
    a = np.abs(np.asarray(values, np.float64))
    out = np.zeros((a.shape[0], len(MODALITIES)))
    for m in range(len(MODALITIES)):
        out[:, m] = a[:, modality == m].sum(1)
    tot = out.sum(1, keepdims=True)
    return np.divide(out, tot, out=np.zeros_like(out), where=tot > 0)
