"""Scoring applications with a trained credit run: calibrated PD, risk band, decision,
confidence, integrated-gradients reason codes and modality importance per row.

A run folder (``quantjax train credit --workdir RUN``) holds ``checkpoints/`` (the shared
trainer's orbax checkpoints) and ``calibration.json`` (encoder, temperature, logit shift,
decision thresholds, model config, best step). Rows are never dropped: unseen categories,
missing values, over-long and empty text follow the loader's rules
(:mod:`quantjax.data.credit`); a column of the wrong type is a DataError naming it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import pandas as pd

from quantjax.config import from_dict
from quantjax.credit.bucketing import bucketed_logits
from quantjax.credit.calibration import apply_temperature
from quantjax.credit.config import CreditDecisionConfig, CreditModelConfig
from quantjax.credit.decisions import decide
from quantjax.credit.explain import (
    MODALITIES,
    FeatureSpace,
    feature_space,
    integrated_gradients,
    modality_importance,
    reason_codes,
)
from quantjax.data.credit import CreditEncoder, check_credit_frame, encode, read_credit_table
from quantjax.errors import UserError
from quantjax.models.credit import build_model
from quantjax.train.checkpoint import CheckpointStore

ARTIFACT = "calibration.json"


class CreditScorer(NamedTuple):
    """Everything needed to score: model, params, encoder, calibration and decision config."""

    model: Any
    params: Any
    encoder: Any
    temperature: float
    logit_shift: float
    decision: CreditDecisionConfig
    features: FeatureSpace


def load_scorer(run_dir: str | Path) -> CreditScorer:
    """Load the best checkpoint and the calibration of a ``quantjax train credit`` run."""

    run_dir = Path(run_dir)
    art_path = run_dir / ARTIFACT
    if not art_path.is_file():
        hint = (" (this cross-validation run was trained with --no-refit or did not finish: "
                "it has no scoring model)") if (run_dir / "cv").is_dir() else ""
        raise UserError(f"{run_dir}: no {ARTIFACT}; is this a finished "
                        f"'quantjax train credit' run folder?{hint}")
    art = json.loads(art_path.read_text())
    enc = CreditEncoder.from_dict(art["encoder"])
    model_cfg = from_dict(CreditModelConfig, art["model"])
    model = build_model(model_cfg, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    store = CheckpointStore(run_dir / "checkpoints", async_save=False, this_process_only=True)
    try:
        steps = store.steps()
        if not steps:
            raise UserError(f"{run_dir / 'checkpoints'}: no checkpoint found")
        step = art["best_step"] if art["best_step"] in steps else max(steps)
        params = store.restore_params(step)
    finally:
        store.close()
    params = jax.tree.map(jax.numpy.asarray, params)
    return CreditScorer(model, params, enc, float(art["temperature"]),
                        float(art["logit_shift"]), from_dict(CreditDecisionConfig,
                                                             art["decision"]),
                        feature_space(enc))


def _label(name: str) -> str:
    return name.replace("_", " ")


def _reason_text(fs: FeatureSpace, j: int, df: pd.DataFrame, row: int) -> str:
    kind, col = fs.kind[j], fs.columns[j]
    if kind == "missing":
        return f"{_label(col)} is missing"
    if kind in ("numeric", "categorical"):
        v = df[col].iloc[row]
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return f"{_label(col)} is missing"
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return f"{_label(col)} = {v}"
    if kind == "text":
        return f"{_label(col)} (text)"
    return _label(fs.names[j])


def output_columns(decision: CreditDecisionConfig, explain: bool = True) -> list[str]:
    """The columns :func:`score_frame` adds (in order, after ``row`` and the pass-through
    input columns)."""
    cols = ["risk_score", "risk_category", "decision", "confidence"]
    if explain:
        cols += [f"reason_{r + 1}" for r in range(decision.reason_codes)]
        cols += [f"importance_{name}" for name in MODALITIES]
    return cols


def check_passthrough_columns(columns, schema, decision: CreditDecisionConfig,
                              explain: bool = True) -> list[str]:
    """The input columns copied to the output (those the schema does not use), in order.

    An input column named like an output column (``row``, :func:`output_columns`) would be
    overwritten: a UserError naming every such column."""
    used = set(schema.columns) | {schema.target}
    keep = [c for c in columns if c not in used]
    taken = {"row", *output_columns(decision, explain)}
    clash = [str(c) for c in keep if c in taken]
    if clash:
        raise UserError(
            f"input column{'s' if len(clash) > 1 else ''} {', '.join(repr(c) for c in clash)} "
            f"clash{'' if len(clash) > 1 else 'es'} with the scoring output column"
            f"{'s' if len(clash) > 1 else ''} of the same name; rename or drop "
            f"{'them' if len(clash) > 1 else 'it'} in the input file")
    return keep


def score_frame(scorer: CreditScorer, df: pd.DataFrame, *, explain: bool = True,
                batch_size: int = 512) -> pd.DataFrame:
    """Score every row of ``df`` (validated against the encoder's schema; target optional).

    Output columns: ``row`` (0-based input row), the input columns not used by the schema
    (ids...), ``risk_score`` (calibrated PD), ``risk_category``, ``decision``, ``confidence``,
    ``reason_1..reason_k`` (REVIEW/DECLINE rows only), ``importance_<modality>``. An input
    column named like an output column is a UserError (:func:`check_passthrough_columns`).
    """

    enc, dc = scorer.encoder, scorer.decision
    schema = enc.schema
    passthrough = check_passthrough_columns(df.columns, schema, dc, explain)
    df = check_credit_frame(df, schema, require_target=False)
    batch = encode(enc, df)
    # rows sorted by text length and trimmed per chunk: same logits, fewer PAD tokens
    z = bucketed_logits(scorer.model, scorer.params, batch, chunk=batch_size)
    pd_ = apply_temperature(z - scorer.logit_shift, scorer.temperature)
    dec = decide(pd_, dc.low, dc.high)
    out = pd.DataFrame({"row": np.arange(len(df))})
    for c in passthrough:
        out[c] = df[c].to_numpy()
    out["risk_score"] = pd_
    out["risk_category"] = dec["risk_category"]
    out["decision"] = dec["decision"]
    out["confidence"] = dec["confidence"]
    k = dc.reason_codes
    if explain:
        att = integrated_gradients(scorer.model, scorer.params, batch, dc.ig_steps,
                                   chunk=min(batch_size, 256))
        codes = reason_codes(att.values, k)
        flagged = dec["decision"] != "APPROVE"
        fs = scorer.features
        for r in range(k):
            col = np.full(len(df), "", dtype=object)
            for i in np.flatnonzero(flagged & (codes[:, r] >= 0)):
                col[i] = _reason_text(fs, int(codes[i, r]), df, int(i))
            out[f"reason_{r + 1}"] = col
        imp = modality_importance(att.values, fs.modality)
        for m, name in enumerate(MODALITIES):
            out[f"importance_{name}"] = imp[:, m]
    return out


def score_file(run_dir: str | Path, data: str | Path, out: str | Path, *,
               explain: bool = True, batch_size: int = 512) -> pd.DataFrame:
    """Read applications (CSV/Parquet), score them, write ``out`` (.csv or .parquet)."""

    scorer = load_scorer(run_dir)
    df = read_credit_table(data, scorer.encoder.schema, require_target=False)
    res = score_frame(scorer, df, explain=explain, batch_size=batch_size)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        res.to_parquet(out, index=False)
    else:
        res.to_csv(out, index=False)
    return res
