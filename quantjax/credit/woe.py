"""Feature strength: weight of evidence (WoE) and information value (IV) of every input.

Conventions (docs/credit.md, "Feature strength"):

- ``WoE_i = ln(good share_i / bad share_i)``, with ``good share_i = goods_i / G`` and
  ``bad share_i = bads_i / B`` (``G``, ``B``: all goods and bads of the rows binned); a positive
  WoE means less risky than average. ``IV = sum_i (good share_i - bad share_i) * WoE_i``.
- **Zero cells**: a bin with no goods or no bads gets 0.5 added to BOTH its counts before its
  shares are taken (``G`` and ``B`` stay the unadjusted totals), so its WoE and IV term are
  finite (a numeric input that separates the classes perfectly keeps its two bins, and its
  large IV flags it for leakage).
- **Numeric inputs**: the observed values are cut at their training quantiles
  (``strength.bins`` bins, right-closed intervals ``(lower, upper]``, tied quantiles dropped),
  then adjacent bins are merged until the WoE is strictly monotone (pool-adjacent-violators on
  the default rate, then merging any pair the zero-cell correction leaves out of order; in the
  direction with the larger IV). Missing values form their own bin, outside the monotone chain.
- **Categorical inputs**: one bin per category, plus a ``missing`` bin.
- Time-series columns are numeric inputs (one table per month); the text column is not binned.

All functions are host numpy (float64), deterministic, and return JSON-able dicts.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

ZERO_CELL = 0.5  # added to both counts of a bin with no goods or no bads
MISSING = "missing"


def woe_iv(bads, goods, total_bads: float | None = None,
           total_goods: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(woe [K], iv terms [K])`` of bins with ``bads`` [K] and ``goods`` [K] counts.

    Totals default to the sums of the counts. Zero-cell convention: see the module doc.
    With no bads or no goods at all, WoE and IV are NaN."""
    b = np.asarray(bads, np.float64)
    g = np.asarray(goods, np.float64)
    tb = float(b.sum()) if total_bads is None else float(total_bads)
    tg = float(g.sum()) if total_goods is None else float(total_goods)
    if tb <= 0 or tg <= 0:
        nan = np.full(b.shape, np.nan)
        return nan, nan
    zero = (b == 0) | (g == 0)
    b = np.where(zero, b + ZERO_CELL, b)
    g = np.where(zero, g + ZERO_CELL, g)
    gs, bs = g / tg, b / tb
    woe = np.log(gs / bs)
    return woe, (gs - bs) * woe


def quantile_edges(x: np.ndarray, bins: int) -> np.ndarray:
    """Interior cut points [E] (sorted, unique) of observed values ``x`` [N] at the quantiles
    ``1/bins .. (bins-1)/bins`` (values of ``x``: method 'lower'); edges at or above the
    maximum are dropped, so every right-closed bin ``(e_i, e_i+1]`` holds a value."""
    x = np.asarray(x, np.float64)
    if x.size == 0:
        return np.zeros(0)
    q = np.quantile(x, np.arange(1, bins) / bins, method="lower")
    e = np.unique(q)
    return e[e < x.max()]


def bin_numeric(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin index [N] of values ``x`` [N] in the right-closed bins of ``edges`` [E]: 0..E, and
    E + 1 for a missing value (NaN)."""
    x = np.asarray(x, np.float64)
    idx = np.searchsorted(np.asarray(edges, np.float64), x, side="left")
    return np.where(np.isnan(x), len(edges) + 1, idx)


def _pav(rate: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Block id [K] of each bin after pool-adjacent-violators for a non-decreasing rate; blocks
    with equal pooled rates are merged too, and an empty bin (weight 0) joins its neighbour."""
    blocks: list[list[float]] = []  # [sum of rate*weight, weight, first bin, last bin]
    for i, (r, w) in enumerate(zip(rate, weight, strict=True)):
        blocks.append([r * w if w > 0 else 0.0, w, i, i])
        while len(blocks) > 1 and (blocks[-1][1] == 0 or blocks[-2][1] == 0
                                   or blocks[-2][0] / blocks[-2][1]
                                   >= blocks[-1][0] / blocks[-1][1] - 1e-15):
            s, w2, _, last = blocks.pop()
            blocks[-1][0] += s
            blocks[-1][1] += w2
            blocks[-1][3] = last
    out = np.empty(len(rate), np.int64)
    for k, (_, _, a, b) in enumerate(blocks):
        out[a:b + 1] = k
    return out


def _pool(bads, goods, block) -> tuple[np.ndarray, np.ndarray]:
    k = int(block.max()) + 1
    return (np.bincount(block, weights=bads, minlength=k),
            np.bincount(block, weights=goods, minlength=k))


def monotone_merge(bads, goods, total_bads: float | None = None,
                   total_goods: float | None = None) -> tuple[np.ndarray, str]:
    """Merge adjacent bins until the WoE (zero-cell convention included) is strictly monotone.

    ``bads``, ``goods`` [K] of ordered bins (totals default to their sums). Returns
    ``(block id [K], direction)``: bin i goes to merged bin ``block[i]``; direction
    ``increasing`` (the default rate rises with the value, the WoE falls) or ``decreasing``,
    whichever keeps the larger IV (ties: increasing). Pool-adjacent-violators on the default
    rate first, then the first adjacent pair whose WoE is not strictly monotone is merged until
    none is left (the zero-cell correction can break a tie)."""
    b = np.asarray(bads, np.float64)
    g = np.asarray(goods, np.float64)
    tb = float(b.sum()) if total_bads is None else float(total_bads)
    tg = float(g.sum()) if total_goods is None else float(total_goods)
    best = None
    for direction in ("increasing", "decreasing"):
        order = slice(None) if direction == "increasing" else slice(None, None, -1)
        n = b + g
        rate = np.divide(b, n, out=np.zeros_like(b), where=n > 0)
        blk = _pav(rate[order], n[order])[order]
        if direction == "decreasing":
            blk = blk.max() - blk
        blk = _strict_woe(b, g, blk, direction, tb, tg)
        iv = float(np.nansum(woe_iv(*_pool(b, g, blk), tb, tg)[1]))
        if best is None or iv > best[0] + 1e-12:
            best = (iv, blk, direction)
    return best[1], best[2]


def _strict_woe(b, g, blk, direction: str, tb: float, tg: float) -> np.ndarray:
    """Merge adjacent merged bins (an empty one first) until their WoE is strictly falling
    (``increasing`` default rate) or rising (``decreasing``)."""
    blk = blk.copy()
    while True:
        pb, pg = _pool(b, g, blk)
        if len(pb) == 1:
            return blk
        empty = np.flatnonzero(pb + pg == 0)
        if empty.size:
            lo = max(int(empty[0]) - 1, 0)
        else:
            woe = woe_iv(pb, pg, tb, tg)[0]
            step = -np.diff(woe) if direction == "increasing" else np.diff(woe)
            bad = np.flatnonzero(~(step > 1e-12))
            if bad.size == 0:
                return blk
            lo = int(bad[0])
        blk = np.where(blk > lo, blk - 1, blk)


def _row(label: str, lower, upper, bads: float, goods: float, woe: float, iv: float) -> dict:
    n = bads + goods
    return {"bin": label, "lower": lower, "upper": upper, "n": int(n), "bads": int(bads),
            "goods": int(goods), "bad_rate": bads / n if n else math.nan, "woe": float(woe),
            "iv": float(iv)}


def _fmt(v: float) -> str:
    return f"{v:.6g}"


def numeric_strength(x, y, bins: int = 10) -> dict[str, Any]:
    """WoE table of a numeric input: ``{"kind": "numeric", "direction", "iv", "bins": [...]}``.

    x [N] float (NaN = missing), y [N] in {0, 1}. Each bin: ``bin`` (label ``(lower, upper]``
    or ``missing``), ``lower`` / ``upper`` (None = unbounded), ``n``, ``bads``, ``goods``,
    ``bad_rate``, ``woe``, ``iv`` (its IV term)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y).astype(np.int64)
    obs = ~np.isnan(x)
    edges = quantile_edges(x[obs], bins)
    idx = bin_numeric(x[obs], edges)
    k = len(edges) + 1
    bads = np.bincount(idx, weights=y[obs], minlength=k).astype(np.float64)
    goods = np.bincount(idx, weights=1 - y[obs], minlength=k).astype(np.float64)
    tb, tg = float(y.sum()), float((1 - y).sum())
    blk, direction = (monotone_merge(bads, goods, tb, tg) if obs.any()
                      else (np.zeros(k, np.int64), "increasing"))
    pb, pg = _pool(bads, goods, blk)
    # merged bin j spans the original bins with block id j; its upper edge is the last one's
    uppers = [edges[np.flatnonzero(blk == j).max()] if np.flatnonzero(blk == j).max() < len(edges)
              else None for j in range(len(pb))]
    miss_b, miss_g = float(y[~obs].sum()), float((1 - y[~obs]).sum())
    woe, iv = woe_iv(np.r_[pb, miss_b], np.r_[pg, miss_g], tb, tg)
    rows = []
    lower = None
    for j in range(len(pb)):
        up = uppers[j]
        label = f"({'-inf' if lower is None else _fmt(lower)}, {'inf' if up is None else _fmt(up)}]"
        rows.append(_row(label, None if lower is None else float(lower),
                         None if up is None else float(up), pb[j], pg[j], woe[j], iv[j]))
        lower = up
    if miss_b + miss_g > 0:
        rows.append(_row(MISSING, None, None, miss_b, miss_g, woe[-1], iv[-1]))
    total = float(sum(r["iv"] for r in rows))
    return {"kind": "numeric", "direction": direction, "iv": total, "bins": rows}


def categorical_strength(values, y) -> dict[str, Any]:
    """WoE table of a categorical input (one bin per category, sorted, then ``missing``).

    values [N] (str, None = missing), y [N] in {0, 1}."""
    v = pd.Series(np.asarray(values, dtype=object))
    y = np.asarray(y).astype(np.int64)
    miss = v.isna().to_numpy()
    cats = sorted(set(v[~miss]))
    codes = pd.Categorical(v, categories=cats).codes.astype(np.int64)
    codes = np.where(miss, len(cats), codes)
    k = len(cats) + 1
    bads = np.bincount(codes, weights=y, minlength=k).astype(np.float64)
    goods = np.bincount(codes, weights=1 - y, minlength=k).astype(np.float64)
    keep = (bads + goods) > 0
    woe, iv = woe_iv(bads[keep], goods[keep], y.sum(), (1 - y).sum())
    labels = [*cats, MISSING]
    rows = [_row(lab, None, None, bads[i], goods[i], w, t)
            for lab, i, w, t in zip([labels[i] for i in np.flatnonzero(keep)],
                                    np.flatnonzero(keep), woe, iv, strict=True)]
    return {"kind": "categorical", "iv": float(sum(r["iv"] for r in rows)), "bins": rows}


def flag(iv: float, weak_iv: float = 0.02, leak_iv: float = 0.5) -> str:
    """``not predictive`` (IV < weak_iv), ``check for leakage`` (IV > leak_iv) or ``ok``."""
    if not math.isfinite(iv):
        return "ok"
    if iv < weak_iv:
        return "not predictive"
    if iv > leak_iv:
        return "check for leakage"
    return "ok"


def feature_strength(df: pd.DataFrame, y, schema, bins: int = 10, weak_iv: float = 0.02,
                     leak_iv: float = 0.5) -> dict[str, Any]:
    """metrics.json ``features``: ``iv`` (input -> IV, largest first), ``woe`` (input -> table),
    ``flags`` (input -> flag of :func:`flag`) and ``settings``.

    ``df``: rows validated by :func:`quantjax.data.credit.check_credit_frame`; ``y`` [N] 0/1.
    Inputs: the schema's numeric, categorical and time-series columns."""
    y = np.asarray(y).astype(np.int64)
    tables = {}
    for c in (*schema.numeric, *schema.time_series):
        tables[c] = numeric_strength(df[c].to_numpy(np.float64), y, bins)
    for c in schema.categorical:
        tables[c] = categorical_strength(df[c].to_numpy(dtype=object), y)
    order = sorted(tables, key=lambda c: -tables[c]["iv"] if math.isfinite(tables[c]["iv"])
                   else math.inf)
    return {
        "iv": {c: tables[c]["iv"] for c in order},
        "woe": {c: tables[c] for c in order},
        "flags": {c: flag(tables[c]["iv"], weak_iv, leak_iv) for c in order},
        "settings": {"bins": int(bins), "weak_iv": float(weak_iv), "leak_iv": float(leak_iv),
                     "zero_cell": ZERO_CELL, "rows": int(y.size)},
    }
