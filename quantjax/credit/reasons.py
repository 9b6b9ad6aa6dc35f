"""Adverse-action reasons: attribution-ranked statements for REVIEW/DECLINE decisions.

The schema's ``reasons`` maps inputs to statements (``duration: "Loan term is long"``);
inputs mapped to the same statement form a group. For each adverse row:

1. each explained feature's attribution (integrated gradients, logit units; see
   :mod:`quantjax.credit.explain`) goes to its statement: the mapped one, else a statement
   generated for that input and row (below);
2. attributions are summed per statement; statements with a positive sum (pushing the PD up)
   are ranked, largest first, and the top ``k`` (at most 4) are kept: each statement once,
   with its summed attribution and the inputs behind it (``detail``).

Generated statements name the input and the direction: a numeric input or the series above
its training mean ``"<input> is higher than average"`` (below: ``lower``), a missing value
``"<input> is missing"``, a category ``"<input> is '<value>'"`` (``... was not seen in
training`` for an unseen one), the text ``"<input> text raises the risk"``. Names are shown
with underscores as spaces. Mapping keys: input columns, ``<numeric>_missing`` (the missing
indicator) and ``time_series`` (the whole series).

Plain functions of the attributions, the raw rows and the encoder: no training code.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd

from quantjax.credit.explain import FeatureSpace


class AdverseReasons(NamedTuple):
    """statements, details: object [N, k] ('' where none); attributions: float64 [N, k]
    (NaN where none)."""

    statements: np.ndarray
    attributions: np.ndarray
    details: np.ndarray


def label(name: str) -> str:
    """A column name for a sentence: underscores as spaces."""
    return str(name).replace("_", " ")


def mapping_key(fs: FeatureSpace, j: int) -> str:
    """The ``reasons`` key of explained feature ``j``."""
    return "time_series" if fs.kind[j] == "series" else fs.names[j]


def _is_missing(v) -> bool:
    return v is None or (isinstance(v, float) and np.isnan(v))


def _show(v):
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return int(v)
    return v


def detail(fs: FeatureSpace, j: int, df: pd.DataFrame, row: int) -> str:
    """The input behind feature ``j`` of ``row``: ``duration = 48``, ``income is missing``,
    ``description (text)``, ``ts balance history``."""
    kind, col = fs.kind[j], fs.columns[j]
    if kind == "missing":
        return f"{label(col)} is missing"
    if kind in ("numeric", "categorical"):
        v = df[col].iloc[row]
        return f"{label(col)} is missing" if _is_missing(v) else f"{label(col)} = {_show(v)}"
    if kind == "text":
        return f"{label(col)} (text)"
    return label(fs.names[j])


def generated(fs: FeatureSpace, j: int, df: pd.DataFrame, row: int, encoder,
              series_level: np.ndarray | None) -> str:
    """The statement of an unmapped feature ``j`` for ``row`` (module doc)."""
    kind, col = fs.kind[j], fs.columns[j]
    if kind == "missing":
        return f"{label(col)} is missing"
    if kind == "numeric":
        v = df[col].iloc[row]
        if _is_missing(v):
            return f"{label(col)} is missing"
        mean = encoder.numeric_mean[encoder.numeric_columns.index(col)]
        return f"{label(col)} is {'higher' if v > mean else 'lower'} than average"
    if kind == "categorical":
        v = df[col].iloc[row]
        if _is_missing(v):
            return f"{label(col)} is missing"
        cats = encoder.categories[encoder.categorical_columns.index(col)]
        if v not in cats:
            return f"{label(col)} '{v}' was not seen in training"
        return f"{label(col)} is '{v}'"
    if kind == "text":
        return f"{label(col)} text raises the risk"
    above = series_level is not None and series_level[row] > 0
    return f"{label(fs.names[j])} is {'higher' if above else 'lower'} than average"


def statement_groups(fs: FeatureSpace, reasons: dict[str, str]) -> tuple[np.ndarray, list]:
    """``(group [F], statements)``: feature j's group; ``statements[g]`` is the mapped text,
    or None for a group of one unmapped feature (its text is generated per row)."""
    texts: list = []
    index: dict[str, int] = {}
    group = np.empty(len(fs.names), np.int64)
    for j in range(len(fs.names)):
        text = reasons.get(mapping_key(fs, j))
        if text is None:
            group[j] = len(texts)
            texts.append(None)
        else:
            if text not in index:
                index[text] = len(texts)
                texts.append(text)
            group[j] = index[text]
    return group, texts


def adverse_reasons(values, fs: FeatureSpace, df: pd.DataFrame, flagged, encoder,
                    reasons: dict[str, str] | None = None, k: int = 4,
                    series_level=None) -> AdverseReasons:
    """The top ``k`` statements of each flagged row (module doc).

    values [N, F]: attributions of the features of ``fs``; df: the N raw rows (validated);
    flagged bool [N]: adverse decisions; series_level [N] (optional): the mean standardized
    series value of each row (sign = above/below the training mean)."""
    values = np.asarray(values, np.float64)
    n = values.shape[0]
    group, texts = statement_groups(fs, dict(reasons or {}))
    onehot = np.zeros((len(fs.names), len(texts)))
    onehot[np.arange(len(fs.names)), group] = 1.0
    sums = values @ onehot  # [N, S]
    order = np.argsort(-sums, axis=1, kind="stable")[:, :k]
    top = np.take_along_axis(sums, order, axis=1)
    statements = np.full((n, k), "", dtype=object)
    details = np.full((n, k), "", dtype=object)
    attrs = np.full((n, k), np.nan)
    members = [np.flatnonzero(group == g) for g in range(len(texts))]
    for i in np.flatnonzero(np.asarray(flagged, bool)):
        for r in range(min(k, len(texts))):
            if not top[i, r] > 0:
                break
            g = int(order[i, r])
            js = members[g]
            if texts[g] is None:
                statements[i, r] = generated(fs, int(js[0]), df, int(i), encoder, series_level)
            else:
                statements[i, r] = texts[g]
            js = [j for j in js[np.argsort(-values[i, js], kind="stable")] if values[i, j] > 0]
            details[i, r] = "; ".join(detail(fs, int(j), df, int(i)) for j in js)
            attrs[i, r] = top[i, r]
    return AdverseReasons(statements, attrs, details)
