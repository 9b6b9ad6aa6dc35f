"""Credit decisions from a credit artifact alone: no checkpoint, no model code, no training code.

A credit ``.qjx`` carries the encoder (vocabularies, scalers, missing-value policy), the
calibration (temperature, logit shift), the decision settings (``low``/``high`` band
thresholds, reason codes per row, integrated-gradients steps), the explained features, and
two exported functions: ``predict`` (the logit) and ``attributions`` (integrated gradients
of the reason codes). :class:`CreditArtifactScorer` runs them through compiled predictors
and applies the credit package's decision functions
(:func:`quantjax.credit.calibration.apply_temperature`, :func:`quantjax.credit.points.points`,
:func:`quantjax.credit.decisions.decide`, :func:`quantjax.credit.reasons.adverse_reasons`,
:func:`~quantjax.credit.explain.modality_importance`) exactly as
:func:`quantjax.credit.scoring.score_frame` does; ``score credit --artifact`` also writes the
stability report (:func:`quantjax.credit.stability.stability_report`) when the artifact carries
the run's stability reference.

``extra["extensions"]`` holds what a run may lack: ``reasons`` (the schema's adverse-action
statements; none: every statement is generated) and ``stability_reference`` (the run's
``reference.json``; none: no stability report).

Rows are scored independently: with a batch-invariant predictor (the service's setting) a
row's answer is the same bits whatever rows it is scored with.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from quantjax.credit.calibration import apply_temperature
from quantjax.credit.decisions import decide
from quantjax.credit.explain import MODALITIES, FeatureSpace, modality_importance
from quantjax.credit.points import points
from quantjax.credit.reasons import adverse_reasons
from quantjax.credit.score_files import stability_record, write_scored
from quantjax.credit.stability import check_reference
from quantjax.data.credit import CreditEncoder, check_credit_frame, encode, read_credit_table
from quantjax.errors import UserError
from quantjax.inference.artifact import load_artifact
from quantjax.inference.predictor import DEFAULT_BUCKETS, buckets_for_rows

EXPLAIN_MODES = ("flagged", "all", "none")


class CreditScores(NamedTuple):
    """Scores of N rows (float64 [N] ``pd``, ``logit``, ``points``). ``reason_text`` [N, k]
    object (adverse-action statement, '' = none), ``reason_attribution`` [N, k] float64 (its
    summed attribution, NaN = none), ``reason_detail`` [N, k] object (the inputs behind it):
    only for REVIEW/DECLINE rows (:func:`quantjax.credit.reasons.adverse_reasons`);
    ``importance`` [N, 4] (:data:`MODALITIES`, NaN where not explained); ``unseen`` /
    ``missing``: per row, the categorical columns whose value was not seen in training
    (encoded as unseen) and the columns whose missing value the encoder imputed."""

    pd: np.ndarray
    logit: np.ndarray
    points: np.ndarray
    risk_category: np.ndarray
    decision: np.ndarray
    confidence: np.ndarray
    reason_text: np.ndarray
    reason_attribution: np.ndarray
    reason_detail: np.ndarray
    importance: np.ndarray
    unseen: list
    missing: list


def feature_space_of(extra: dict) -> FeatureSpace:
    """The explained features stored in a credit artifact."""
    d = extra["feature_space"]
    return FeatureSpace(tuple(d["names"]), tuple(d["columns"]),
                        np.asarray(d["modality"], np.int64), tuple(d["kind"]))


def canonical_value(value: Any, role: str) -> Any:
    """A JSON value as the credit loader reads it: numeric/series -> float or None;
    categorical/text -> str or None (``True`` -> ``"true"``, ``3`` / ``3.0`` -> ``"3"``)."""
    if value is None:
        return None
    if role == "numeric":
        return float(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class CreditArtifactScorer:
    """Scores applications with a loaded credit :class:`~quantjax.inference.artifact.Artifact`.

    ``buckets``/``warmup``/``options`` build the compiled predictors of the logit and of the
    attributions (``explain=False``: no attributions predictor)."""

    def __init__(self, artifact, buckets=DEFAULT_BUCKETS, warmup: int = 3,
                 explain: bool = True, **options):
        if artifact.task != "credit":
            raise UserError(f"{artifact.path}: a credit artifact is needed, got task "
                            f"{artifact.task!r}")
        extra = artifact.extra
        for key in ("encoder", "temperature", "logit_shift", "decision", "feature_space"):
            if key not in extra:
                raise UserError(f"{artifact.path}: credit artifact without {key!r}; re-export "
                                "the run with this quantjax")
        self.artifact = artifact
        self.encoder = CreditEncoder.from_dict(extra["encoder"])
        self.schema = self.encoder.schema
        self.features = feature_space_of(extra)
        self.temperature = float(extra["temperature"])
        self.logit_shift = float(extra["logit_shift"])
        d = extra["decision"]
        self.low, self.high = float(d.get("low", 0.1)), float(d.get("high", 0.3))
        self.k = int(d.get("reason_codes", 4))
        self.points_scaling = {key: float(v) for key, v in dict(d.get("points") or {}).items()
                               if key in ("pdo", "base_score", "base_odds")}
        self.extensions = dict(extra.get("extensions") or {})
        self.reasons = dict(self.extensions.get("reasons") or {})
        ref = self.extensions.get("stability_reference")
        self.reference = (None if ref is None else
                          check_reference(ref, f"{artifact.path}: stability_reference"))
        self.logits = artifact.predictor(buckets, warmup, **options)
        self.attributions = (artifact.predictor(buckets, warmup, function="attributions",
                                                **options) if explain and self.k else None)
        self._roles = {**dict.fromkeys(self.schema.numeric, "numeric"),
                       **dict.fromkeys(self.schema.time_series, "numeric"),
                       **dict.fromkeys(self.schema.categorical, "categorical")}
        if self.schema.text is not None:
            self._roles[self.schema.text] = "text"
        self._known = {c: set(v) for c, v in zip(self.encoder.categorical_columns,
                                                 self.encoder.categories, strict=True)}

    # ------------------------------------------------------------------ inputs
    @property
    def columns(self) -> tuple[str, ...]:
        """Input columns of one application, in schema order."""
        return tuple(self._roles)

    def role(self, column: str) -> str:
        """``numeric`` (numeric and series), ``categorical`` or ``text``."""
        return self._roles[column]

    def records_frame(self, records: list[dict]) -> pd.DataFrame:
        """Applications (dicts with every schema column; JSON values) -> the frame the credit
        loader reads, values canonical (:func:`canonical_value`) so a row encodes the same
        whatever rows it is batched with."""
        cols = {}
        for c, role in self._roles.items():
            vals = [canonical_value(r[c], role) for r in records]
            cols[c] = (np.array([np.nan if v is None else v for v in vals], np.float64)
                       if role == "numeric" else np.array(vals, dtype=object))
        return pd.DataFrame(cols)

    # ------------------------------------------------------------------ scoring
    def score_records(self, records: list[dict], explain: str = "flagged") -> CreditScores:
        """Score applications given as dicts of JSON values (:meth:`records_frame`)."""
        return self.score_frame(self.records_frame(records), explain, checked=True)

    def score_frame(self, df: pd.DataFrame, explain: str = "flagged",
                    checked: bool = False) -> CreditScores:
        """Score every row of ``df`` (validated against the encoder's schema; ``checked``:
        already in the loader's normal form, as :meth:`records_frame` builds it). ``explain``:
        ``flagged`` (attributions, reason codes and importance of REVIEW/DECLINE rows),
        ``all`` (importance of every row too, as ``score credit``) or ``none``."""
        if explain not in EXPLAIN_MODES:
            raise ValueError(f"explain: one of {EXPLAIN_MODES}, got {explain!r}")
        if not checked:
            df = check_credit_frame(df, self.schema, require_target=False)
        batch = encode(self.encoder, df)
        inputs = {"numeric": batch.numeric, "categorical": batch.categorical,
                  "text": batch.text, "time_series": batch.time_series}
        z = np.asarray(self.logits.predict(inputs)["logit"], np.float64)
        pd_ = apply_temperature(z - self.logit_shift, self.temperature)
        dec = decide(pd_, self.low, self.high)
        n, k = len(df), self.k
        text = np.full((n, k), "", dtype=object)
        attr = np.full((n, k), np.nan)
        detail = np.full((n, k), "", dtype=object)
        imp = np.full((n, len(MODALITIES)), np.nan)
        flagged = dec["decision"] != "APPROVE"
        rows = (np.flatnonzero(flagged) if explain == "flagged" else
                np.arange(n) if explain == "all" else np.zeros(0, np.int64))
        if self.attributions is not None and rows.size:
            sub = {name: a[rows] for name, a in inputs.items()}
            values = np.asarray(self.attributions.predict(sub)["attributions"], np.float64)
            imp[rows] = modality_importance(values, self.features.modality)
            # the series level of each row (sign: above/below the training mean), as scoring
            level = (sub["time_series"][:, :, 0].mean(axis=1)
                     if sub["time_series"].shape[1] else None)
            why = adverse_reasons(values, self.features, df.iloc[rows].reset_index(drop=True),
                                  flagged[rows], self.encoder, self.reasons, k, level)
            text[rows], attr[rows], detail[rows] = why.statements, why.attributions, why.details
        unseen, missing = self._policy_notes(df)
        return CreditScores(pd_, z, points(pd_, **self.points_scaling), dec["risk_category"],
                            dec["decision"], dec["confidence"], text, attr, detail, imp,
                            unseen, missing)

    def _policy_notes(self, df: pd.DataFrame) -> tuple[list, list]:
        n = len(df)
        unseen: list[list[str]] = [[] for _ in range(n)]
        missing: list[list[str]] = [[] for _ in range(n)]
        for c, role in self._roles.items():
            vals = df[c].to_numpy(dtype=object)
            for i, v in enumerate(vals):
                if v is None or (isinstance(v, float) and np.isnan(v)):
                    missing[i].append(c)
                elif role == "categorical" and v not in self._known[c]:
                    unseen[i].append(c)
        return unseen, missing

    # ------------------------------------------------------------------ outputs
    def to_json(self, scores: CreditScores, i: int) -> dict:
        """One row's answer (the service's response item)."""
        reasons = [{"statement": str(scores.reason_text[i, r]),
                    "attribution": float(scores.reason_attribution[i, r]),
                    "detail": str(scores.reason_detail[i, r])}
                   for r in range(self.k) if scores.reason_text[i, r]]
        imp = scores.importance[i]
        return {"pd": float(scores.pd[i]), "points": float(scores.points[i]),
                "risk_category": str(scores.risk_category[i]),
                "decision": str(scores.decision[i]), "confidence": float(scores.confidence[i]),
                "reasons": reasons,
                "importance": (None if np.isnan(imp).any() else
                               {m: float(v) for m, v in zip(MODALITIES, imp, strict=True)}),
                "unseen_categories": scores.unseen[i], "imputed_missing": scores.missing[i]}

    def output_columns(self, explain: bool = True) -> list[str]:
        """The columns :meth:`to_frame` adds after ``row`` and the pass-through columns (those
        of :func:`quantjax.credit.scoring.output_columns`)."""
        cols = ["risk_score", "points", "risk_category", "decision", "confidence"]
        if explain:
            for r in range(1, self.k + 1):
                cols += [f"reason_{r}", f"reason_{r}_attribution", f"reason_{r}_detail"]
            cols += [f"importance_{m}" for m in MODALITIES]
        return cols

    def to_frame(self, df: pd.DataFrame, scores: CreditScores,
                 explain: bool = True) -> pd.DataFrame:
        """The columns of ``quantjax score credit``: ``row``, the input columns the schema does
        not use, then :meth:`output_columns`."""
        used = set(self.schema.columns) | {self.schema.target}
        out_cols = {"row", *self.output_columns(explain)}
        keep = [c for c in df.columns if c not in used]
        clash = [str(c) for c in keep if c in out_cols]
        if clash:
            raise UserError(f"input column(s) {', '.join(map(repr, clash))} clash with the "
                            "scoring output columns of the same name; rename or drop them")
        out = pd.DataFrame({"row": np.arange(len(df))})
        for c in keep:
            out[c] = df[c].to_numpy()
        out["risk_score"] = scores.pd
        out["points"] = scores.points
        out["risk_category"] = scores.risk_category
        out["decision"] = scores.decision
        out["confidence"] = scores.confidence
        if explain:
            for r in range(self.k):
                out[f"reason_{r + 1}"] = scores.reason_text[:, r]
                out[f"reason_{r + 1}_attribution"] = scores.reason_attribution[:, r]
                out[f"reason_{r + 1}_detail"] = scores.reason_detail[:, r]
            for m, name in enumerate(MODALITIES):
                out[f"importance_{name}"] = scores.importance[:, m]
        return out

    def describe(self) -> dict:
        """Input schema and decision settings (``/v1/models``)."""
        return {"columns": {c: self.role(c) for c in self.columns},
                "missing_policy": "numeric and series: training median (numeric columns with "
                                  "missing training values also get an indicator); "
                                  "categorical: the 'missing' index; text: empty",
                "unseen_policy": "categorical values not seen in training: the 'unseen' index",
                "bands": {"low": self.low, "high": self.high}, "reason_codes": self.k,
                "points": self.points_scaling, "reason_statements": len(self.reasons),
                "stability_reference": self.reference is not None,
                "temperature": self.temperature, "logit_shift": self.logit_shift,
                "extensions": sorted(self.extensions),
                "predictor": self.logits.describe(),
                "attributions": (self.attributions.describe() if self.attributions is not None
                                 else None)}


def score_file(artifact_path, data, out, *, explain: bool = True, buckets=DEFAULT_BUCKETS,
               stability_out=None) -> tuple[pd.DataFrame, dict | None]:
    """``quantjax score credit --artifact``: read applications (CSV/Parquet), score them with
    the artifact alone, write ``out`` (.csv or .parquet) and, when the artifact carries the
    run's stability reference, ``stability.json`` beside it (or at ``stability_out``), as
    :func:`quantjax.credit.scoring.score_file`. Returns ``(scores, stability or None)``."""
    artifact = load_artifact(artifact_path)
    encoder = artifact.extra.get("encoder") if artifact.task == "credit" else None
    df = (None if encoder is None else  # else the scorer below refuses the artifact
          read_credit_table(data, CreditEncoder.from_dict(encoder).schema, require_target=False))
    # compile only the buckets this file's rows use
    scorer = CreditArtifactScorer(artifact, buckets_for_rows(buckets, len(df)) if df is not None
                                  and len(df) else buckets, warmup=1, explain=explain)
    res = scorer.to_frame(df, scorer.score_frame(df, "all" if explain else "none"), explain)
    stab = stability_record(scorer.reference, df, res, out, data, artifact_path)
    write_scored(res, out, stab, stability_out)
    return res, stab
