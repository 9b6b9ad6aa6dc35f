"""Population stability: PSI of the PD and CSI of each input against a reference population.

Everything works on plain arrays and on bins stored as JSON-able data (``reference.json`` of a
training run), so the scorer, ``quantjax credit stability`` and a service fed with scored rows
call the same functions.

- **Bins** (one JSON dict per input, :func:`numeric_bins` / :func:`categorical_bins`):
  numeric: ``{"kind": "numeric", "edges": [...]}``: right-closed bins at the reference's
  quantiles (``stability.bins``), then one bin for missing values; categorical:
  ``{"kind": "categorical", "categories": [...]}``: one bin per reference category, then
  ``missing``, then ``unseen`` (a category the reference never had). A reference entry also
  holds ``shares``: the reference population's share of each bin.
- **Index**: ``PSI = sum_i (c_i - r_i) ln(c_i / r_i)`` over the bins, ``r`` the reference and
  ``c`` the current shares. The same formula over an input's bins is its characteristic
  stability index (CSI). **Zero cells**: a share of 0 counts as ``floor`` (default 1e-4) in
  the formula, so an empty bin on either side gives a finite index (an unseen category that is
  5% of the current rows adds about 0.3).
- **Thresholds** (industry convention): below 0.1 ``stable``, 0.1 to 0.25 ``watch``, at or
  above 0.25 ``act``.

For a stream, keep the bin counts (:func:`count_rows`, which add up over batches:
:func:`add_counts`) and call :func:`report_from_counts` (or :func:`index_from_counts` for one
index) whenever a report is wanted: ``quantjax serve``'s ``GET /v1/credit/stability`` does.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantjax.credit.woe import bin_numeric, quantile_edges
from quantjax.errors import UserError

FORMAT = "quantjax.credit_reference/1"
MISSING, UNSEEN = "missing", "unseen"
STATUSES = ("stable", "watch", "act")


def numeric_bins(x, bins: int = 10) -> dict[str, Any]:
    """Bins of a numeric input from reference values ``x`` [N] (NaN = missing)."""
    x = np.asarray(x, np.float64)
    return {"kind": "numeric", "edges": quantile_edges(x[~np.isnan(x)], bins).tolist()}


def categorical_bins(values) -> dict[str, Any]:
    """Bins of a categorical input from reference values [N] (str, None = missing)."""
    v = pd.Series(np.asarray(values, dtype=object))
    return {"kind": "categorical", "categories": sorted(set(v[v.notna()]))}


def n_bins(spec: dict) -> int:
    """Number of bins of a bins dict (missing and unseen included)."""
    if spec["kind"] == "numeric":
        return len(spec["edges"]) + 2
    return len(spec["categories"]) + 2


def bin_labels(spec: dict) -> list[str]:
    """A label per bin: ``(lower, upper]`` intervals then ``missing``; categories, ``missing``,
    ``unseen``."""
    if spec["kind"] == "numeric":
        e = ["-inf", *(f"{v:.6g}" for v in spec["edges"]), "inf"]
        return [f"({a}, {b}]" for a, b in zip(e[:-1], e[1:], strict=True)] + [MISSING]
    return [*spec["categories"], MISSING, UNSEEN]


def assign(spec: dict, values) -> np.ndarray:
    """Bin index [N] (int64) of ``values`` [N] in the bins of ``spec``."""
    if spec["kind"] == "numeric":
        idx = bin_numeric(np.asarray(values, np.float64), np.asarray(spec["edges"], np.float64))
        return idx.astype(np.int64)
    cats = spec["categories"]
    # factorize the values (missing -> -1), then map the few distinct values to bins
    codes, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    lookup = {c: i for i, c in enumerate(cats)}
    unseen, missing = len(cats) + 1, len(cats)
    table = np.array([lookup.get(u, unseen) for u in uniques] + [missing], np.int64)
    return table[codes]  # code -1 (missing) takes the table's last entry


def bin_counts(spec: dict, values) -> np.ndarray:
    """Rows per bin [K] (int64) of ``values`` [N]; counts of several batches add up."""
    return np.bincount(assign(spec, values), minlength=n_bins(spec)).astype(np.int64)


def shares(counts) -> np.ndarray:
    """Counts [K] -> shares [K] (zeros if there are no rows)."""
    c = np.asarray(counts, np.float64)
    t = c.sum()
    return c / t if t > 0 else np.zeros_like(c)


def index(reference_shares, current_shares, floor: float = 1e-4) -> float:
    """``sum_i (c_i - r_i) ln(c_i / r_i)`` with shares below ``floor`` counted as ``floor``."""
    r = np.maximum(np.asarray(reference_shares, np.float64), floor)
    c = np.maximum(np.asarray(current_shares, np.float64), floor)
    if r.shape != c.shape:
        raise ValueError(f"reference has {r.size} bins, current {c.size}")
    return float(np.sum((c - r) * np.log(c / r)))


def index_from_counts(reference_shares, counts, floor: float = 1e-4) -> float:
    """:func:`index` of current bin ``counts`` (NaN when there are no rows)."""
    if np.asarray(counts).sum() <= 0:
        return math.nan
    return index(reference_shares, shares(counts), floor)


def status(value: float, watch: float = 0.1, act: float = 0.25) -> str:
    """``stable`` (< watch), ``watch`` (< act) or ``act``; NaN is ``stable``."""
    if not math.isfinite(value) or value < watch:
        return "stable"
    return "watch" if value < act else "act"


def input_columns(schema) -> list[str]:
    """The inputs tracked: numeric, categorical and time-series columns (not the text)."""
    return [*schema.numeric, *schema.categorical, *schema.time_series]


def reference_entry(spec: dict, values) -> dict[str, Any]:
    """``spec`` plus ``shares``: the reference population's share of each bin."""
    return {**spec, "shares": shares(bin_counts(spec, values)).tolist()}


def build_reference(df: pd.DataFrame, schema, pd_values, bins: int = 10, watch: float = 0.1,
                    act: float = 0.25, floor: float = 1e-4,
                    population: str = "training split") -> dict[str, Any]:
    """The JSON-able reference (``reference.json``) of a population: rows ``df`` (validated by
    :func:`quantjax.data.credit.check_credit_frame`) with their PDs ``pd_values`` [N]."""
    inputs = {}
    for c in input_columns(schema):
        if c in schema.categorical:
            spec = categorical_bins(df[c].to_numpy(dtype=object))
            inputs[c] = reference_entry(spec, df[c].to_numpy(dtype=object))
        else:
            x = df[c].to_numpy(np.float64)
            inputs[c] = reference_entry(numeric_bins(x, bins), x)
    p = np.asarray(pd_values, np.float64)
    return {"format": FORMAT, "population": population, "n": int(len(df)),
            "thresholds": {"watch": float(watch), "act": float(act)}, "floor": float(floor),
            "bins": int(bins), "pd": reference_entry(numeric_bins(p, bins), p), "inputs": inputs}


def check_reference(ref: Any, where: str = "reference") -> dict:
    """``ref`` if it is a reference dict of this format, else a UserError naming ``where``."""
    if not isinstance(ref, dict) or ref.get("format") != FORMAT:
        got = ref.get("format") if isinstance(ref, dict) else type(ref).__name__
        raise UserError(f"{where}: not a stability reference (expected format '{FORMAT}', "
                         f"got {got!r})")
    return ref


def count_rows(ref: dict, df: pd.DataFrame, pd_values=None) -> dict[str, np.ndarray]:
    """Bin counts (int64 [K]) of rows ``df`` per reference input it has, and under ``"pd"`` of
    their PDs ``pd_values`` [N] when given. Counts of several batches add up
    (:func:`add_counts`), so a stream keeps these instead of its rows."""
    check_reference(ref)
    out = {c: bin_counts(entry, df[c].to_numpy()) for c, entry in ref["inputs"].items()
           if c in df.columns}
    if pd_values is not None:
        out["pd"] = bin_counts(ref["pd"], np.asarray(pd_values, np.float64))
    return out


def add_counts(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The bin counts of two sets of rows together (keys of either)."""
    return {k: a.get(k, 0) + b.get(k, 0) for k in {**a, **b}}


def stability_report(ref: dict, df: pd.DataFrame, pd_values=None) -> dict[str, Any]:
    """``stability.json`` of current rows ``df`` (and their PDs ``pd_values`` [N], optional)
    against reference ``ref``: :func:`report_from_counts` of :func:`count_rows`."""
    return report_from_counts(ref, count_rows(ref, df, pd_values), len(df))


def report_from_counts(ref: dict, counts: dict[str, np.ndarray], n: int) -> dict[str, Any]:
    """The stability report of ``n`` rows whose bin counts are ``counts`` (:func:`count_rows`,
    summed over batches); indexes of an input without rows are NaN.

    Keys: ``psi`` (PD; null without PDs), ``psi_status``, ``csi`` (input -> CSI), ``status``
    (input -> stable/watch/act), ``ranked`` (inputs, largest CSI first), ``moved`` (the ranked
    inputs at watch or act), ``thresholds``, ``n``, ``reference_n``, ``reference_population``,
    ``floor`` and ``bins`` (per input and ``pd``: ``labels``, ``reference`` and ``current``
    shares)."""
    check_reference(ref)
    floor = float(ref["floor"])
    th = ref["thresholds"]
    detail, csi = {}, {}

    def one(entry, c):
        cur = shares(c)
        return (index(entry["shares"], cur, floor) if np.sum(c) > 0 else math.nan,
                {"labels": bin_labels(entry), "reference": entry["shares"],
                 "current": cur.tolist()})

    for c, entry in ref["inputs"].items():
        if c in counts:
            csi[c], detail[c] = one(entry, counts[c])
    psi = None
    if "pd" in counts:
        psi, detail["pd"] = one(ref["pd"], counts["pd"])
    ranked = sorted(csi, key=lambda c: -csi[c] if math.isfinite(csi[c]) else math.inf)
    st = {c: status(csi[c], th["watch"], th["act"]) for c in ranked}
    return {
        "psi": psi,
        "psi_status": None if psi is None else status(psi, th["watch"], th["act"]),
        "csi": {c: csi[c] for c in ranked},
        "status": st,
        "ranked": ranked,
        "moved": [c for c in ranked if st[c] != "stable"],
        "thresholds": {"watch": th["watch"], "act": th["act"]},
        "n": int(n),
        "reference_n": int(ref["n"]),
        "reference_population": ref.get("population"),
        "floor": floor,
        "bins": detail,
    }
