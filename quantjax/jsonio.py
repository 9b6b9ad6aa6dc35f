"""JSON output shared by every run folder writer (metrics.json, metrics.jsonl, checkpoint meta).

:func:`jsonable` is the one JSON cleaner: plain Python types, numpy scalars and arrays as
numbers and lists, tuples as lists, non-finite floats as ``null``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np


def jsonable(obj: Any) -> Any:
    """Plain JSON types of ``obj``; non-finite floats become ``None``."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, **kw) -> str:
    """``json.dumps`` of :func:`jsonable` ``obj`` (NaN written as null, never as ``NaN``)."""
    return json.dumps(jsonable(obj), allow_nan=False, **kw)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write ``obj`` as pretty JSON (NaN written as null); creates the parent folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(obj, indent=2) + "\n")
    return path
