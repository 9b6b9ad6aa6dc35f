"""Metrics by segment and outcomes across protected groups.

A group is the rows sharing one value of a schema ``segments`` or ``protected`` column (values
compared as strings; a missing value is the group ``missing``). Approval means the decision
APPROVE (PD below ``decision.low``).

- :func:`segment_report`: per group ``n``, ``default_rate``, ``auc``, ``ks``, ``ece`` and
  ``approval_rate``.
- :func:`fairness_report`: per protected column, the groups as above plus
  ``adverse_impact_ratio`` (the group's approval rate over the most-approved group's), the
  smallest ratio, the groups below ``fairness.min_air`` (0.8, the four-fifths rule), the AUC
  gap (largest minus smallest group AUC) and whether the column was a model input; groups
  under ``fairness.min_rows`` rows are shown but not counted in those.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantjax.credit import metrics as credit_metrics

MISSING = "missing"


def group_values(values) -> np.ndarray:
    """Group names [N] (str): the values as strings, ``missing`` for a missing value."""
    s = pd.Series(np.asarray(values, dtype=object))
    miss = s.isna().to_numpy()
    out = np.array([MISSING if m else _name(v) for v, m in zip(s.to_numpy(), miss, strict=True)],
                   dtype=object)
    return out


def _name(v) -> str:
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))  # a numeric column: 30.0 -> "30"
    return str(v)


def group_metrics(y, p, low: float, ece_bins: int = 10) -> dict[str, float]:
    """``n``, ``default_rate``, ``auc``, ``ks``, ``ece``, ``approval_rate`` of rows y [N],
    p [N] (AUC and KS are NaN with one class)."""
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, np.float64)
    n = int(y.size)
    return {"n": n, "default_rate": float(y.mean()) if n else math.nan,
            "auc": credit_metrics.auc(y, p), "ks": credit_metrics.ks(y, p),
            "ece": credit_metrics.ece(y, p, ece_bins) if n else math.nan,
            "approval_rate": float(np.mean(p < low)) if n else math.nan}


def segment_report(values, y, p, low: float, ece_bins: int = 10) -> dict[str, dict]:
    """``{group: group_metrics}`` (groups sorted by name, ``missing`` last)."""
    g = group_values(values)
    y = np.asarray(y)
    p = np.asarray(p, np.float64)
    names = sorted(set(g) - {MISSING}) + ([MISSING] if MISSING in set(g) else [])
    return {name: group_metrics(y[g == name], p[g == name], low, ece_bins) for name in names}


def fairness_report(values, y, p, low: float, ece_bins: int = 10, min_air: float = 0.8,
                    model_input: bool = False, min_rows: int = 30) -> dict[str, Any]:
    """The protected-column report of the module doc. Groups with fewer than ``min_rows``
    rows are shown (``small: true``) but left out of the reference group, the smallest ratio,
    the flagged list and the AUC gap (their rates are noise)."""
    groups = segment_report(values, y, p, low, ece_bins)
    for v in groups.values():
        v["small"] = v["n"] < min_rows
    counted = [k for k, v in groups.items() if not v["small"]] or list(groups)
    rates = {k: groups[k]["approval_rate"] for k in counted}
    ref = max(rates, key=lambda k: (rates[k], -counted.index(k)))
    top = rates[ref]
    for v in groups.values():
        v["adverse_impact_ratio"] = v["approval_rate"] / top if top > 0 else math.nan
    air = {k: groups[k]["adverse_impact_ratio"] for k in counted
           if math.isfinite(groups[k]["adverse_impact_ratio"])}
    aucs = [groups[k]["auc"] for k in counted if math.isfinite(groups[k]["auc"])]
    return {
        "model_input": bool(model_input),
        "reference_group": ref,
        "groups": groups,
        "min_adverse_impact_ratio": min(air.values()) if air else math.nan,
        "below_min_air": [k for k, v in air.items() if v < min_air],
        "auc_gap": (max(aucs) - min(aucs)) if len(aucs) > 1 else math.nan,
        "min_air": float(min_air),
        "min_rows": int(min_rows),
    }


def group_reports(df: pd.DataFrame, schema, y, p, low: float, ece_bins: int = 10,
                  min_air: float = 0.8, min_rows: int = 30) -> dict[str, Any]:
    """metrics.json ``segments`` and ``fairness`` for rows ``df`` (holding the schema's
    segment and protected columns) with outcomes y [N] and PDs p [N]; empty dict when the
    schema names neither."""
    out: dict[str, Any] = {}
    inputs = set(schema.columns)
    if schema.segments:
        out["segments"] = {c: segment_report(df[c].to_numpy(dtype=object), y, p, low, ece_bins)
                           for c in schema.segments}
    if schema.protected:
        out["fairness"] = {c: fairness_report(df[c].to_numpy(dtype=object), y, p, low, ece_bins,
                                              min_air, c in inputs, min_rows)
                           for c in schema.protected}
    return out
