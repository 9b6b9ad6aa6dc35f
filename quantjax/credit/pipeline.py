"""Training driver: data loading, one train/val/test run, K-fold cross-validation.

One run (:func:`train_run`):

1. fit the encoder on the training split, encode the three splits;
2. train the transformer with the shared trainer (:func:`quantjax.train.loop.fit`:
   checkpoints, exact resume, NaN guard, progress bar, ``metrics.jsonl``), early stopping on
   validation AUC;
3. calibrate on the validation split (:func:`calibrate`): ``PD = sigmoid((logit - shift) / T)``;
   with a class-weighted loss the shift that undoes the weighting (analytic value
   ``log(w_pos / w_neg)`` for weighted BCE) is fitted jointly with T (``calibration.*``);
4. fit the JAX logistic-regression baseline on the same encoded inputs;
5. compute the test metrics; on synthetic data also the Bayes AUC (AUC of ``true_pd``) on the
   same test rows; write ``calibration.json`` (encoder, temperature, thresholds, points scaling,
   reason statements) and ``reference.json`` (the stability bins of the training split);
6. the credit-practice checks: the monotonicity of the schema's ``monotone`` inputs on the
   validation split, metrics by segment and across protected groups on the test split, and the
   score-points scaling (feature strength: :func:`feature_strength_of`, called by the CLI on the
   training split, or on all rows under CV).

K-fold CV (:func:`cv_indices`, :func:`summarize_cv`) runs one such run per fold under
``cv/fold_k/``; then :func:`refit_run` trains the folder's scoring model on all rows for the
CV-chosen number of epochs and calibrates it on a held-out share.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from quantjax import stats
from quantjax.config import from_dict, load, to_dict
from quantjax.config.credit_data import SynthCreditConfig
from quantjax.config.credit_schema import CreditSchema
from quantjax.credit import metrics as credit_metrics
from quantjax.credit.calibration import apply_temperature, fit_temperature, fit_temperature_shift
from quantjax.credit.config import CreditConfig, CreditDecisionConfig
from quantjax.credit.logreg import fit_logreg, predict_logreg
from quantjax.credit.monotone import grid_values, monotonicity_report
from quantjax.credit.points import points_summary
from quantjax.credit.segments import group_reports
from quantjax.credit.stability import build_reference
from quantjax.credit.task import Arrays, balanced_weights, make_task, predict_logits_fn, to_arrays
from quantjax.credit.woe import feature_strength
from quantjax.data.credit import (
    check_credit_frame,
    encode,
    fit_encoder,
    read_credit_table,
    stratified_kfold,
    stratified_split,
    target_array,
)
from quantjax.data.synth_credit import generate_credit
from quantjax.distributed import is_main_process
from quantjax.errors import UserError
from quantjax.jsonio import write_json
from quantjax.models.credit import build_model, check_model_inputs
from quantjax.platform import batch_compiler_options
from quantjax.train.checkpoint import checkpoint_meta
from quantjax.train.loop import fit
from quantjax.train.trainer import hparams_from_config, steps_per_epoch

ARTIFACT = "calibration.json"
REFERENCE = "reference.json"


class Dataset(NamedTuple):
    """A validated applications table, its schema and (synthetic only) the true PD column."""

    df: pd.DataFrame
    schema: CreditSchema
    true_pd: np.ndarray | None
    info: dict


def load_dataset(cfg: CreditConfig, data: str | None, schema: str | None,
                 synthetic: bool) -> Dataset:
    """From ``--synthetic`` (``data.synthetic`` generator settings) or a file + schema.

    The model config is checked against the schema first (:func:`check_model_inputs`), so a
    config that cannot fit the data is a ConfigError before any training."""

    if synthetic:

        df, meta = generate_credit(from_dict(SynthCreditConfig, dict(cfg.data.synthetic)))
        c = meta["columns"]
        sch = CreditSchema(numeric=tuple(c["numeric"]), categorical=tuple(c["categorical"]),
                           text=c["text"], time_series=tuple(c["time_series"]),
                           target=c["target"], positive=c["positive"])
        check_model_inputs(cfg.model, len(sch.categorical))
        df = check_credit_frame(df, sch)
        info = {"synthetic": True, "bayes_auc_population": meta["bayes_auc"],
                "bayes_auc_expected": meta["bayes_auc_expected"]}
        return Dataset(df, sch, df[c["true_pd"]].to_numpy(np.float64), info)
    path = data or cfg.data.path
    schema_path = schema or cfg.data.schema
    if path is None:
        raise UserError("no data: pass --data PATH --schema SCHEMA.yaml, or --synthetic")
    if schema_path is None:
        raise UserError("--schema: a credit schema YAML is required with --data")
    sch = load(CreditSchema, schema_path)
    check_model_inputs(cfg.model, len(sch.categorical))  # before reading a large file
    df = read_credit_table(path, sch)
    return Dataset(df, sch, None, {"synthetic": False, "data": str(path),
                                   "schema": str(schema_path)})


def encode_splits(cfg: CreditConfig, ds: Dataset, idx: tuple[np.ndarray, ...]):
    """``(encoder, [CreditBatch per index array])`` with the encoder fitted on ``idx[0]``."""

    enc = fit_encoder(ds.df.iloc[idx[0]], ds.schema, max_text_len=cfg.data.max_text_len,
                      vocab_size=cfg.data.vocab_size, min_freq=cfg.data.min_word_freq)
    return enc, [encode(enc, ds.df.iloc[i]) for i in idx]


def class_weights(cfg: CreditConfig, target: np.ndarray) -> tuple[float, float]:
    """Configured ``train.class_weights``, else balanced (``loss.balanced``), else (1, 1)."""
    if cfg.train.class_weights is not None:
        w = cfg.train.class_weights
        return float(w[0]), float(w[1])
    return balanced_weights(target) if cfg.loss.balanced else (1.0, 1.0)


def logit_shift(cfg: CreditConfig, weights: tuple[float, float]) -> float:
    """Offset removed from logits before calibration: log(w_pos / w_neg) for weighted BCE."""
    if cfg.loss.prior_correction and cfg.loss.kind == "weighted_bce":
        return float(math.log(weights[1] / weights[0]))
    return 0.0


def calibrate(cfg: CreditConfig, weights: tuple[float, float], y, logits) -> tuple[float, float]:
    """``(temperature, shift)`` of ``PD = sigmoid((logit - shift) / T)`` fitted on ``y``,
    ``logits`` [N] (the validation split).

    Unweighted loss (or ``calibration.fit_shift`` false): T only, around the analytic
    :func:`logit_shift`. Class-weighted loss: the weighting moves the network's intercept by
    ``log(w_pos / w_neg)`` only at the optimum of the weighted loss; an early-stopped,
    regularised network sits elsewhere, so the shift is fitted jointly with T (maximum a
    posteriori, priors centred on T = 1 and the analytic shift, ``calibration.prior_sd``).
    """
    shift0 = logit_shift(cfg, weights)
    if cfg.calibration.fit_shift and weights[0] != weights[1]:
        return fit_temperature_shift(y, logits, shift0, cfg.calibration.prior_sd)
    return fit_temperature(y, np.asarray(logits, np.float64) - shift0), shift0


def predict_logits(model, params, batch, batch_size: int) -> np.ndarray:
    """Eval-mode logits [N] (float64) of a CreditBatch."""

    f = jax.jit(predict_logits_fn(model, batch_size),
                compiler_options=batch_compiler_options(batch_size))  # CPU: see runtime
    return np.asarray(f(params, to_arrays(batch)), np.float64)


class Fitted(NamedTuple):
    """A trained, calibrated model of one run (see :func:`fit_calibrated`)."""

    model: Any
    params: Any
    encoder: Any
    batches: tuple  # CreditBatch per index array given (train, val[, test])
    weights: tuple[float, float]
    result: Any  # quantjax.train.loop.FitResult
    step: int  # checkpoint step of ``params``
    temperature: float
    shift: float  # fitted logit shift (see :func:`calibrate`)
    z_val: np.ndarray  # val logits [Nv]


def fit_calibrated(cfg: CreditConfig, ds: Dataset, idx: tuple[np.ndarray, ...],
                   workdir: str | Path, *, resume: bool = False, progress: bool = True,
                   log=print, fixed_epochs: int | None = None) -> Fitted:
    """Steps 1-3 of a run on ``idx = (train, val[, test])``; writes ``calibration.json``.

    ``fixed_epochs=None``: early stopping on validation AUC, the best checkpoint is kept.
    ``fixed_epochs=E``: exactly E epochs (the schedule decays over E epochs, no early stop),
    the LAST checkpoint is the model; validation only fits the calibration (CV refit).
    """

    workdir = Path(workdir)
    if fixed_epochs is not None:
        train_cfg = dataclasses.replace(cfg.train, epochs=int(fixed_epochs), max_steps=None,
                                        patience=int(fixed_epochs) + 1, start_from_epoch=0)
        cfg = dataclasses.replace(cfg, train=train_cfg)
    enc, batches = encode_splits(cfg, ds, idx)
    btr, bva = batches[0], batches[1]
    model = build_model(cfg.model, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    w = class_weights(cfg, btr.target)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 2)._replace(
        class_weights=jnp.asarray(w, jnp.float32))
    tr, va = to_arrays(btr), to_arrays(bva)
    task = make_task(model, cfg, len(btr.target), tr)
    meta = checkpoint_meta(cfg, "credit", {"encoder": enc.to_dict(), "class_weights": list(w)},
                           feature_names=list(enc.numeric_names) + list(enc.categorical_names))
    res = fit(task, cfg.train, hp, {"train": tr, "val": va}, workdir, meta=meta,
              resume=resume, progress=progress, log=log)
    if fixed_epochs is None:
        params, step = res.best_params, res.best_step
    else:
        params, step = res.state.params, res.steps
    z_va = predict_logits(model, params, bva, cfg.train.eval_batch_size)
    temp, shift = calibrate(cfg, w, bva.target, z_va)
    artifact = {"format": "quantjax.credit_model/1", "best_step": step,
                "temperature": temp, "logit_shift": shift,
                "class_weight_shift": logit_shift(cfg, w), "encoder": enc.to_dict(),
                "decision": to_dict(cfg.decision), "model": to_dict(cfg.model),
                "reasons": dict(ds.schema.reasons)}
    # the training population's stability bins, for scoring and the service
    p_tr = apply_temperature(predict_logits(model, params, btr, cfg.train.eval_batch_size)
                             - shift, temp)
    st = cfg.stability
    if is_main_process():  # a multi-process run: process 0 writes the run files
        (workdir / ARTIFACT).write_text(json.dumps(artifact, indent=1) + "\n")
        write_json(workdir / REFERENCE, build_reference(
            ds.df.iloc[idx[0]], ds.schema, p_tr, st.bins, st.watch, st.act, st.floor,
            population=f"training split ({len(idx[0])} rows)"))
    return Fitted(model, params, enc, tuple(batches), w, res, step, temp, shift, z_va)


def pd_function(cfg: CreditConfig, f: Fitted):
    """``predict_pd(CreditBatch) -> calibrated PD [N]`` of a fitted run."""
    def predict_pd(batch):
        z = predict_logits(f.model, f.params, batch, cfg.train.eval_batch_size)
        return apply_temperature(z - f.shift, f.temperature)
    return predict_pd


def monotonicity_of(cfg: CreditConfig, ds: Dataset, f: Fitted, train_rows, batch) -> dict:
    """metrics.json ``monotonicity`` on ``batch`` (the validation split): the schema's
    ``monotone`` inputs, grids from the training rows ``train_rows``; {} if none declared."""
    directions = dict(ds.schema.monotone)
    if not directions:
        return {}
    df_tr = ds.df.iloc[train_rows]
    mc = cfg.monotonicity
    grids = {c: grid_values(df_tr[c].to_numpy(np.float64), mc.grid) for c in directions}
    return monotonicity_report(pd_function(cfg, f), batch, f.encoder, grids, directions,
                               mc.tolerance, mc.max_share)


def feature_strength_of(cfg: CreditConfig, ds: Dataset, rows) -> dict:
    """metrics.json ``features`` (WoE/IV, :mod:`quantjax.credit.woe`) on ``rows``."""
    sc = cfg.strength
    y = target_of(ds)[rows]
    return feature_strength(ds.df.iloc[rows], y, ds.schema, sc.bins, sc.weak_iv, sc.leak_iv)


def groups_of(cfg: CreditConfig, ds: Dataset, rows, y, p) -> dict:
    """metrics.json ``segments`` / ``fairness`` of rows ``rows`` with outcomes y, PDs p."""
    dc = cfg.decision
    return group_reports(ds.df.iloc[rows], ds.schema, y, p, dc.low, dc.ece_bins,
                         cfg.fairness.min_air, cfg.fairness.min_rows)


def test_metrics(cfg: CreditConfig, ds: Dataset, idx, y, p) -> dict[str, Any]:
    """Test metrics of calibrated PDs ``p[N]`` against outcomes ``y[N]`` (the test rows
    ``idx[2]``): classification and calibration metrics, their row-bootstrap intervals
    (``<name>_ci``, ``bootstrap``) and, on synthetic data, the Bayes AUC on the same rows."""
    dc = cfg.decision
    test = credit_metrics.all_metrics(y, p, dc.threshold, dc.ece_bins)
    test.update(stats.binary_intervals(y, p, dc.threshold))
    test["bootstrap"] = stats.bootstrap_info("row bootstrap", stats.DEFAULT_RESAMPLES,
                                             stats.DEFAULT_SEED, unit="row")
    if ds.true_pd is not None:
        test["bayes_auc"] = credit_metrics.auc(y, ds.true_pd[idx[2]])
        test["bayes_auc_population"] = ds.info.get("bayes_auc_population")
        test["auc_over_bayes"] = test["auc"] / test["bayes_auc"]
    return test


def train_run(cfg: CreditConfig, ds: Dataset, idx: tuple[np.ndarray, np.ndarray, np.ndarray],
              workdir: str | Path, *, resume: bool = False, progress: bool = True,
              log=print) -> dict[str, Any]:
    """Train, calibrate and evaluate on one (train, val, test) split; returns the metrics dict
    ``{"test": {...}, "val": {...}, "train": {...}}`` and writes ``calibration.json``."""
    f = fit_calibrated(cfg, ds, idx, workdir, resume=resume, progress=progress, log=log)
    enc, (btr, bva, bte), res, w = f.encoder, f.batches, f.result, f.weights
    shift, temp = f.shift, f.temperature
    z_te = predict_logits(f.model, f.params, bte, cfg.train.eval_batch_size)
    p_va = apply_temperature(f.z_val - shift, temp)
    p_te = apply_temperature(z_te - shift, temp)
    dc = cfg.decision
    test = test_metrics(cfg, ds, idx, bte.target, p_te)
    test["ece_uncalibrated"] = credit_metrics.ece(bte.target, apply_temperature(z_te, 1.0), dc.ece_bins)
    lr_params, lr_info = fit_logreg(btr, bva, enc.cardinalities, enc.vocab_size,
                                    cfg.logreg.l2_grid, cfg.logreg.steps,
                                    cfg.logreg.learning_rate)
    p_lr = predict_logreg(lr_params, bte)
    test["logreg_auc"] = credit_metrics.auc(bte.target, p_lr)
    test["logreg_ks"] = credit_metrics.ks(bte.target, p_lr)
    test["logreg_brier"] = credit_metrics.brier(bte.target, p_lr)
    bands = np.bincount(
        (p_te >= dc.low).astype(int) + (p_te >= dc.high).astype(int), minlength=3) / len(p_te)
    test["decision_share"] = {"APPROVE": bands[0], "REVIEW": bands[1], "DECLINE": bands[2]}
    spe = steps_per_epoch(cfg.train, len(btr.target))
    out = {
        "test": test,
        "val": {"auc": credit_metrics.auc(bva.target, p_va), "ece": credit_metrics.ece(bva.target, p_va, dc.ece_bins),
                "logreg_auc": lr_info["val_auc"]},
        "train": {"steps": res.steps, "epochs": res.epochs_run, "best_step": res.best_step,
                  "best_epochs": -(-res.best_step // spe),
                  "samples_per_sec": res.train_samples_per_sec, "n_train": len(btr.target),
                  "n_val": len(bva.target), "n_test": len(bte.target),
                  "class_weights": list(w)},
        "calibration": {"temperature": temp, "logit_shift": shift,
                        "class_weight_shift": logit_shift(cfg, w)},
        "logreg": {"l2": lr_info["l2"]},
    }
    # the settings of the threshold metrics and the ECE, so summarize_cv pools with the same
    out["metric_settings"] = metric_settings(dc)
    out["points"] = points_summary(dc)
    mono = monotonicity_of(cfg, ds, f, idx[0], bva)
    if mono:
        out["monotonicity"] = mono
    out.update(groups_of(cfg, ds, idx[2], bte.target, p_te))
    out["_oof"] = {"y": np.asarray(bte.target), "p": p_te, "p_logreg": p_lr,
                   "rows": np.asarray(idx[2])}
    return out


def metric_settings(decision: CreditDecisionConfig) -> dict[str, Any]:
    """``{"threshold", "ece_bins"}`` of a :class:`CreditDecisionConfig`: what the test
    metrics depend on besides the predictions."""
    return {"threshold": float(decision.threshold), "ece_bins": int(decision.ece_bins)}



def refit_epochs(folds: list[dict]) -> int:
    """Epochs of the CV refit: the median over folds of the early-stopping epoch (>= 1)."""
    eps = [_best_epochs(f["train"]) for f in folds]
    return max(1, int(round(float(np.median(eps)))))


def _best_epochs(train: dict) -> int:
    if "best_epochs" in train:
        return int(train["best_epochs"])
    per_epoch = max(train["steps"] / max(train["epochs"], 1), 1.0)  # older fold_metrics.json
    return int(math.ceil(train["best_step"] / per_epoch))


def refit_indices(cfg: CreditConfig, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All rows split stratified train/val with the ratio of ``data.split``'s first two
    fractions (the same ratio as inside each CV fold)."""

    f_tr, f_va = cfg.data.split[0], cfg.data.split[1]
    a, b = stratified_split(y, (f_tr / (f_tr + f_va), f_va / (f_tr + f_va)), seed=cfg.data.seed)
    return np.asarray(a), np.asarray(b)


def refit_run(cfg: CreditConfig, ds: Dataset, folds: list[dict], workdir: str | Path, *,
              resume: bool = False, progress: bool = True, log=print) -> dict[str, Any]:
    """After K-fold CV: the scoring model of the run folder.

    Every row is used: train on the train share of all rows for the CV-chosen number of
    epochs (:func:`refit_epochs`, no early stopping: the held-out share never picks the
    model), then fit the calibration (:func:`calibrate`) on the held-out share. Writes
    ``checkpoints/`` and ``calibration.json`` into ``workdir`` so
    ``quantjax score credit --checkpoint workdir`` works. Returns the ``refit`` section of
    metrics.json (its ``val`` figures are the calibration split's; the CV ``test`` metrics are
    the performance estimate).
    """
    y = target_of(ds)
    idx = refit_indices(cfg, y)
    epochs = refit_epochs(folds)
    log(f"refit on all rows: train {len(idx[0])}, calibration {len(idx[1])}, "
        f"{epochs} epochs (median early-stopping epoch of the folds)")
    f = fit_calibrated(cfg, ds, idx, workdir, resume=resume, progress=progress, log=log,
                       fixed_epochs=epochs)
    bva = f.batches[1]
    p_va = apply_temperature(f.z_val - f.shift, f.temperature)
    dc = cfg.decision
    mono = monotonicity_of(cfg, ds, f, idx[0], bva)
    return {**({"monotonicity": mono} if mono else {}), "epochs": epochs, "fold_best_epochs": [_best_epochs(m["train"]) for m in folds],
            "steps": f.step, "n_train": len(idx[0]), "n_calibration": len(idx[1]),
            "calibration": {"temperature": f.temperature, "logit_shift": f.shift,
                            "class_weight_shift": logit_shift(cfg, f.weights)},
            "val": {"auc": credit_metrics.auc(bva.target, p_va), "ece": credit_metrics.ece(bva.target, p_va, dc.ece_bins)},
            "note": "scoring model of this folder (checkpoints/, calibration.json); the CV "
                    "'test' metrics estimate its performance"}


def split_indices(cfg: CreditConfig, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stratified train/val/test row indices (``data.split``, ``data.seed``)."""

    tr, va, te = stratified_split(y, cfg.data.split, seed=cfg.data.seed)
    return tr, va, te


def cv_indices(cfg: CreditConfig, y: np.ndarray, k: int):
    """K stratified folds; inside each, the non-test rows are split train/val with the
    ratio of ``data.split``. Yields ``(train, val, test)`` row indices."""

    f_tr, f_va = cfg.data.split[0], cfg.data.split[1]
    for rest, test in stratified_kfold(y, k, seed=cfg.data.seed):
        a, b = stratified_split(y[rest], (f_tr / (f_tr + f_va), f_va / (f_tr + f_va)),
                                seed=cfg.data.seed)
        yield rest[a], rest[b], test


CV_KEYS = ("auc", "gini", "ks", "accuracy", "precision", "recall", "f1", "fpr", "brier", "ece",
           "ece_uncalibrated", "log_loss", "logreg_auc", "bayes_auc", "auc_over_bayes")


def pooled_settings(folds: list[dict],
                    decision: CreditDecisionConfig | None = None) -> dict[str, Any]:
    """The ``decision.threshold`` / ``decision.ece_bins`` for the pooled CV metrics: those of
    ``decision`` if given, else those the folds recorded (``metric_settings``, written by
    :func:`train_run`). Folds computed with other settings than the pooled metrics would use
    are a UserError (e.g. a ``--resume`` after changing them), so fold and pooled metrics
    always share the threshold and the bins."""
    want = metric_settings(decision) if decision is not None else None
    for k, f in enumerate(folds):
        got = f.get("metric_settings")
        if got is None:
            if want is None:
                raise UserError(
                    f"cv fold {k}: its metrics lack 'metric_settings' (decision.threshold, "
                    "decision.ece_bins; written by an older quantjax); rerun the cross-validation "
                    "without --resume")
            continue
        got = {"threshold": float(got["threshold"]), "ece_bins": int(got["ece_bins"])}
        if want is None:
            want = got
        elif got != want:
            raise UserError(
                f"cv fold {k}: its metrics used decision.threshold={got['threshold']}, "
                f"decision.ece_bins={got['ece_bins']}, but the pooled metrics use "
                f"{want['threshold']} and {want['ece_bins']}; rerun the cross-validation "
                "without --resume")
    return want


def summarize_cv(folds: list[dict],
                 decision: CreditDecisionConfig | None = None) -> dict[str, Any]:
    """``test`` = mean over folds, ``test_std`` = std (ddof=1), ``cv.folds`` = per-fold test,
    ``cv.pooled`` = metrics of the pooled out-of-fold predictions (every row scored once by the
    model that did not see it; the ECE there uses all rows, so it is far less noisy).

    The pooled threshold metrics and ECE use the configured ``decision.threshold`` and
    ``decision.ece_bins`` (``decision``, else the folds' recorded settings; see
    :func:`pooled_settings`), like the per-fold metrics; ``cv.metric_settings`` records both."""
    mean, std = {}, {}
    for k in CV_KEYS:
        vals = [f["test"][k] for f in folds if k in f["test"]]
        if vals:
            mean[k] = float(np.mean(vals))
            std[k] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
    mean["auc_minus_logreg"] = mean["auc"] - mean["logreg_auc"]
    pooled, ms = {}, None
    if all("_oof" in f for f in folds):
        y = np.concatenate([f["_oof"]["y"] for f in folds])
        p = np.concatenate([f["_oof"]["p"] for f in folds])
        ms = pooled_settings(folds, decision)
        pooled = credit_metrics.all_metrics(y, p, ms["threshold"], ms["ece_bins"])
        pooled["logreg_auc"] = credit_metrics.auc(y, np.concatenate([f["_oof"]["p_logreg"] for f in folds]))
    cv = {"k": len(folds), "pooled": pooled,
          "folds": [{k: v for k, v in f["test"].items()} for f in folds],
          "temperature": [f["calibration"]["temperature"] for f in folds],
          "logit_shift": [f["calibration"]["logit_shift"] for f in folds]}
    if ms is not None:
        cv["metric_settings"] = ms
    out = {"test": mean, "test_std": std, "cv": cv}
    if folds and "points" in folds[0]:
        out["points"] = folds[0]["points"]
    mono = cv_monotonicity(folds)
    if mono:
        out["monotonicity"] = mono
    return out


def cv_monotonicity(folds: list[dict]) -> dict:
    """``monotonicity`` of a CV run: per input the mean violating share over folds (each on
    its validation split), ``fold_shares``, and ``flagged`` when the mean exceeds max_share."""
    out = {}
    if not all("monotonicity" in f for f in folds):
        return out
    for col, first in folds[0]["monotonicity"].items():
        shares = [f["monotonicity"][col]["share"] for f in folds]
        mean = float(np.mean(shares))
        out[col] = {"direction": first["direction"], "share": mean, "fold_shares": shares,
                    "rows": int(sum(f["monotonicity"][col]["rows"] for f in folds)),
                    "violations": int(sum(f["monotonicity"][col]["violations"] for f in folds)),
                    "flagged": mean > first["max_share"], "tolerance": first["tolerance"],
                    "max_share": first["max_share"]}
    return out


def cv_groups(cfg: CreditConfig, ds: Dataset, folds: list[dict]) -> dict:
    """``segments`` / ``fairness`` of the pooled out-of-fold PDs (every row once)."""
    if not all("_oof" in f and "rows" in f["_oof"] for f in folds):
        return {}
    rows = np.concatenate([f["_oof"]["rows"] for f in folds])
    y = np.concatenate([f["_oof"]["y"] for f in folds])
    p = np.concatenate([f["_oof"]["p"] for f in folds])
    return groups_of(cfg, ds, rows, y, p)


def target_of(ds: Dataset) -> np.ndarray:
    return target_array(ds.df, ds.schema)


def dataset_from_frame(df: pd.DataFrame, schema: CreditSchema) -> Dataset:
    """A Dataset from an in-memory frame (tests)."""

    return Dataset(check_credit_frame(df, schema), schema, None, {"synthetic": False})


__all__ = ["Arrays", "Dataset", "Fitted", "calibrate", "cv_indices", "fit_calibrated",
           "load_dataset", "metric_settings", "pooled_settings", "refit_run", "split_indices",
           "summarize_cv", "train_run"]
