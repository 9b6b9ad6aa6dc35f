"""Sweep report: metric against parameter plots, the sortable trial table and the DSR.

Reads ``trials.parquet`` / ``trials.csv`` (one row per trial: ``trial``, ``group``, the swept
parameters (the keys of ``metrics.json`` ``best_params``, else the dotted config keys such as
``risk.stop_loss``), then the trial metrics) and ``metrics.json`` (docs/sweep.md: ``kind``,
``objective``, ``n_trials``, ``best_trial``, ``best_params``, ``best_metrics`` and, for strategy
sweeps, ``dsr``: a number or the mapping of :func:`quantjax.sweep.dsr.deflated_sharpe_ratio`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantjax.backtest.metrics import drawdown_series
from quantjax.report.detect import read_config, read_table, trial_file
from quantjax.report.figures import new_figure, style
from quantjax.report.fmt import is_scalar
from quantjax.report.html import Report

MAX_ROWS = 1000
MAX_PLOTS = 8
LABELS = {"kind": "swept run kind", "method": "search method", "n_trials": "trials",
          "n_groups": "compiled groups", "objective": "objective", "mode": "objective mode",
          "best_trial": "best trial", "best_sharpe": "best trial Sharpe",
          "deflated_sharpe_ratio": "deflated Sharpe ratio (DSR)", "wall_s": "wall time (s)",
          "n_devices": "devices", "n_processes": "processes"}
FALLBACK_OBJECTIVES = ("sharpe", "val_score", "score", "val_accuracy", "val_auc")


def _objective(m: dict, cfg: dict, df) -> str | None:
    sweep = m.get("sweep") if isinstance(m.get("sweep"), dict) else {}
    csweep = cfg.get("sweep") if isinstance(cfg.get("sweep"), dict) else {}
    for cand in (m.get("objective"), sweep.get("objective"), csweep.get("objective")):
        if isinstance(cand, str) and cand in df.columns:
            return cand
    for cand in FALLBACK_OBJECTIVES:
        if cand in df.columns:
            return cand
    return None


def param_columns(df, m: dict) -> list[str]:
    bp = m.get("best_params")
    if isinstance(bp, dict) and bp:
        return [c for c in bp if c in df.columns]
    return [c for c in df.columns if "." in str(c) and c not in ("trial", "group")]


def build(rep: Report, run_dir: Path, m: dict) -> None:
    rep.section("Summary")
    rep.metric_table([(LABELS.get(k, k), (k,)) for k, v in m.items() if is_scalar(v)])
    for sec in ("best_params", "best_metrics", "best", "sweep"):
        if isinstance(m.get(sec), dict) and m[sec]:
            rep.metric_table([(k, (sec, k)) for k, v in m[sec].items() if is_scalar(v)],
                             headers=(sec, "value"))
    _selected_on_test(rep, m)
    _dsr(rep, m)
    _best_returns(rep, run_dir, m)
    p = trial_file(run_dir)
    if p is None:
        rep.note("No trial table (trials.parquet / trials.csv): no parameter plots or trial "
                 "table.")
        return
    df = read_table(p)
    obj = _objective(m, read_config(run_dir), df)
    params = param_columns(df, m)
    _plots(rep, df, obj, params, p.name)
    rep.section("Trials")
    shown = df.head(MAX_ROWS)
    rows = [[_py(v) for v in r] for r in shown.itertuples(index=False, name=None)]
    rep.para(f"Click a column header to sort. Source: {p.name}.")
    rep.data_table([str(c) for c in df.columns], rows, source=p.name)
    if len(df) > MAX_ROWS:
        rep.note(f"Only the first {MAX_ROWS} of {len(df)} trials are listed.")


def _selected_on_test(rep: Report, m: dict) -> None:
    best = m.get("best")
    if not (isinstance(best, dict) and isinstance(best.get("test"), dict)):
        return
    rep.section("Selected trial on the test split")
    rep.para(f"Trial {rep.value(('best', 'trial'))}, selected on validation among "
             f"{rep.value(('best', 'n_trials'))} trials, scored once on the test split.")
    test = best["test"]
    rep.metric_table([(k, ("best", "test", k)) for k, v in test.items() if is_scalar(v)],
                     headers=("test metric", "value"))
    cis = [k[:-3] for k, v in test.items() if k.endswith("_ci") and isinstance(v, list)]
    if cis:
        rep.grid_table(cis, ["95% low", "95% high"],
                       [[("best", "test", f"{k}_ci", 0), ("best", "test", f"{k}_ci", 1)]
                        for k in cis], corner="interval")
    gap = best.get("val_to_test_gap")
    if isinstance(gap, dict) and gap:
        rep.metric_table([(k, ("best", "val_to_test_gap", k)) for k in gap],
                         headers=("validation - test", "value"))


def _py(v):
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and np.isnan(v):
        return None
    return v


def _dsr(rep: Report, m: dict) -> None:
    rep.section("Deflated Sharpe ratio")
    d = m.get("dsr")
    if isinstance(d, dict):
        labels = {"dsr": "DSR", "sr0": "expected max Sharpe of unskilled trials (SR0)",
                  "sharpe": "selected trial Sharpe (per period)", "n_trials": "trials",
                  "var_sharpe": "variance of trial Sharpe ratios"}
        rep.metric_table([(labels.get(k, k), ("dsr", k)) for k, v in d.items() if is_scalar(v)],
                         headers=("DSR", "value"))
        rep.para(f"DSR {rep.value(('dsr', 'dsr'))}: the probability that the selected trial's "
                 "true Sharpe ratio exceeds the best Sharpe expected from the same number of "
                 "unskilled trials (Bailey and Lopez de Prado, 2014).")
    elif isinstance(d, (int, float)):
        rep.para(f"DSR {rep.value(('dsr',))}: the probability that the selected trial's true "
                 "Sharpe ratio exceeds the best Sharpe expected from the same number of "
                 "unskilled trials (Bailey and Lopez de Prado, 2014).")
    elif isinstance(m.get("deflated_sharpe_ratio"), (int, float)):
        rep.para(f"DSR {rep.value(('deflated_sharpe_ratio',))}.")
    else:
        rep.note("metrics.json has no dsr: the deflated Sharpe ratio applies to strategy "
                 "(backtest) sweeps that select a backtest among trials.")


def _best_returns(rep: Report, run_dir: Path, m: dict) -> None:
    p = run_dir / "best" / "returns.csv"
    if not p.is_file():
        return
    df = read_table(p)
    if "return" not in df.columns or len(df) < 2:
        return

    r = df["return"].to_numpy(np.float64)
    rep.section("Best trial")
    fig, (a1, a2) = new_figure(9, 4.4, 2, 1, sharex=True, height_ratios=[2, 1])
    a1.plot(np.cumprod(1.0 + np.nan_to_num(r)), lw=1.2)
    style(a1, "Growth of 1 of the selected trial (best/returns.csv)", ylabel="growth")
    a2.fill_between(np.arange(len(r)), drawdown_series(r), 0.0, color="tab:red", alpha=0.4, lw=0)
    style(a2, "Underwater (drawdown)", xlabel="period", ylabel="drawdown")
    rep.figure(fig, f"Trial {rep.value(('best_trial',))}: Sharpe "
               f"{rep.value(('best_sharpe',))}, DSR {rep.value(('deflated_sharpe_ratio',))}.",
               "best trial equity and drawdown")


def _plots(rep: Report, df, obj: str | None, params: list[str], name: str) -> None:
    rep.section("Objective against parameters")
    if obj is None:
        rep.note("The objective metric is not a column of the trial table (metrics.json "
                 "'objective'): no parameter plots.")
        return
    if not params:
        rep.note("The trial table has no parameter columns (dotted config keys): no "
                 "parameter plots.")
        return
    y = df[obj].to_numpy(np.float64)
    use = params[:MAX_PLOTS]
    ncols = min(3, len(use))
    nrows = -(-len(use) // ncols)
    fig, axes = new_figure(3.2 * ncols, 2.8 * nrows, nrows, ncols)
    axes = np.atleast_1d(axes).ravel()
    for ax, c in zip(axes, use, strict=False):
        col = df[c]
        if col.dtype.kind in "biuf":
            x = col.to_numpy(np.float64)
            ax.scatter(x, y, s=14, alpha=0.7)
            pos = x[np.isfinite(x)]
            if len(pos) and pos.min() > 0 and pos.max() / pos.min() > 100:
                ax.set_xscale("log")
        else:
            cats = sorted(col.astype(str).unique())
            xi = np.array([cats.index(v) for v in col.astype(str)])
            ax.scatter(xi, y, s=14, alpha=0.7)
            ax.set_xticks(range(len(cats)), cats, rotation=20, fontsize=7)
        style(ax, None, xlabel=c, ylabel=obj)
    for ax in axes[len(use):]:
        ax.set_visible(False)
    rep.figure(fig, f"Objective {obj} of every trial of {name} against each swept parameter.",
               "objective against parameters")
    if len(params) > MAX_PLOTS:
        rep.note(f"Only the first {MAX_PLOTS} of {len(params)} parameters are plotted.")
