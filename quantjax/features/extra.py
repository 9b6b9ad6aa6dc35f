"""Extra columns as model inputs (``features.extra_columns``) with an explicit NaN policy.

``extra_features(extra, present, policy, symbols, timestamps) -> (values[S, T, E] float32,
valid[S, T, E] bool, nan_count)``. A missing bar is invalid, like for every built-in feature.
A NaN on an existing bar is handled by ``features.extra_nan``:

- ``error`` (default): a :class:`DataError` naming the symbol, timestamp and column;
- ``ffill``: the last value of that symbol (causal); invalid before the first value;
- ``zero``: 0.

Nothing else is filled, and the count of filled values is recorded. The values then go
through the same train-only scaler as the built-in features. The streaming path
(:mod:`quantjax.features.streaming`) applies the same rule one bar at a time
(:func:`stream_extra_step`).
"""

from __future__ import annotations

import numpy as np

from quantjax.data.extra_columns import ExtraColumns
from quantjax.data.market_io import iso
from quantjax.errors import DataError

NAN_POLICIES = ("error", "ffill", "zero")


def selected(cfg) -> bool:
    """True when a FeaturesConfig asks for extra columns."""
    return cfg.extra_columns == "all" or bool(cfg.extra_columns)


def extra_features(extra: ExtraColumns, present: np.ndarray, policy: str,
                   symbols=(), timestamps=None) -> tuple[np.ndarray, np.ndarray, int]:
    """``(values[S, T, E] float32, valid[S, T, E] bool, filled)`` of the extra columns under
    the NaN ``policy`` (module docstring); ``filled`` counts NaN values filled."""
    if policy not in NAN_POLICIES:
        raise DataError(f"features.extra_nan: {policy!r} is not one of {list(NAN_POLICIES)}")
    x = np.asarray(extra.values, np.float64)
    present = np.asarray(present, bool)[..., None]
    nan = np.isnan(x) & present
    if policy == "error" and nan.any():
        s, t, e = np.argwhere(nan)[0]
        sym = symbols[s] if len(symbols) > s else s
        ts = iso(int(timestamps[t])) if timestamps is not None else t
        raise DataError(f"symbol {sym!r}, timestamp {ts}, extra column '{extra.names[e]}': NaN "
                        "(set data.features.extra_nan to ffill or zero to fill it)")
    valid = present & ~np.isnan(x)
    if policy == "zero":
        x = np.where(nan, 0.0, x)
        valid = present.copy() & np.ones_like(valid)
    elif policy == "ffill":
        seen = valid.copy()
        idx = np.where(seen, np.arange(x.shape[1])[None, :, None], -1)
        np.maximum.accumulate(idx, axis=1, out=idx)
        filled = np.take_along_axis(np.where(seen, x, 0.0), np.maximum(idx, 0), axis=1)
        x = np.where(nan, filled, x)
        valid = present & (idx >= 0)
    values = np.where(valid, x, 0.0).astype(np.float32)
    return values, valid, int(nan.sum())
