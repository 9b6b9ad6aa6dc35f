"""Metrics of HFT predictions on evaluated rows (``metrics.json`` ``test.*`` / ``val.*``).

:func:`prediction_metrics` scores a predictions mapping (:func:`quantjax.hft.evaluate.
split_predictions`: ``index[N, 2]`` (symbol, t_end), predicted and true direction, return and
volatility) against:

- the baselines: majority class of the training split, persistence (the label ``h`` bars
  ago), and the linear baseline (:mod:`quantjax.hft.linear_baseline`) when given;
- the signal metrics of the price head against the realized forward return: IC (Pearson)
  and rank IC (Spearman) per time step across symbols (``ic_kind: cross_sectional``, when at
  least ``evaluation.ic_min_symbols`` symbols are evaluated), else time-series IC per symbol
  (``ic_kind: time_series``, ICIR over UTC days); mean, ICIR and the fraction positive;
- the same-rows oracle of the synthetic market (:mod:`quantjax.hft.oracle`);
- 95% circular block-bootstrap intervals (``<name>_ci``) over time: all rows of a time step
  form one group, blocks of ``max(ceil(G^(1/3)), horizon)`` consecutive time steps, so
  overlapping labels and cross-sectional correlation stay inside blocks.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import rankdata

from quantjax import stats
from quantjax.train import metrics as train_metrics

N_CLASSES = 3
NS_PER_DAY = 86_400 * 1_000_000_000


def macro_f1_batched(cm: np.ndarray) -> np.ndarray:
    """Macro-F1 ``[R]`` of confusion matrices ``cm[R, C, C]`` (rows true), as
    :func:`quantjax.train.metrics.macro_f1_from_confusion`."""
    tp = np.diagonal(cm, axis1=1, axis2=2)
    den = cm.sum(axis=1) + cm.sum(axis=2)
    f1 = 2 * tp / np.maximum(den, 1e-12)
    present = den > 0
    return np.where(present, f1, 0.0).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _nanmean(values) -> float:
    x = np.asarray(values, np.float64)
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan


def _grid(index: np.ndarray, values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    g = np.full(shape, np.nan)
    g[index[:, 0], index[:, 1]] = values
    return g


def ic_metrics(index: np.ndarray, pred: np.ndarray, target: np.ndarray, n_symbols: int,
               n_steps: int, min_symbols: int, symbols=(), timestamps=None) -> dict:
    """IC / rank IC of ``pred[N]`` against ``target[N]`` on rows ``index[N, 2]`` (module
    docstring). Keys: ``ic``, ``rank_ic``, ``icir``, ``rank_icir``, ``ic_positive_fraction``,
    ``rank_ic_positive_fraction``, ``ic_n_periods``, ``ic_kind``, ``ic_per_symbol`` (time-series
    IC and rank IC of each symbol), ``ic_series`` / ``rank_ic_series`` (host arrays used by the
    intervals; removed before writing)."""
    shape = (n_symbols, n_steps)
    P, Y = _grid(index, pred, shape), _grid(index, target, shape)
    mask = np.isfinite(P) & np.isfinite(Y)
    per_symbol = {}
    for s in np.unique(index[:, 0]):
        rows = index[:, 0] == s
        name = symbols[s] if len(symbols) > s else str(int(s))
        per_symbol[name] = {"ic": stats.pearson(pred[rows], target[rows]),
                            "rank_ic": stats.spearman(pred[rows], target[rows]),
                            "n": int(rows.sum())}
    cross = int(mask.sum(axis=0).max(initial=0)) >= min_symbols
    if cross:
        ic_t = stats.cross_sectional_ic(P, Y, mask, "pearson", min_symbols)
        ric_t = stats.cross_sectional_ic(P, Y, mask, "spearman", min_symbols)
        kind = "cross_sectional"
    else:
        # time-series IC: per UTC day (per bar index when no timestamps) over every symbol's rows
        t = index[:, 1]
        day = (np.asarray(timestamps, np.int64)[t] // NS_PER_DAY if timestamps is not None
               else np.zeros_like(t))
        ic_t, ric_t = [], []
        for d in np.unique(day):
            parts = [(day == d) & (index[:, 0] == s) for s in np.unique(index[:, 0])]
            ic_t.append(_nanmean([stats.pearson(pred[r], target[r]) for r in parts]))
            ric_t.append(_nanmean([stats.spearman(pred[r], target[r]) for r in parts]))
        ic_t, ric_t = np.asarray(ic_t), np.asarray(ric_t)
        kind = "time_series"
    a, b = stats.ic_summary(ic_t), stats.ic_summary(ric_t)
    out = {"ic_kind": kind, "ic_n_periods": a["n_periods"], "ic_per_symbol": per_symbol,
           "icir": a["icir"], "rank_icir": b["icir"],
           "ic_positive_fraction": a["positive_fraction"],
           "rank_ic_positive_fraction": b["positive_fraction"],
           "ic_series": ic_t, "rank_ic_series": ric_t}
    if cross:
        out["ic"], out["rank_ic"] = a["mean"], b["mean"]
    else:  # the mean over symbols of the whole-span time-series IC
        out["ic"] = _nanmean([v["ic"] for v in per_symbol.values()])
        out["rank_ic"] = _nanmean([v["rank_ic"] for v in per_symbol.values()])
    return out


def _ts_ic_stats(index, pred, target, group, n_groups, rank: bool):
    """``[G, S * 6]`` per-symbol correlation statistics of the rows of each time group."""
    syms = np.unique(index[:, 0])
    cols = []
    for s in syms:
        rows = index[:, 0] == s
        x, y = pred.copy(), target.copy()
        if rank:
            x[rows] = rankdata(pred[rows])
            y[rows] = rankdata(target[rows])
        st = stats.correlation_stats(np.where(rows, x, np.nan), np.where(rows, y, np.nan))
        cols.append(stats.sum_by_group(st, group, n_groups))
    return np.concatenate(cols, axis=1), len(syms)


def _mean_correlation(n_syms: int):
    def f(s):
        c = np.stack([stats.correlation_from_sums(s[:, 6 * i:6 * i + 6])
                      for i in range(n_syms)], axis=1)
        n = np.isfinite(c).sum(axis=1)
        return np.where(n > 0, np.nansum(c, axis=1) / np.maximum(n, 1), np.nan)
    return f


def intervals(p: dict, ic: dict, horizon: int, n_resamples: int, seed: int,
              oracle_acc=None, linear_pred=None) -> dict:
    """``<name>_ci`` of the headline metrics and the ``bootstrap`` record (module docstring)."""
    index = p["index"].astype(np.int64)
    y, yhat = p["true_direction"], p["pred_direction"]
    group, G = stats.group_rows(index[:, 1])
    block = stats.default_block(G, horizon)

    def ci(row_stats, statistic):
        return stats.block_interval(stats.sum_by_group(row_stats, group, G), statistic, block,
                                    n_resamples, seed)

    correct = (y == yhat).astype(np.float64)
    ones = np.ones_like(correct)
    out = {"directional_accuracy_ci": ci(np.stack([correct, ones], 1), stats.ratio_of_sums())}
    cm_rows = np.eye(N_CLASSES * N_CLASSES)[y * N_CLASSES + yhat]
    out["macro_f1_ci"] = ci(cm_rows, lambda s: macro_f1_batched(
        s.reshape(-1, N_CLASSES, N_CLASSES)))
    if ic["ic_kind"] == "cross_sectional":
        for key, series in (("ic", ic["ic_series"]), ("rank_ic", ic["rank_ic_series"])):
            x = np.asarray(series)
            x = x[np.isfinite(x)]
            b = stats.default_block(len(x), horizon)
            m = stats.moment_stats(x)
            out[f"{key}_ci"] = stats.block_interval(m, stats.mean_std_stat("mean"), b,
                                                    n_resamples, seed)
            out[f"{key.replace('ic', 'icir')}_ci"] = stats.block_interval(
                m, stats.mean_std_stat("ratio"), b, n_resamples, seed)
    else:
        for key, rank in (("ic", False), ("rank_ic", True)):
            st, n_syms = _ts_ic_stats(index, p["pred_return"], p["true_return"], group, G, rank)
            out[f"{key}_ci"] = stats.block_interval(st, _mean_correlation(n_syms), block,
                                                    n_resamples, seed)
    if oracle_acc is not None:
        out["bayes_accuracy_ci"] = ci(np.stack([oracle_acc, ones], 1), stats.ratio_of_sums())
        out["accuracy_over_bayes_ci"] = ci(np.stack([correct, oracle_acc], 1),
                                           stats.ratio_of_sums())
    if linear_pred is not None:
        lin = (y == linear_pred).astype(np.float64)
        out["linear_baseline_accuracy_ci"] = ci(np.stack([lin, ones], 1), stats.ratio_of_sums())
        out["accuracy_minus_linear_ci"] = ci(np.stack([correct - lin, ones], 1),
                                             stats.ratio_of_sums())
    out["bootstrap"] = stats.bootstrap_info("circular block bootstrap over time steps",
                                            n_resamples, seed, block, unit="time step")
    return out


def prediction_metrics(p: dict, ds, horizon: int, majority, ecfg, *, oracle=None,
                       bayes_population: float | None = None, linear: dict | None = None,
                       timestamps=None, with_intervals: bool = True) -> dict:
    """Host metrics (float64) of predictions ``p`` on the rows ``p["index"]`` of dataset ``ds``
    (for the persistence baselines and shapes). ``majority``: the training majority class (an
    int, or ``[N]`` per row for pooled walk-forward folds). ``ecfg``: the
    :class:`~quantjax.hft.config.HFTEvaluationConfig`. ``oracle``: a same-rows oracle
    (:func:`quantjax.hft.oracle.same_rows_oracle`); ``linear``: the linear baseline's
    predictions on the same rows (``pred_direction``, ``pred_return``)."""
    index = p["index"].astype(np.int64)
    s, t = index[:, 0], index[:, 1]
    y_dir, y_ret, y_vol = p["true_direction"], p["true_return"], p["realized_vol"]
    pred_dir, pred_ret, pred_vol = p["pred_direction"], p["pred_return"], p["pred_vol"]
    rep = train_metrics.classification_report(y_dir, pred_dir, N_CLASSES)
    h = int(horizon)
    tp = t - h
    ok = (tp >= 0) & np.asarray(ds.label_valid)[s, np.maximum(tp, 0)]
    majority = np.broadcast_to(np.asarray(majority), y_dir.shape)
    pers_dir = np.where(ok, np.asarray(ds.direction)[s, np.maximum(tp, 0)], majority)
    pers_ret = np.where(ok, np.asarray(ds.future_return, np.float64)[s, np.maximum(tp, 0)], 0.0)
    res = {
        "n": len(index),
        "directional_accuracy": rep["accuracy"],
        "macro_f1": rep["macro_f1"],
        "confusion_matrix": rep["confusion_matrix"],
        "price_mae": train_metrics.mae(y_ret, pred_ret),
        "vol_r2": train_metrics.r2_score(y_vol, pred_vol),
        "majority_baseline_accuracy": float(np.mean(y_dir == majority)),
        "persistence_baseline_accuracy": float(np.mean(y_dir == pers_dir)),
        "zero_return_price_mae": train_metrics.mae(y_ret, np.zeros_like(y_ret)),
        "persistence_price_mae": train_metrics.mae(y_ret, pers_ret),
        "class_frequencies": (np.bincount(y_dir, minlength=N_CLASSES)
                              / max(len(y_dir), 1)).tolist(),
    }
    S, T = np.asarray(ds.direction).shape
    ic = ic_metrics(index, pred_ret, y_ret, S, T, ecfg.ic_min_symbols,
                    getattr(ds, "symbols", ()), timestamps)
    res.update({k: v for k, v in ic.items() if not k.endswith("_series")})
    oracle_acc = None
    if bayes_population is not None:
        res["bayes_accuracy_population"] = float(bayes_population)
    if oracle is not None and len(index):
        o = oracle(index)
        oracle_acc = o["accuracy"]
        res["bayes_accuracy"] = float(np.mean(oracle_acc))
        res["bayes_accuracy_realized"] = float(np.mean(o["pred"] == y_dir))
        res["accuracy_over_bayes"] = rep["accuracy"] / res["bayes_accuracy"]
        res["bayes_oracle_paths"] = int(ecfg.oracle_paths)
    lin_dir = None
    if linear is not None:
        lin_dir = linear["pred_direction"]
        lin_rep = train_metrics.classification_report(y_dir, lin_dir, N_CLASSES)
        lin_ic = ic_metrics(index, linear["pred_return"], y_ret, S, T, ecfg.ic_min_symbols)
        res.update({
            "linear_baseline_accuracy": lin_rep["accuracy"],
            "linear_baseline_macro_f1": lin_rep["macro_f1"],
            "linear_baseline_price_mae": train_metrics.mae(y_ret, linear["pred_return"]),
            "linear_baseline_ic": lin_ic["ic"], "linear_baseline_rank_ic": lin_ic["rank_ic"],
            "accuracy_minus_linear": rep["accuracy"] - lin_rep["accuracy"],
        })
    if with_intervals and len(index):
        res.update(intervals(p, ic, h, ecfg.bootstrap_resamples, ecfg.bootstrap_seed,
                             oracle_acc, lin_dir))
    return res
