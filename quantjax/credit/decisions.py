"""Risk categories, decisions and confidence from calibrated probabilities of default."""

from __future__ import annotations

import numpy as np

CATEGORIES = np.array(["LOW", "MEDIUM", "HIGH"])
DECISIONS = np.array(["APPROVE", "REVIEW", "DECLINE"])


def band(pd: np.ndarray, low: float = 0.1, high: float = 0.3) -> np.ndarray:
    """0 (pd < low), 1 (low <= pd < high) or 2 (pd >= high), int [N]. Spec: 0.1 / 0.3."""
    pd = np.asarray(pd, dtype=np.float64)
    return (pd >= low).astype(np.int64) + (pd >= high).astype(np.int64)


def decide(pd, low: float = 0.1, high: float = 0.3) -> dict[str, np.ndarray]:
    """risk_category LOW/MEDIUM/HIGH, decision APPROVE/REVIEW/DECLINE and confidence
    ``max(pd, 1 - pd)`` (the spec's max class probability) per row."""
    pd = np.asarray(pd, dtype=np.float64)
    b = band(pd, low, high)
    return {
        "risk_category": CATEGORIES[b],
        "decision": DECISIONS[b],
        "confidence": np.maximum(pd, 1.0 - pd),
    }
