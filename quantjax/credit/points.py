"""Score points from the probability of default, in the usual log-odds scaling.

With ``odds = (1 - PD) / PD`` (good:bad), ``factor = pdo / ln 2`` and
``offset = base_score - factor * ln(base_odds)``::

    points = offset + factor * ln(odds)

so ``base_odds`` (e.g. 50:1) scores ``base_score`` (e.g. 600) and every ``pdo`` points double
the odds. Points are a monotone relabelling of the PD (higher points = lower risk); decisions
always come from the PD (:mod:`quantjax.credit.decisions`), never from points.
"""

from __future__ import annotations

import math

import numpy as np

#: PDs are clipped to [PD_CLIP, 1 - PD_CLIP] so a PD of exactly 0 or 1 gets finite points
PD_CLIP = 1e-12


def scaling(pdo: float, base_score: float, base_odds: float) -> tuple[float, float]:
    """``(factor, offset)`` of ``points = offset + factor * ln(odds)``."""
    factor = float(pdo) / math.log(2.0)
    return factor, float(base_score) - factor * math.log(float(base_odds))


def points(pd, pdo: float = 20.0, base_score: float = 600.0,
           base_odds: float = 50.0) -> np.ndarray:
    """Score points [N] (float64) of PDs [N]; see the module doc for the formula."""
    p = np.clip(np.asarray(pd, np.float64), PD_CLIP, 1.0 - PD_CLIP)
    factor, offset = scaling(pdo, base_score, base_odds)
    return offset + factor * (np.log1p(-p) - np.log(p))


def pd_at_points(score, pdo: float = 20.0, base_score: float = 600.0,
                 base_odds: float = 50.0) -> np.ndarray:
    """The inverse of :func:`points`: the PD [N] that scores ``score`` [N] points."""
    factor, offset = scaling(pdo, base_score, base_odds)
    log_odds = np.clip((np.asarray(score, np.float64) - offset) / factor, -700.0, 700.0)
    return 1.0 / (1.0 + np.exp(log_odds))  # clipped: no overflow far outside the PD range


def points_of(decision, pd) -> np.ndarray:
    """:func:`points` with the ``points`` settings of a ``CreditDecisionConfig``."""
    c = decision.points
    return points(pd, c.pdo, c.base_score, c.base_odds)


def points_summary(decision) -> dict[str, float]:
    """The scaling and the points at the band thresholds, for metrics.json ``points``:
    ``pdo``, ``base_score``, ``base_odds``, ``factor``, ``offset``, ``at_low`` (points at PD
    ``decision.low``: APPROVE above), ``at_high`` (points at ``decision.high``: DECLINE at or
    below)."""
    c = decision.points
    factor, offset = scaling(c.pdo, c.base_score, c.base_odds)
    at = points(np.array([decision.low, decision.high]), c.pdo, c.base_score, c.base_odds)
    return {"pdo": c.pdo, "base_score": c.base_score, "base_odds": c.base_odds,
            "factor": factor, "offset": offset, "at_low": float(at[0]), "at_high": float(at[1])}
