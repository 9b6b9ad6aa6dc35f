"""PD backtest by risk band: predicted PDs against the defaults observed later.

Per band (the scorer's ``risk_category``: LOW / MEDIUM / HIGH) and overall:

- ``n``, ``defaults``, ``observed_rate`` and ``predicted_rate`` (the mean PD);
- ``binomial_p``: one-sided binomial test of underestimation, ``P(D >= d)`` for
  D ~ Binomial(n, mean PD) (the PDs of a band treated as one PD, the usual supervisory
  simplification);
- ``jeffreys_p``: the Jeffreys test of the ECB's validation instructions, the CDF of
  Beta(d + 1/2, n - d + 1/2) at the mean PD (small when the PD is too low), with the Jeffreys
  interval of the default rate (``jeffreys_lower`` / ``jeffreys_upper``, two-sided ``level``);
- ``hosmer_lemeshow``: ``sum_g (O_g - E_g)^2 / (E_g (1 - E_g / n_g))`` over up to ``groups``
  equal-count groups of rows sorted by PD, chi-square p-value with ``groups - 2`` degrees of
  freedom (at least 1);
- ``brier``: mean of ``(PD - default)^2``;
- ``traffic_light``: ``green`` if ``binomial_p >= yellow`` (0.05), ``red`` if
  ``binomial_p < red`` (0.001), else ``yellow``.

Host numpy in float64; tails from :mod:`quantjax.credit.special`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from quantjax.credit.special import beta_ppf, betainc, binom_sf, chi2_sf
from quantjax.errors import DataError, UserError

BANDS = ("LOW", "MEDIUM", "HIGH")


def jeffreys(defaults: int, n: int, pd_: float, level: float = 0.95) -> dict[str, float]:
    """``{"p_value", "lower", "upper"}`` of the Jeffreys test for ``defaults`` of ``n`` rows at
    predicted PD ``pd_``: the posterior Beta(d + 1/2, n - d + 1/2) of the default rate."""
    a, b = defaults + 0.5, n - defaults + 0.5
    alpha = 1.0 - level
    return {"p_value": betainc(a, b, pd_), "lower": beta_ppf(alpha / 2, a, b),
            "upper": beta_ppf(1 - alpha / 2, a, b)}


def hosmer_lemeshow(y, p, groups: int = 10) -> dict[str, Any]:
    """``{"statistic", "df", "p_value", "groups"}``: rows sorted by PD (stable) and cut into
    ``min(groups, N)`` groups of equal count (``np.array_split``)."""
    y = np.asarray(y, np.float64)
    p = np.asarray(p, np.float64)
    g = max(1, min(int(groups), y.size))
    if y.size == 0:
        return {"statistic": math.nan, "df": 0, "p_value": math.nan, "groups": 0}
    order = np.argsort(p, kind="stable")
    stat = 0.0
    for part in np.array_split(order, g):
        n = part.size
        e = p[part].sum()
        o = y[part].sum()
        var = e * (1.0 - e / n)
        if var > 0:
            stat += (o - e) ** 2 / var
    df = max(g - 2, 1)
    return {"statistic": float(stat), "df": int(df), "p_value": chi2_sf(stat, df), "groups": g}


def traffic_light(binomial_p: float, yellow: float = 0.05, red: float = 0.001) -> str:
    """``green`` / ``yellow`` / ``red`` from the one-sided binomial p-value."""
    if binomial_p < red:
        return "red"
    return "yellow" if binomial_p < yellow else "green"


def calibration_tests(y, p, groups: int = 10, level: float = 0.95, yellow: float = 0.05,
                      red: float = 0.001) -> dict[str, Any]:
    """Every test of the module doc on outcomes ``y`` [N] (0/1) and PDs ``p`` [N]."""
    y = np.asarray(y).astype(np.int64)
    p = np.asarray(p, np.float64)
    n, d = int(y.size), int(y.sum())
    if n == 0:
        return {"n": 0, "defaults": 0}
    pd_ = float(p.mean())
    jf = jeffreys(d, n, pd_, level)
    binom = binom_sf(d, n, pd_)
    return {
        "n": n, "defaults": d, "observed_rate": d / n, "predicted_rate": pd_,
        "binomial_p": binom, "jeffreys_p": jf["p_value"], "jeffreys_lower": jf["lower"],
        "jeffreys_upper": jf["upper"], "hosmer_lemeshow": hosmer_lemeshow(y, p, groups),
        "brier": float(np.mean((p - y) ** 2)), "traffic_light": traffic_light(binom, yellow, red),
    }


def backtest(y, p, band, groups: int = 10, level: float = 0.95, yellow: float = 0.05,
             red: float = 0.001) -> dict[str, Any]:
    """``{"bands": {band: tests}, "overall": tests, "settings": {...}}``; ``band`` [N] holds
    the band names (LOW/MEDIUM/HIGH first, in that order, then any other name)."""
    band = np.asarray(band, dtype=object).astype(str)
    names = [b for b in BANDS if b in set(band)] + sorted(set(band) - set(BANDS))
    kw = {"groups": groups, "level": level, "yellow": yellow, "red": red}
    return {
        "bands": {b: calibration_tests(np.asarray(y)[band == b], np.asarray(p)[band == b], **kw)
                  for b in names},
        "overall": calibration_tests(y, p, **kw),
        "settings": kw,
    }


def shared_id(scores: pd.DataFrame, outcomes: pd.DataFrame) -> str:
    """The one column both frames hold (the join key when ``--id`` is not given)."""
    common = [c for c in outcomes.columns if c in scores.columns]
    if len(common) != 1:
        raise UserError(
            "--id: the scores and outcomes files share "
            + (f"{len(common)} columns ({', '.join(common[:6])})" if common else "no column")
            + "; name the id column with --id")
    return common[0]


def outcome_column(outcomes: pd.DataFrame, id_col: str, outcome: str | None) -> str:
    """``outcome`` if given, else the outcomes file's one column besides the id."""
    if id_col not in outcomes.columns:
        raise DataError(f"outcomes: no id column '{id_col}'")
    if outcome is not None:
        if outcome not in outcomes.columns:
            raise DataError(f"outcomes: no column '{outcome}' (columns: "
                            f"{', '.join(map(str, outcomes.columns[:8]))})")
        return outcome
    rest = [c for c in outcomes.columns if c != id_col]
    if len(rest) != 1:
        raise UserError(f"--outcome: the outcomes file has {len(rest)} columns besides "
                        f"'{id_col}'; name the outcome column with --outcome")
    return rest[0]


def _unique_ids(df: pd.DataFrame, id_col: str, what: str) -> None:
    if id_col not in df.columns:
        raise DataError(f"{what}: no id column '{id_col}'")
    ids = df[id_col]
    if ids.isna().any():
        raise DataError(f"{what}: missing id in column '{id_col}' at row "
                        f"{int(np.flatnonzero(ids.isna().to_numpy())[0])}")
    dup = ids.duplicated()
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        raise DataError(f"{what}: id {ids.iloc[i]!r} in column '{id_col}' appears twice "
                        f"(row {i})")


def outcome_values(col: pd.Series, positive: str) -> np.ndarray:
    """0/1 outcomes [N] (-1 = missing) from a column of labels compared as strings with
    ``positive``; a third distinct label is a DataError naming it."""
    s = col.astype(object)
    miss = s.isna().to_numpy()
    text = np.array([_label(v) for v in s.to_numpy()], dtype=object)
    labels = sorted(set(text[~miss]))
    if len(labels) > 2:
        raise DataError(f"outcome column '{col.name}' has {len(labels)} distinct values "
                        f"({', '.join(labels[:6])}); expected 2, positive '{positive}'")
    if labels and positive not in labels and len(labels) == 2:
        raise DataError(f"positive label '{positive}' is neither value of outcome column "
                        f"'{col.name}' ({', '.join(labels)}); pass --positive")
    out = (text == positive).astype(np.int64)
    out[miss] = -1
    return out


def _label(v) -> str:
    if isinstance(v, (bool, np.bool_)):
        return "1" if v else "0"
    if isinstance(v, (float, np.floating)) and float(v).is_integer():
        return str(int(v))
    return str(v)


def join(scores: pd.DataFrame, outcomes: pd.DataFrame, id_col: str, outcome: str,
         positive: str = "1", pd_col: str = "risk_score",
         band_col: str = "risk_category") -> tuple[pd.DataFrame, dict[str, int]]:
    """Scores joined to their outcomes by ``id_col``: a frame with ``id``, ``pd``, ``band``,
    ``default`` (0/1), and the counts ``{"scores", "outcomes", "matched",
    "scores_without_outcome", "outcomes_without_score", "missing_outcome"}``.

    Scores without an outcome (not yet observed) and outcomes without a score are counted, not
    used; a missing outcome value is counted and not used. Duplicate or missing ids, a missing
    column and a PD outside [0, 1] are DataErrors."""
    for c in (pd_col, band_col):
        if c not in scores.columns:
            raise DataError(f"scores: no column '{c}' (is this a 'quantjax score credit' "
                            "output?)")
    _unique_ids(scores, id_col, "scores")
    _unique_ids(outcomes, id_col, "outcomes")
    pdv = pd.to_numeric(scores[pd_col], errors="coerce").to_numpy(np.float64)
    bad = ~np.isfinite(pdv) | (pdv < 0) | (pdv > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(f"scores: column '{pd_col}' must hold PDs in [0, 1]: value "
                        f"{scores[pd_col].iloc[i]!r} at row {i}")
    left = pd.DataFrame({"id": scores[id_col].astype(str).to_numpy(), "pd": pdv,
                         "band": scores[band_col].astype(str).to_numpy()})
    right = pd.DataFrame({"id": outcomes[id_col].astype(str).to_numpy(),
                          "default": outcome_values(outcomes[outcome], str(positive))})
    merged = left.merge(right, on="id", how="inner", validate="one_to_one")
    missing = int((merged["default"] < 0).sum())
    merged = merged[merged["default"] >= 0].reset_index(drop=True)
    counts = {"scores": len(left), "outcomes": len(right), "matched": len(merged),
              "scores_without_outcome": int((~left["id"].isin(right["id"])).sum()),
              "outcomes_without_score": int((~right["id"].isin(left["id"])).sum()),
              "missing_outcome": missing}
    if len(merged) == 0:
        raise DataError(f"no score has an outcome: no id of column '{id_col}' is in both files")
    return merged, counts
