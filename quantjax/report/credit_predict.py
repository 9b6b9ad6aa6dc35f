"""Recompute the scored test rows of a credit run from its checkpoint.

Used by the credit report when the run folder has no scored test file. It rebuilds the
run's dataset (``metrics.json`` ``data`` info, else ``config.yaml`` ``data.path``/``schema``,
else the synthetic generator of ``data.synthetic``), takes the test split of
:func:`quantjax.credit.pipeline.split_indices` and scores it with
:func:`quantjax.credit.scoring.score_frame`. The rows are only used if their AUC reproduces
``metrics.json`` ``test.auc`` (so the figures never disagree with the tables).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from quantjax.config import load
from quantjax.credit import pipeline as credit_pipeline
from quantjax.credit.config import CreditConfig
from quantjax.credit.metrics import auc
from quantjax.credit.scoring import load_scorer, score_frame


def from_checkpoint(run_dir: Path, metrics: dict):
    """``(DataFrame with target, risk_score, pd_uncalibrated, decision..., "")`` or
    ``(None, reason)``."""
    if not (run_dir / "calibration.json").is_file() or not (run_dir / "checkpoints").is_dir():
        return None, "and no calibration.json + checkpoints/ to recompute them from"
    if not (run_dir / "config.yaml").is_file():
        return None, "and no config.yaml to rebuild the data from"
    if isinstance(metrics.get("cv"), dict):
        return None, "cross-validation runs have no single test split to recompute"
    try:
        df = _compute(run_dir)
    except Exception as e:  # noqa: BLE001 - the report degrades to a note, never fails here
        return None, f"and recomputing them from the checkpoint failed: {e.__class__.__name__}"

    want = (metrics.get("test") or {}).get("auc")
    got = auc(df["target"].to_numpy(), df["risk_score"].to_numpy(np.float64))
    if not isinstance(want, (int, float)) or not abs(got - want) <= 1e-6:
        return None, ("and scores recomputed from the checkpoint do not reproduce "
                      "metrics.json test.auc, so they are not shown")
    return df, ""


def _data_source(run_dir: Path, metrics: dict, cfg) -> tuple[str | None, str | None, bool]:
    info = metrics.get("data") if isinstance(metrics.get("data"), dict) else {}
    if info.get("synthetic") is True:
        return None, None, True
    path = info.get("data") or cfg.data.path
    schema = info.get("schema") or cfg.data.schema
    if path and schema:
        return str(path), str(schema), False
    return None, None, True


def _compute(run_dir: Path):
    cfg = load(CreditConfig, run_dir / "config.yaml")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    path, schema, synthetic = _data_source(run_dir, metrics, cfg)
    ds = credit_pipeline.load_dataset(cfg, path, schema, synthetic)
    y = credit_pipeline.target_of(ds)
    _, _, te = credit_pipeline.split_indices(cfg, y)
    scorer = load_scorer(run_dir)
    out = score_frame(scorer, ds.df.iloc[te].reset_index(drop=True), explain=True)
    out["target"] = y[te]
    p = np.clip(out["risk_score"].to_numpy(np.float64), 1e-15, 1 - 1e-15)
    z = scorer.temperature * np.log(p / (1 - p)) + scorer.logit_shift
    out["pd_uncalibrated"] = 0.5 * (1.0 + np.tanh(0.5 * z))
    return out
