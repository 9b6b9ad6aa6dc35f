"""Credit model report: ROC with AUC/Gini, KS plot, reliability before/after calibration,
score distributions by class, decision counts, reason frequency, modality importance, then the
credit-practice sections (:mod:`quantjax.report.credit_practice`: score points, feature
strength, monotonicity, segments, fairness, stability).

Curves need the scored test rows: ``test_scores.parquet`` / ``.csv`` (or ``scores.*``,
``scored.*``) with a label column (``target`` | ``y`` | ``label`` | ``default``), the calibrated
probability of default (``pd`` | ``probability_of_default`` | ``p_default``), optionally the
uncalibrated one (``pd_uncalibrated`` | ``pd_raw``), ``decision``, ``risk_category`` and reason
codes (``reason_1..k`` / ``reason_code_1..k`` columns, or one ``reason_codes`` column joined
with ``;``). Modality importance: ``metrics.json`` ``modality_importance`` (or
``test.modality_importance``) mapping, else ``modality_importance.json``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from quantjax.credit.metrics import reliability
from quantjax.credit.points import pd_at_points
from quantjax.credit.points import points as score_points
from quantjax.report import credit_practice
from quantjax.report.credit_predict import from_checkpoint
from quantjax.report.detect import first_file, read_config, read_table
from quantjax.report.figures import new_figure, style
from quantjax.report.fmt import has, is_scalar
from quantjax.report.html import Report

SCORE_FILES = tuple(f"{stem}.{ext}" for stem in ("test_scores", "scores", "scored",
                                                  "test_predictions")
                    for ext in ("parquet", "csv"))
LABEL_COLS = ("target", "y", "label", "default")
PD_COLS = ("pd", "risk_score", "probability_of_default", "p_default", "pd_calibrated")
RAW_COLS = ("pd_uncalibrated", "pd_raw", "p_uncalibrated")
LABELS = {
    "auc": "AUC", "gini": "Gini", "ks": "KS", "accuracy": "accuracy", "precision": "precision",
    "recall": "recall", "f1": "F1", "fpr": "false positive rate", "brier": "Brier score",
    "ece": "ECE (calibrated)", "ece_uncalibrated": "ECE (before calibration)",
    "log_loss": "log loss", "n": "test rows", "positive_rate": "default rate",
    "logreg_auc": "logistic regression AUC", "logreg_ks": "logistic regression KS",
    "logreg_brier": "logistic regression Brier", "bayes_auc": "Bayes (true PD) AUC",
    "auc_over_bayes": "AUC / Bayes AUC", "auc_minus_logreg": "AUC - logistic regression AUC",
}


def _col(df, names):
    for n in names:
        if n in df.columns:
            return n
    return None


def build(rep: Report, run_dir: Path, m: dict, recompute: bool = True) -> None:
    test = m.get("test", {}) if isinstance(m.get("test"), dict) else {}
    rep.section("Summary (test split)")
    keys = [k for k in LABELS if k in test] + [k for k, v in test.items()
                                               if k not in LABELS and is_scalar(v)]
    rep.metric_table([(LABELS.get(k, k), ("test", k)) for k in keys])
    for sec, title in (("test_std", "cross-validation std"), ("val", "validation"),
                       ("calibration", "calibration"), ("logreg", "logistic regression"),
                       ("train", "training")):
        d = m.get(sec)
        if isinstance(d, dict):
            rows = [(LABELS.get(k, k), (sec, k)) for k, v in d.items() if is_scalar(v)]
            rep.metric_table(rows, headers=(title, "value"))
    cv = m.get("cv") if isinstance(m.get("cv"), dict) else {}
    pooled = cv.get("pooled")
    if isinstance(pooled, dict) and pooled:
        rep.metric_table([(LABELS.get(k, k), ("cv", "pooled", k)) for k, v in pooled.items()
                          if is_scalar(v)], headers=("pooled out-of-fold", "value"))
    folds = cv.get("folds")
    if isinstance(folds, list) and folds:
        cols = [c for c in ("auc", "gini", "ks", "brier", "ece", "logreg_auc") if c in folds[0]]
        rep.subsection("Cross-validation folds")
        rep.grid_table([f"fold {i + 1}" for i in range(len(folds))], [LABELS[c] for c in cols],
                       [[("cv", "folds", i, c) for c in cols] for i in range(len(folds))],
                       corner="fold")
    scores = _scores(rep, run_dir, m, recompute)
    bins = int(((read_config(run_dir).get("decision") or {}).get("ece_bins")) or 10)
    _roc_ks(rep, scores)
    _reliability(rep, scores, bins)
    _distributions(rep, scores, m.get("points"))
    _decisions(rep, scores, m)
    _reasons(rep, scores)
    _modalities(rep, run_dir, m, scores)
    credit_practice.build(rep, run_dir, m)


def _scores(rep: Report, run_dir: Path, m: dict, recompute: bool):
    p = first_file(run_dir, SCORE_FILES)
    if p is None:
        why = "and recomputing was not asked for"
        if recompute:

            df, why = from_checkpoint(run_dir, m)
            if df is not None:
                return _frame(df, "the test split rescored from the best checkpoint", rep)
        rep.note("The run folder has no scored test rows (test_scores.parquet with target and "
                 f"pd columns) {why}: the ROC, KS, reliability, score-distribution, decision "
                 "count and reason-code figures are omitted.")
        return None
    return _frame(read_table(p), p.name, rep)


def _frame(df, name: str, rep: Report):
    """The scored rows as ``{"df", "name", "y", "p", "p_raw"?}`` (``name`` goes in captions)."""
    y, pd_ = _col(df, LABEL_COLS), _col(df, PD_COLS)
    if y is None or pd_ is None:
        rep.note(f"{name} has no label ({'/'.join(LABEL_COLS)}) or probability "
                 f"({'/'.join(PD_COLS)}) column: curve figures omitted.")
        return {"df": df, "name": name}
    yy = df[y].to_numpy()
    keep = np.isfinite(df[pd_].to_numpy(np.float64))
    if yy.dtype.kind not in "biuf":
        rep.note(f"{name}: the label column '{y}' is not numeric (1 = default): curve figures "
                 "omitted.")
        return {"df": df, "name": name}
    keep &= np.isfinite(yy.astype(np.float64))
    out = {"df": df, "name": name, "y": yy[keep].astype(np.int64),
           "p": df[pd_].to_numpy(np.float64)[keep]}
    raw = _col(df, RAW_COLS)
    if raw is not None:
        out["p_raw"] = df[raw].to_numpy(np.float64)[keep]
    return out


def _roc_ks(rep: Report, s) -> None:
    rep.section("Discrimination: ROC and KS")
    if s is None or "y" not in s or len(np.unique(s["y"])) < 2:
        rep.note("No scored test rows with both classes: no ROC or KS plot.")
        return
    y, p = s["y"], s["p"]
    order = np.argsort(-p, kind="stable")
    ys = y[order]
    tpr = np.r_[0.0, np.cumsum(ys) / max(ys.sum(), 1)]
    fpr = np.r_[0.0, np.cumsum(1 - ys) / max((1 - ys).sum(), 1)]
    fig, (a1, a2) = new_figure(9, 3.8, 1, 2)
    a1.plot(fpr, tpr, lw=1.4, label="model")
    a1.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8, label="chance")
    a1.legend(fontsize=8, loc="lower right")
    style(a1, "ROC curve", xlabel="false positive rate", ylabel="true positive rate")
    thr = np.sort(np.unique(p))
    cdf_pos = np.searchsorted(np.sort(p[y == 1]), thr, side="right") / max((y == 1).sum(), 1)
    cdf_neg = np.searchsorted(np.sort(p[y == 0]), thr, side="right") / max((y == 0).sum(), 1)
    i = int(np.argmax(np.abs(cdf_neg - cdf_pos)))
    a2.plot(thr, cdf_neg, label="non-defaults")
    a2.plot(thr, cdf_pos, label="defaults")
    a2.vlines(thr[i], min(cdf_pos[i], cdf_neg[i]), max(cdf_pos[i], cdf_neg[i]), color="k",
              lw=1.5, label="KS distance")
    a2.legend(fontsize=8, loc="lower right")
    style(a2, "KS plot (cumulative share by score)", xlabel="probability of default",
          ylabel="cumulative share")
    rep.figure(fig, f"From {s['name']}. metrics.json: AUC {rep.value(('test', 'auc'))}, Gini "
               f"{rep.value(('test', 'gini'))}, KS {rep.value(('test', 'ks'))}.",
               "ROC curve and KS plot")


def _reliability(rep: Report, s, bins: int) -> None:
    rep.section("Calibration: reliability diagram")
    if s is None or "y" not in s:
        rep.note("No scored test rows: no reliability diagram.")
        return
    fig, ax = new_figure(5.2, 4.4)
    ax.plot([0, 1], [0, 1], color="0.6", ls="--", lw=0.8, label="perfect")
    series = [("after calibration", s["p"], "tab:blue")]
    if "p_raw" in s:
        series.insert(0, ("before calibration", s["p_raw"], "tab:orange"))
    for label, p, c in series:
        r = reliability(s["y"], p, bins)
        ok = r["count"] > 0
        ax.plot(r["mean_predicted"][ok], r["observed_rate"][ok], marker="o", ms=4, color=c,
                label=label)
    ax.legend(fontsize=8)
    style(ax, "Reliability", xlabel="mean predicted PD", ylabel="observed default rate")
    rep.figure(fig, "Equal-width bins (decision.ece_bins). metrics.json: ECE before calibration "
               f"{rep.value(('test', 'ece_uncalibrated'))}, after "
               f"{rep.value(('test', 'ece'))}.", "reliability diagram")
    if "p_raw" not in s:
        rep.note(f"{s['name']} has no uncalibrated probability column (pd_uncalibrated): only "
                 "the calibrated curve is drawn.")


def _distributions(rep: Report, s, points: dict | None = None) -> None:
    rep.section("Score distributions by class")
    if s is None or "y" not in s:
        rep.note("No scored test rows: no score distributions.")
        return
    fig, ax = new_figure(9, 3.2)
    lo, hi = float(np.min(s["p"])), float(np.max(s["p"]))
    edges = np.linspace(lo, hi if hi > lo else lo + 1e-6, 41)
    for cls, name, c in ((0, "non-defaults", "tab:blue"), (1, "defaults", "tab:red")):
        x = s["p"][s["y"] == cls]
        if len(x):
            ax.hist(x, bins=edges, density=True, alpha=0.55, color=c, label=name)
    ax.legend(fontsize=8)
    style(ax, "Calibrated probability of default by true class", xlabel="PD", ylabel="density")
    caption = f"From {s['name']}."
    if isinstance(points, dict) and {"pdo", "base_score", "base_odds"} <= set(points):
        _points_axis(ax, points)
        caption += " Top axis: score points (metrics.json points: the run's scaling)."
    rep.figure(fig, caption, "score distributions by class")


def _points_axis(ax, scale: dict) -> None:
    """A top axis in score points over a PD axis (metrics.json ``points``: the run's scaling)."""
    args = (float(scale["pdo"]), float(scale["base_score"]), float(scale["base_odds"]))
    ax.secondary_xaxis("top", functions=(lambda p: score_points(p, *args),
                                         lambda v: pd_at_points(v, *args))
                       ).set_xlabel("points", fontsize=8)


def _decisions(rep: Report, s, m: dict) -> None:
    rep.section("Decisions")
    share = (m.get("test") or {}).get("decision_share")
    if isinstance(share, dict) and share:
        rep.metric_table([(k, ("test", "decision_share", k)) for k in share],
                         headers=("decision", "share of test rows"))
    df = None if s is None else s["df"]
    cols = [c for c in ("decision", "risk_category") if df is not None and c in df.columns]
    if not cols:
        if not share:
            rep.note("No decisions: metrics.json has no test.decision_share and there is no "
                     "scored file with a decision column.")
        return
    fig, axes = new_figure(4.5 * len(cols), 3.0, 1, len(cols))
    axes = np.atleast_1d(axes)
    order = {"decision": ("APPROVE", "REVIEW", "DECLINE"),
             "risk_category": ("LOW", "MEDIUM", "HIGH")}
    for ax, c in zip(axes, cols, strict=True):
        counts = df[c].astype(str).value_counts()
        known = [k for k in order[c] if k in counts.index]
        counts = counts.reindex(known + [k for k in counts.index if k not in known])
        ax.bar(counts.index.tolist(), counts.to_numpy(), color="tab:purple")
        style(ax, f"{c} counts", ylabel="rows")
    rep.figure(fig, f"Counts per category in {s['name']}.", "decision counts")


def _reasons(rep: Report, s) -> None:
    rep.section("Reason codes")
    df = None if s is None else s["df"]
    counts: Counter = Counter()
    if df is not None:
        rcols = [c for c in df.columns if re.fullmatch(r"reason(_code)?_\d+", str(c))]
        for c in rcols:
            counts.update(reason_name(v) for v in df[c].dropna().astype(str) if v.strip())
        if "reason_codes" in df.columns:
            for v in df["reason_codes"].dropna().astype(str):
                counts.update(reason_name(x) for x in v.replace("|", ";").split(";")
                              if x.strip())
    if not counts:
        rep.note("No reason codes: the scored file has no reason_* / reason_codes columns.")
        return
    counts.pop("", None)
    top = counts.most_common(20)
    fig, ax = new_figure(8, 0.6 + 0.28 * len(top))
    ax.barh([k for k, _ in top][::-1], [v for _, v in top][::-1], color="tab:cyan")
    style(ax, "Reason-code frequency", xlabel="rows citing the code")
    rep.figure(fig, f"The most frequent reasons (at most twenty; adverse-action statements, or "
               f"raw codes counted per feature) in "
               f"{s['name']}.",
               "reason code frequency")


def reason_name(text: str) -> str:
    """The feature a reason code names: ``"income = 52000"`` -> ``"income"`` (values differ per
    applicant, so codes are counted per feature); other texts are kept as they are."""
    return text.split(" = ", 1)[0].strip()


def _modalities(rep: Report, run_dir: Path, m: dict, s=None) -> None:
    rep.section("Modality importance")
    path, src = None, ""
    for p in (("modality_importance",), ("test", "modality_importance")):
        if has(m, p) and isinstance(m[p[0]] if len(p) == 1 else m[p[0]][p[1]], dict):
            path = p
            break
    if path is not None:
        imp = m[path[0]] if len(path) == 1 else m[path[0]][path[1]]
        imp = {k: v for k, v in imp.items() if isinstance(v, (int, float))}
        rep.metric_table([(k, (*path, k)) for k in imp], headers=("modality", "importance"))
        src = "metrics.json"
    else:
        f = run_dir / "modality_importance.json"
        df = None if s is None else s["df"]
        icols = [] if df is None else [c for c in df.columns if str(c).startswith("importance_")]
        if f.is_file():
            imp = {k: v for k, v in json.loads(f.read_text()).items()
                   if isinstance(v, (int, float))}
            src = f.name
        elif icols:
            imp = {c[len("importance_"):]: float(np.nanmean(df[c].to_numpy(np.float64)))
                   for c in icols}
            src = f"the mean of the importance_* columns of {s['name']}"
        else:
            rep.note("No modality importance: metrics.json has no modality_importance, there "
                     "is no modality_importance.json and no importance_* columns of scored "
                     "rows.")
            return
    if not imp:
        rep.note("Modality importance is empty.")
        return
    fig, ax = new_figure(7, 0.8 + 0.4 * len(imp))
    ax.barh(list(imp)[::-1], list(imp.values())[::-1], color="tab:olive")
    style(ax, "Modality importance", xlabel="importance")
    rep.figure(fig, f"From {src}.", "modality importance")
