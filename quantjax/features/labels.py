"""HFT labels from the label price p (mid ``(bid+ask)/2`` when quotes exist, else close).

Computed on the host in float64 (numpy), so the direction label is bit-for-bit the definition
used by :mod:`quantjax.data.synth_market` for its oracle accuracy:

- ``change_t = mean(p[t+1..t+k]) / p[t] - 1``; direction ``2`` (up) if ``change_t > alpha``,
  ``0`` (down) if ``change_t < -alpha``, else ``1`` (flat). Class order: 0=down, 1=flat, 2=up.
- ``future_return_t = p[t+k] / p[t] - 1``.
- ``future_vol_t = sqrt(mean_{j=1..k} r[t+j]^2)`` with one-bar returns ``r[t] = p[t]/p[t-1]-1``.

A label at t uses only bars (t, t+k] (and p[t]); it is valid iff every bar in [t, t+k] exists
(not past the end of the data, not over a missing bar). Invalid labels are 0.

Persistence-baseline inputs use the same definitions on the past: ``past_return_t =
p[t]/p[t-k] - 1`` and ``past_vol_t = sqrt(mean_{j=0..k-1} r[t-j]^2)``, valid iff every bar in
[t-k, t] exists.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

DOWN, FLAT, UP = 0, 1, 2


class Labels(NamedTuple):
    direction: np.ndarray  # [S, T] int32 in {0, 1, 2}; 0 where invalid
    future_return: np.ndarray  # [S, T] float32
    future_vol: np.ndarray  # [S, T] float32
    label_valid: np.ndarray  # [S, T] bool
    past_return: np.ndarray  # [S, T] float32, persistence baseline of future_return
    past_vol: np.ndarray  # [S, T] float32, persistence baseline of future_vol
    past_valid: np.ndarray  # [S, T] bool


def _all_present(present: np.ndarray, start: int, k: int) -> np.ndarray:
    """``ok[..., t]``: every bar in [t+start, t+start+k] exists and lies inside the data."""
    S, T = present.shape
    c = np.concatenate([np.zeros((S, 1), np.int64), np.cumsum(present, axis=1)], axis=1)
    t = np.arange(T)
    lo, hi = t + start, t + start + k
    inside = (lo >= 0) & (hi < T)
    lo_c, hi_c = np.clip(lo, 0, T - 1), np.clip(hi, 0, T - 1)
    count = c[:, hi_c + 1] - c[:, lo_c]
    return inside & (count == k + 1)


def make_labels(price: np.ndarray, present: np.ndarray, horizon: int, threshold: float) -> Labels:
    """Labels from the label price ``[S, T]`` float64 (NaN where missing) and ``present``."""
    k = int(horizon)
    p = np.asarray(price, np.float64)
    S, T = p.shape
    present = np.asarray(present, bool) & np.isfinite(p)
    safe = np.where(present, p, 1.0)
    fut_ok = _all_present(present, 0, k)
    past_ok = _all_present(present, -k, k)

    def move(a, n, fill):  # out[t] = a[t + n] (n may be negative), fill outside
        out = np.full_like(a, fill)
        if n >= 0 and n < T:
            out[:, : T - n] = a[:, n:]
        elif n < 0 and -n < T:
            out[:, -n:] = a[:, : T + n]
        return out

    fut = np.zeros_like(safe)
    for j in range(1, k + 1):
        fut += move(safe, j, 1.0)
    change = fut / k / safe - 1.0
    direction = np.where(change > threshold, UP, np.where(change < -threshold, DOWN, FLAT))
    r2 = (safe / move(safe, -1, 1.0) - 1.0) ** 2  # squared one-bar return r[t] = p[t]/p[t-1]-1
    fvar = sum(move(r2, j, 0.0) for j in range(1, k + 1))
    pvar = sum(move(r2, -j, 0.0) for j in range(k))
    ahead_k, behind_k = move(safe, k, 1.0), move(safe, -k, 1.0)
    f32 = np.float32
    return Labels(
        direction=np.where(fut_ok, direction, 0).astype(np.int32),
        future_return=np.where(fut_ok, ahead_k / safe - 1.0, 0.0).astype(f32),
        future_vol=np.where(fut_ok, np.sqrt(fvar / k), 0.0).astype(f32),
        label_valid=fut_ok,
        past_return=np.where(past_ok, safe / behind_k - 1.0, 0.0).astype(f32),
        past_vol=np.where(past_ok, np.sqrt(pvar / k), 0.0).astype(f32),
        past_valid=past_ok,
    )
