"""Monotonicity check: does the PD move in the schema's declared direction of an input?

For each numeric input with a declared direction (schema ``monotone: {income: decreasing}``:
the PD should fall as income rises), every validation row is re-scored with only that input
set to each point of a grid (``monotonicity.grid`` training quantiles from 5% to 95%; the
input's missing indicator, if any, set to 0), the other inputs kept: an individual
partial-dependence (ICE) curve per row. A row **violates** the direction when its PD takes a
step against it larger than ``monotonicity.tolerance`` (PD units) anywhere along the grid. The
report flags an input whose share of violating rows exceeds ``monotonicity.max_share`` (5%).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from quantjax.data.credit import CreditBatch


def grid_values(x_train, points: int = 9) -> np.ndarray:
    """Sorted unique training quantiles [G] of an input at ``linspace(0.05, 0.95, points)``."""
    x = np.asarray(x_train, np.float64)
    x = x[~np.isnan(x)]
    return np.unique(np.quantile(x, np.linspace(0.05, 0.95, points)))


def violations(curves, direction: str, tolerance: float = 1e-3) -> np.ndarray:
    """bool [N]: rows of PD curves [N, G] (grid ascending) with a step against ``direction``
    (``increasing`` or ``decreasing``) larger than ``tolerance``."""
    step = np.diff(np.asarray(curves, np.float64), axis=1)
    against = -step if direction == "increasing" else step
    return (against > tolerance).any(axis=1)


def _with_value(batch: CreditBatch, encoder, column: str, value: float) -> CreditBatch:
    j = encoder.numeric_columns.index(column)
    num = np.array(batch.numeric, copy=True)
    num[:, j] = (value - encoder.numeric_mean[j]) / encoder.numeric_std[j]
    if column in encoder.indicator_columns:
        num[:, len(encoder.numeric_columns) + encoder.indicator_columns.index(column)] = 0.0
    return batch._replace(numeric=num)


def ice_curves(predict_pd: Callable[[CreditBatch], np.ndarray], batch: CreditBatch, encoder,
               column: str, grid) -> np.ndarray:
    """PD [N, G] of every row of ``batch`` with ``column`` set to each grid value (raw units).

    ``predict_pd(batch) -> PD [rows]``; all grid points are scored in one call."""
    n = len(batch.target)
    parts = [_with_value(batch, encoder, column, float(v)) for v in grid]
    stacked = CreditBatch(*(np.concatenate([getattr(b, f) for b in parts])
                            for f in CreditBatch._fields))
    return np.asarray(predict_pd(stacked), np.float64).reshape(len(grid), n).T


def monotonicity_report(predict_pd, batch: CreditBatch, encoder, grids: dict[str, np.ndarray],
                        directions: dict[str, str], tolerance: float = 1e-3,
                        max_share: float = 0.05) -> dict[str, Any]:
    """metrics.json ``monotonicity``: per declared input ``direction``, ``grid`` (raw values),
    ``share`` (violating rows / rows), ``violations``, ``rows`` and ``flagged``
    (share > max_share)."""
    out = {}
    for col, direction in directions.items():
        curves = ice_curves(predict_pd, batch, encoder, col, grids[col])
        bad = violations(curves, direction, tolerance)
        share = float(bad.mean()) if bad.size else 0.0
        out[col] = {"direction": direction, "grid": np.asarray(grids[col]).tolist(),
                    "share": share, "violations": int(bad.sum()), "rows": int(bad.size),
                    "flagged": share > max_share, "tolerance": float(tolerance),
                    "max_share": float(max_share)}
    return out
