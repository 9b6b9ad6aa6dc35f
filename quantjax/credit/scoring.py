"""Scoring applications with a trained credit run: calibrated PD, score points, risk band,
decision, confidence, adverse-action reasons (integrated gradients) and modality importance per
row, and the population stability of the scored rows against the training population.

A run folder (``quantjax train credit --workdir RUN``) holds ``checkpoints/`` (the shared
trainer's orbax checkpoints), ``calibration.json`` (encoder, temperature, logit shift,
decision settings with the points scaling, the schema's reason statements, model config, best
step) and ``reference.json`` (the stability bins of the training population,
:mod:`quantjax.credit.stability`). Rows are never dropped: unseen categories, missing values,
over-long and empty text follow the loader's rules (:mod:`quantjax.data.credit`); a column of
the wrong type is a DataError naming it.
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
)
from quantjax.credit.points import points_of
from quantjax.credit.reasons import adverse_reasons
from quantjax.credit.score_files import stability_record, write_scored
from quantjax.credit.stability import check_reference
from quantjax.data.credit import CreditEncoder, check_credit_frame, encode, read_credit_table
from quantjax.errors import UserError
from quantjax.models.credit import build_model
from quantjax.train.checkpoint import CheckpointStore

ARTIFACT = "calibration.json"
REFERENCE = "reference.json"


class CreditScorer(NamedTuple):
    """Everything needed to score: model, params, encoder, calibration and decision config."""

    model: Any
    params: Any
    encoder: Any
    temperature: float
    logit_shift: float
    decision: CreditDecisionConfig
    features: FeatureSpace
    reasons: dict  # schema ``reasons``: input -> adverse-action statement
    reference: dict | None  # reference.json (stability bins), None for older runs


def load_reference(run_dir: str | Path) -> dict | None:
    """The run's ``reference.json`` (stability bins of its training population), or None."""
    path = Path(run_dir) / REFERENCE
    if not path.is_file():
        return None
    try:
        ref = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON ({e.msg} at line {e.lineno})") from None
    return check_reference(ref, str(path))


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
                        feature_space(enc), dict(art.get("reasons") or {}),
                        load_reference(run_dir))


def output_columns(decision: CreditDecisionConfig, explain: bool = True) -> list[str]:
    """The columns :func:`score_frame` adds (in order, after ``row`` and the pass-through
    input columns)."""
    cols = ["risk_score", "points", "risk_category", "decision", "confidence"]
    if explain:
        for r in range(decision.reason_codes):
            cols += [f"reason_{r + 1}", f"reason_{r + 1}_attribution", f"reason_{r + 1}_detail"]
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
    (ids...), ``risk_score`` (calibrated PD), ``points`` (:mod:`quantjax.credit.points`),
    ``risk_category``, ``decision``, ``confidence``; with ``explain``, for r = 1..k
    (``decision.reason_codes``) ``reason_r`` (adverse-action statement, REVIEW/DECLINE rows
    only, :mod:`quantjax.credit.reasons`), ``reason_r_attribution`` (its summed attribution,
    logit units) and ``reason_r_detail`` (the inputs behind it), then
    ``importance_<modality>``. An input column named like an output column is a UserError
    (:func:`check_passthrough_columns`).
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
    out["points"] = points_of(dc, pd_)
    out["risk_category"] = dec["risk_category"]
    out["decision"] = dec["decision"]
    out["confidence"] = dec["confidence"]
    k = dc.reason_codes
    if explain:
        att = integrated_gradients(scorer.model, scorer.params, batch, dc.ig_steps,
                                   chunk=min(batch_size, 256))
        fs = scorer.features
        level = batch.time_series[:, :, 0].mean(axis=1) if batch.time_series.shape[1] else None
        why = adverse_reasons(att.values, fs, df, dec["decision"] != "APPROVE", enc,
                              scorer.reasons, k, level)
        for r in range(k):
            out[f"reason_{r + 1}"] = why.statements[:, r]
            out[f"reason_{r + 1}_attribution"] = why.attributions[:, r]
            out[f"reason_{r + 1}_detail"] = why.details[:, r]
        imp = modality_importance(att.values, fs.modality)
        for m, name in enumerate(MODALITIES):
            out[f"importance_{name}"] = imp[:, m]
    return out


def score_file(run_dir: str | Path, data: str | Path, out: str | Path, *,
               explain: bool = True, batch_size: int = 512,
               stability_out: str | Path | None = None) -> tuple[pd.DataFrame, dict | None]:
    """Read applications (CSV/Parquet), score them, write ``out`` (.csv or .parquet) and
    ``stability.json`` beside it (or at ``stability_out``): the PSI of the PDs and the CSI of
    each input against the run's training population (:func:`stability_report`). Returns
    ``(scores, stability)``; stability is None for a run without ``reference.json``."""

    scorer = load_scorer(run_dir)
    df = read_credit_table(data, scorer.encoder.schema, require_target=False)
    res = score_frame(scorer, df, explain=explain, batch_size=batch_size)
    stab = stability_record(scorer.reference, df, res, out, data, Path(run_dir))
    write_scored(res, out, stab, stability_out)
    return res, stab
