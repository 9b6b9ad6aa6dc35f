"""The one formatting rule for numbers shown in a report (tables, captions).

Every number a report shows comes from the run's ``metrics.json`` and is written with
:func:`fmt_value`; the tests re-read the HTML and compare with the same rule.
"""

from __future__ import annotations

import math
from typing import Any


def fmt_value(v: Any) -> str:
    """``None``/NaN -> ``n/a``; bool -> ``yes``/``no``; int -> ``1,234``; float ->
    ``1,234.57`` (|v| >= 1e4), ``0.1235`` (1e-3 <= |v| < 1e4), ``1.235e-05`` (smaller), ``0``."""
    if v is None:
        return "n/a"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,d}"
    if isinstance(v, float):
        if not math.isfinite(v):
            return "n/a" if math.isnan(v) else ("inf" if v > 0 else "-inf")
        a = abs(v)
        if a == 0:
            return "0"
        if a >= 1e4:
            return f"{v:,.2f}"
        if a >= 1e-3:
            return f"{v:.4f}"
        return f"{v:.3e}"
    return str(v)


Path = tuple  # a key path into metrics.json, e.g. ("portfolio", "sharpe") or ("test", "cm", 0, 1)


def lookup(metrics: dict, path: Path) -> Any:
    """Value at ``path`` (a tuple of dict keys / list indices); KeyError if absent."""
    cur: Any = metrics
    for part in path:
        if isinstance(cur, list) and isinstance(part, int) and -len(cur) <= part < len(cur):
            cur = cur[part]
        elif isinstance(cur, dict) and part in cur:
            cur = cur[part]
        else:
            raise KeyError(path)
    return cur


def has(metrics: dict, path: Path) -> bool:
    try:
        lookup(metrics, path)
    except KeyError:
        return False
    return True


def is_scalar(v: Any) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))
