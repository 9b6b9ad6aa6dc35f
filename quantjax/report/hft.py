"""HFT training report: headline metrics with their 95% intervals, signal metrics (IC, rank IC,
ICIR), loss/metric curves (``metrics.jsonl``), confusion matrix, model vs baselines (majority,
persistence, linear) vs the same-rows oracle, walk-forward folds, predicted vs realized
volatility and attention heatmaps.

Predictions come from ``predictions.npz`` (arrays ``pred_vol``, ``realized_vol``; optional
``attention`` ``[K, heads, L, L]`` or ``[K, L, L]``), ``test_predictions.parquet`` / ``.csv``
(columns ``pred_vol``, ``realized_vol``) and ``attention_samples.npz`` (``attention``); when
the run folder has none of them they are recomputed from the best checkpoint
(:mod:`quantjax.report.hft_predict`) if the run's data can be rebuilt, else omitted with a note.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from quantjax.report import hft_predict
from quantjax.report.detect import first_file, read_table
from quantjax.report.figures import new_figure, style
from quantjax.report.fmt import is_scalar
from quantjax.report.html import Report

CLASSES = ("down", "flat", "up")
TEST_LABELS = {
    "directional_accuracy": "directional accuracy", "macro_f1": "macro F1",
    "majority_baseline_accuracy": "majority-class baseline accuracy",
    "persistence_baseline_accuracy": "persistence baseline accuracy",
    "linear_baseline_accuracy": "linear baseline accuracy",
    "linear_baseline_macro_f1": "linear baseline macro F1",
    "accuracy_minus_linear": "accuracy - linear baseline",
    "bayes_accuracy": "oracle (Bayes) accuracy on the same rows",
    "bayes_accuracy_realized": "oracle's realized accuracy on the same rows",
    "bayes_accuracy_population": "oracle (Bayes) accuracy, population figure",
    "accuracy_over_bayes": "accuracy / same-rows oracle",
    "price_mae": "return MAE", "zero_return_price_mae": "zero-return baseline MAE",
    "persistence_price_mae": "persistence baseline MAE",
    "linear_baseline_price_mae": "linear baseline return MAE", "vol_r2": "volatility R2",
    "n": "examples",
}
HEADLINE = ("directional_accuracy", "macro_f1", "ic", "rank_ic", "icir", "rank_icir",
            "bayes_accuracy", "accuracy_over_bayes", "linear_baseline_accuracy",
            "accuracy_minus_linear")
SIGNAL_LABELS = {
    "ic": "IC (Pearson)", "rank_ic": "rank IC (Spearman)", "icir": "ICIR", "rank_icir": "rank ICIR",
    "ic_positive_fraction": "IC > 0 (fraction of periods)",
    "rank_ic_positive_fraction": "rank IC > 0 (fraction of periods)",
    "ic_n_periods": "IC periods", "ic_kind": "IC kind",
    "linear_baseline_ic": "linear baseline IC", "linear_baseline_rank_ic": "linear baseline rank IC",
}
FOLD_COLS = (("n_train", "train samples"), ("n_test", "test samples"), ("best_step", "best step"),
             ("directional_accuracy", "accuracy"), ("macro_f1", "macro F1"), ("ic", "IC"),
             ("rank_ic", "rank IC"), ("linear_baseline_accuracy", "linear accuracy"),
             ("bayes_accuracy", "same-rows oracle"))
RUN_LABELS = {"steps": "optimizer steps", "best_step": "best step", "epochs": "epochs",
              "n_train": "training examples", "n_features": "features",
              "n_params": "parameters", "train_samples_per_sec": "training samples / s"}


def build(rep: Report, run_dir: Path, m: dict, recompute: bool = True) -> None:
    rep.section("Summary")
    if m.get("run_kind") == "walk_forward":
        rep.note("Walk-forward run: every test figure is pooled over the folds' out-of-sample "
                 "predictions; each fold's model never saw a label after its cut-off.")
    _headline(rep, m)
    rows = [(TEST_LABELS[k], ("test", k)) for k in TEST_LABELS]
    rep.metric_table(rows, headers=("test metric", "value"))
    val = m.get("val", {})
    if isinstance(val, dict):
        rep.metric_table([(TEST_LABELS.get(k, k), ("val", k)) for k, v in val.items()
                          if is_scalar(v)], headers=("validation metric", "value"))
    rep.metric_table([(v, (k,)) for k, v in RUN_LABELS.items()], headers=("run", "value"))
    data = m.get("data")
    if isinstance(data, dict):
        rep.metric_table([(k, ("data", k)) for k, v in data.items() if is_scalar(v)],
                         headers=("data", "value"))
    _signal(rep, m)
    _walk_forward(rep, m)
    _curves(rep, run_dir)
    _accuracy(rep, m)
    _confusion(rep, m)
    preds = _load_predictions(rep, run_dir, m, recompute)
    _vol(rep, preds, m)
    _attention(rep, preds)


def _headline(rep: Report, m: dict) -> None:
    test = m.get("test", {})
    keys = [k for k in HEADLINE if k in test]
    if not keys:
        return
    labels = {**TEST_LABELS, **SIGNAL_LABELS}
    rep.grid_table([labels.get(k, k) for k in keys], ["value", "95% low", "95% high"],
                   [[("test", k), ("test", f"{k}_ci", 0), ("test", f"{k}_ci", 1)] for k in keys],
                   corner="test metric")
    boot = test.get("bootstrap")
    if isinstance(boot, dict):
        rep.para(f"Intervals: {rep.value(('test', 'bootstrap', 'method'))}, blocks of "
                 f"{rep.value(('test', 'bootstrap', 'block'))} time steps, "
                 f"{rep.value(('test', 'bootstrap', 'resamples'))} resamples, seed "
                 f"{rep.value(('test', 'bootstrap', 'seed'))}.")
    if "bayes_accuracy" not in test and "bayes_accuracy_population" in test:
        rep.note("The oracle accuracy shown is the generator's population figure, not computed "
                 "on the evaluated rows: the ratio to it can exceed 1.")


def _signal(rep: Report, m: dict) -> None:
    rep.section("Signal metrics of the price head")
    test = m.get("test", {})
    if "ic" not in test:
        rep.note("metrics.json has no IC metrics (a run from before they were added).")
        return
    rep.metric_table([(v, ("test", k)) for k, v in SIGNAL_LABELS.items()],
                     headers=("test metric", "value"))
    per = test.get("ic_per_symbol")
    if isinstance(per, dict) and per:
        syms = list(per)
        rep.grid_table(syms, ["time-series IC", "time-series rank IC", "rows"],
                       [[("test", "ic_per_symbol", s, "ic"), ("test", "ic_per_symbol", s, "rank_ic"),
                         ("test", "ic_per_symbol", s, "n")] for s in syms], corner="symbol")
    rep.para("IC: correlation of the predicted and the realized forward return; cross-sectional "
             "(across symbols at each time step, then averaged) with enough symbols, else "
             "time-series per symbol. ICIR = mean IC / its standard deviation.")


def _walk_forward(rep: Report, m: dict) -> None:
    wf = m.get("walk_forward")
    if not isinstance(wf, dict) or not isinstance(wf.get("folds"), list):
        return
    rep.section("Walk-forward folds")
    folds = wf["folds"]
    rows, paths = [], []
    for i, f in enumerate(folds):
        rows.append(f"fold {f.get('fold', i)}: train t {f['train'][0]}-{f['train'][1] - 1}, "
                    f"test t {f['test'][0]}-{f['test'][1] - 1}")
        paths.append([("walk_forward", "folds", i, k) if k in f else
                      ("walk_forward", "folds", i, "metrics", k) for k, _ in FOLD_COLS])
    rep.grid_table(rows, [label for _, label in FOLD_COLS], paths, corner="fold")
    rep.para(f"Pooled out-of-sample accuracy {rep.value(('walk_forward', 'pooled', 'directional_accuracy'))}"
             f" over {rep.value(('walk_forward', 'pooled', 'n'))} test rows; purge "
             f"{rep.value(('walk_forward', 'settings', 'purge'))} and gap "
             f"{rep.value(('walk_forward', 'settings', 'gap'))} positions between training, "
             "validation and test.")


def _curves(rep: Report, run_dir: Path) -> None:
    rep.section("Training curves")
    p = run_dir / "metrics.jsonl"
    if not p.is_file():
        rep.note("metrics.jsonl is missing: no training curves.")
        return
    recs = []
    for ln in p.read_text().splitlines():
        if ln.strip():
            try:
                recs.append(json.loads(ln))
            except json.JSONDecodeError:
                continue
    if not recs:
        rep.note("metrics.jsonl has no records: no training curves.")
        return
    xkey = "step" if all("step" in r for r in recs) else "epoch"
    x = np.array([r.get(xkey, i) for i, r in enumerate(recs)], np.float64)

    def series(k):
        return np.array([np.nan if r.get(k) is None else float(r[k]) for r in recs], np.float64)

    loss_keys = [k for k in ("train_loss", "val_loss") if any(r.get(k) is not None for r in recs)]
    met_keys = [k for k in sorted({k for r in recs for k in r})
                if k.startswith("val_") and k not in ("val_loss", "val_score")
                and all(isinstance(r.get(k), (int, float, type(None))) for r in recs)]
    fig, (a1, a2) = new_figure(9, 3.4, 1, 2)
    for k in loss_keys:
        a1.plot(x, series(k), marker="o", ms=3, lw=1.2, label=k)
    a1.legend(fontsize=8)
    style(a1, "Loss", xlabel=xkey, ylabel="loss")
    for k in met_keys:
        a2.plot(x, series(k), marker="o", ms=3, lw=1.2, label=k)
    if met_keys:
        a2.legend(fontsize=8)
    style(a2, "Validation metrics", xlabel=xkey)
    best = [r.get("best_step") for r in recs if r.get("best_step") is not None]
    if best and xkey == "step":
        for a in (a1, a2):
            a.axvline(best[-1], color="k", ls=":", lw=1)
    rep.figure(fig, "Training and validation loss and validation metrics per evaluation "
               "(metrics.jsonl); the dotted line marks the best step.", "training curves")


def _accuracy(rep: Report, m: dict) -> None:
    rep.section("Model against baselines and oracle")
    bars = [("model", "directional_accuracy", "tab:blue"),
            ("majority class", "majority_baseline_accuracy", "0.6"),
            ("persistence", "persistence_baseline_accuracy", "0.45"),
            ("linear", "linear_baseline_accuracy", "tab:purple"),
            ("oracle, same rows", "bayes_accuracy", "tab:green"),
            ("oracle, population", "bayes_accuracy_population", "tab:olive")]
    test = m.get("test", {})
    bars = [b for b in bars if isinstance(test.get(b[1]), (int, float))]
    if not bars:
        rep.note("metrics.json has no test accuracies.")
        return
    fig, ax = new_figure(7, 3.0)
    ax.barh([b[0] for b in bars], [test[b[1]] for b in bars], color=[b[2] for b in bars])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    style(ax, "Test directional accuracy", xlabel="accuracy")
    cap = ", ".join(f"{b[0]} {rep.value(('test', b[1]))}" for b in bars)
    rep.figure(fig, f"Test accuracy: {cap}.", "model vs baselines vs oracle accuracy")
    if "bayes_accuracy" not in test or test.get("bayes_accuracy") is None:
        rep.note("No same-rows oracle (Bayes) accuracy: it is only known for the synthetic "
                 "market's own path.")


def _confusion(rep: Report, m: dict) -> None:
    rep.section("Confusion matrix (test)")
    cm = m.get("test", {}).get("confusion_matrix")
    if not (isinstance(cm, list) and cm and all(isinstance(r, list) for r in cm)):
        rep.note("metrics.json has no test.confusion_matrix.")
        return
    a = np.asarray(cm, np.float64)
    n = a.shape[0]
    names = list(CLASSES) if n == 3 else [str(i) for i in range(n)]
    fig, ax = new_figure(4.2, 3.6)
    with np.errstate(invalid="ignore", divide="ignore"):
        rowfrac = a / a.sum(axis=1, keepdims=True)
    ax.imshow(np.nan_to_num(rowfrac), cmap="Blues", vmin=0, vmax=1)
    for (i, j), v in np.ndenumerate(a):
        ax.text(j, i, f"{int(v)}", ha="center", va="center", fontsize=9,
                color="white" if np.nan_to_num(rowfrac[i, j]) > 0.5 else "black")
    ax.set_xticks(range(n), names)
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted", fontsize=9)
    ax.set_ylabel("true", fontsize=9)
    rep.figure(fig, "Counts (colour: share of the true class) of test.confusion_matrix.",
               "confusion matrix")
    rep.grid_table([f"true {c}" for c in names], [f"predicted {c}" for c in names],
                   [[("test", "confusion_matrix", i, j) for j in range(n)] for i in range(n)])


def _load_predictions(rep: Report, run_dir: Path, m: dict, recompute: bool) -> dict:
    out: dict = {"source": None}
    npz = run_dir / "predictions.npz"
    if npz.is_file():
        with np.load(npz) as z:
            out.update({k: np.asarray(z[k]) for k in z.files})
        out["source"] = "predictions.npz"
    else:
        tab = first_file(run_dir, ("test_predictions.parquet", "test_predictions.csv"))
        if tab is not None:
            df = read_table(tab)
            out.update({c: df[c].to_numpy() for c in df.columns})
            out["source"] = tab.name
    att = run_dir / "attention_samples.npz"
    if "attention" not in out and att.is_file():
        with np.load(att) as z:
            out.update({k: np.asarray(z[k]) for k in z.files if k not in out})
        out["attention_source"] = att.name
    if ("pred_vol" not in out or "attention" not in out) and not recompute:
        out["recompute_note"] = "and recomputing them from the checkpoint was turned off"
    elif "pred_vol" not in out or "attention" not in out:

        got, why = hft_predict.from_checkpoint(run_dir, m)
        for k, v in got.items():
            out.setdefault(k, v)
        out["recompute_note"] = why
    return out


def _vol(rep: Report, p: dict, m: dict) -> None:
    rep.section("Predicted against realized volatility (test)")
    if "pred_vol" not in p or "realized_vol" not in p:
        rep.note("No predictions: the run folder has no predictions.npz / "
                 "test_predictions.parquet with pred_vol and realized_vol"
                 + (f" ({p['recompute_note']})" if p.get("recompute_note") else "") + ".")
        return
    pv = np.asarray(p["pred_vol"], np.float64).ravel()
    rv = np.asarray(p["realized_vol"], np.float64).ravel()
    ok = np.isfinite(pv) & np.isfinite(rv)
    if ok.sum() < 2:
        rep.note("Fewer than two finite predicted/realized volatility pairs.")
        return
    pv, rv = pv[ok], rv[ok]
    fig, ax = new_figure(5.0, 4.4)
    ax.scatter(rv, pv, s=4, alpha=0.35)
    lo, hi = float(min(rv.min(), pv.min())), float(max(rv.max(), pv.max()))
    ax.plot([lo, hi], [lo, hi], color="k", lw=0.8, ls="--", label="y = x")
    ax.legend(fontsize=8)
    style(ax, "Predicted vs realized volatility", xlabel="realized", ylabel="predicted")
    src = p.get("source") or "the best checkpoint"
    rep.figure(fig, f"Test examples from {src}; test volatility R2 in metrics.json "
               f"{rep.value(('test', 'vol_r2'))}.", "predicted vs realized volatility")


def _attention(rep: Report, p: dict) -> None:
    rep.section("Attention heatmaps")
    a = p.get("attention")
    if a is None:
        rep.note("No attention samples: the run folder has no attention_samples.npz (array "
                 "'attention' [samples, heads, L, L])"
                 + (f" ({p['recompute_note']})" if p.get("recompute_note") else "") + ".")
        return
    a = np.asarray(a, np.float64)
    if a.ndim == 3:
        a = a[:, None]
    if a.ndim != 4 or a.shape[0] == 0:
        rep.note(f"attention array has shape {a.shape}, expected [samples, heads, L, L].")
        return
    k = min(a.shape[0], 4)
    mean = a[:k].mean(axis=1)  # average over heads
    fig, axes = new_figure(2.6 * k + 0.6, 2.8, 1, k)
    axes = np.atleast_1d(axes)
    for i in range(k):
        im = axes[i].imshow(mean[i], cmap="viridis", aspect="auto")
        axes[i].set_title(f"sample {i + 1}", fontsize=9)
        axes[i].set_xlabel("key position", fontsize=8)
        axes[i].tick_params(labelsize=7)
    axes[0].set_ylabel("query position", fontsize=8)
    fig.colorbar(im, ax=list(axes), fraction=0.03)
    src = p.get("attention_source") or p.get("source") or "the best checkpoint"
    rep.figure(fig, f"Self-attention weights (mean over heads) of sample test windows, from "
               f"{src}.", "attention heatmaps")
