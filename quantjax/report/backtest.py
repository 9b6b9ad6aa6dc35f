"""Backtest tear sheet: headline figures with their 95% intervals (or why the annualized ones
are null), equity vs benchmark, underwater, calendar heatmap, rolling Sharpe/vol, return
distribution with VaR/CVaR, VaR backtest, trade PnL, exposure, per-symbol table.

Reads ``metrics.json`` (``portfolio``, ``per_symbol``), ``returns.csv`` (``timestamp, equity,
return`` and optionally ``benchmark``: the benchmark's per-period returns),
``equity.parquet`` and ``trades.parquet`` (formats of docs/backtest.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantjax.backtest.metrics import drawdown_series, rolling_var
from quantjax.report.detect import read_table
from quantjax.report.figures import new_figure, style
from quantjax.report.fmt import has, is_scalar
from quantjax.report.html import Report

LABELS = {
    "total_return": "total return", "cagr": "CAGR", "annual_volatility": "annual volatility",
    "sharpe": "Sharpe ratio", "sortino": "Sortino ratio", "calmar": "Calmar ratio",
    "max_drawdown": "max drawdown", "omega": "Omega ratio", "tail_ratio": "tail ratio",
    "stability": "stability", "var_95": "VaR 95% (1 period)", "cvar_95": "CVaR 95% (1 period)",
    "psr": "PSR (P[Sharpe > 0])", "dsr": "DSR (deflated Sharpe)", "alpha": "alpha (annual)",
    "beta": "beta", "information_ratio": "information ratio", "n_trades": "trades",
    "win_rate": "win rate", "profit_factor": "profit factor", "avg_win": "average win",
    "avg_loss": "average loss", "total_fees": "total fees", "turnover": "turnover (annual)",
    "exposure": "time in market", "avg_gross_leverage": "average gross leverage",
    "n_fills": "fills", "final_equity": "final equity", "initial_equity": "initial equity",
    "breaker_tripped": "drawdown breaker tripped", "annual_return": "annual return (arithmetic)",
    "n_bars": "bars", "mean_bar_return": "mean bar return", "std_bar_return": "std of bar returns",
    "sharpe_per_bar": "Sharpe per bar (not annualized)",
    "excess_sharpe_per_bar": "excess Sharpe per bar vs benchmark",
}
HEADLINE = ("sharpe", "annual_return", "sharpe_per_bar")
PER_SYMBOL_COLS = ("total_return", "sharpe", "sharpe_per_bar", "max_drawdown",
                   "annual_volatility", "psr",
                   "n_trades", "win_rate", "total_fees", "exposure", "final_equity")
VAR_LABELS = {
    "window": "window (periods)", "level": "VaR level", "n_obs": "observations",
    "n_exceed": "exceedances", "exceed_rate": "exceedance rate", "kupiec_lr": "Kupiec POF LR",
    "kupiec_p_value": "Kupiec POF p-value",
    "christoffersen_ind_lr": "Christoffersen independence LR",
    "christoffersen_ind_p_value": "Christoffersen independence p-value",
    "christoffersen_cc_lr": "Christoffersen conditional coverage LR",
    "christoffersen_cc_p_value": "Christoffersen conditional coverage p-value",
}


def _returns(run_dir: Path, rep: Report):
    p = run_dir / "returns.csv"
    if not p.is_file():
        rep.note("returns.csv is missing: the equity, drawdown, calendar, rolling and "
                 "distribution figures are omitted.")
        return None
    df = read_table(p)
    if "return" not in df.columns or "timestamp" not in df.columns:
        rep.note("returns.csv has no timestamp/return columns: return figures omitted.")
        return None
    df["timestamp"] = pd.to_datetime(df["timestamp"], utc=True)
    return df.set_index("timestamp")


def build(rep: Report, run_dir: Path, m: dict) -> None:
    port = m.get("portfolio", {})
    ppy = float(m.get("periods_per_year") or 252.0)
    rep.section("Performance summary")
    _headline(rep, m)
    keys = [k for k in LABELS if k in port and is_scalar(port[k])]
    keys += [k for k, v in port.items() if k not in LABELS and is_scalar(v)]
    rows = [(LABELS.get(k, k), ("portfolio", k)) for k in keys]
    if has(m, ("dsr",)) and is_scalar(m["dsr"]):
        rows.append((LABELS["dsr"], ("dsr",)))
    rows = [("mode", ("mode",)), ("periods per year", ("periods_per_year",)),
            ("periods", ("n_steps",))] + rows
    rep.metric_table(rows)
    if "dsr" not in port and "dsr" not in m:
        rep.note("DSR is not shown: the deflated Sharpe ratio needs the number of trials of a "
                 "sweep; a single backtest reports PSR only.")

    df = _returns(run_dir, rep)
    if df is not None and len(df):
        r = df["return"].to_numpy(np.float64)
        _equity(rep, df, r, m)
        _calendar(rep, df)
        ann = (m.get("portfolio") or {}).get("annualization") or {}
        _rolling(rep, df, r, ppy, ann.get("annualized", True))
        _distribution(rep, r, m)
    _var_backtest(rep, m, df)
    _trades(rep, run_dir, m)
    _exposure(rep, run_dir, df)
    _per_symbol(rep, m)


def _headline(rep: Report, m: dict) -> None:
    port = m.get("portfolio", {})
    if isinstance(m.get("signal_source"), str):
        rep.para(f"Signals: {rep.value(('signal_source',))}.")
    ann = port.get("annualization")
    if isinstance(ann, dict):
        if ann.get("annualized"):
            basis = ("daily returns (intraday bars compounded per UTC day)"
                     if ann.get("basis") == "daily" else "bar returns")
            rep.para(f"Annualized figures from {basis} over "
                     f"{rep.value(('portfolio', 'annualization', 'n_days'))} trading days, "
                     f"{rep.value(('portfolio', 'annualization', 'periods_per_year'))} periods "
                     "a year.")
        else:
            rep.note(f"Annualized figures (Sharpe, Sortino, CAGR, annual return and volatility, "
                     f"Calmar, alpha, information ratio) are not shown: {ann.get('reason')}.")
    keys = [k for k in HEADLINE if k in port]
    if keys:
        rep.grid_table([LABELS.get(k, k) for k in keys], ["value", "95% low", "95% high"],
                       [[("portfolio", k), ("portfolio", f"{k}_ci", 0),
                         ("portfolio", f"{k}_ci", 1)] for k in keys], corner="headline")
    if isinstance(port.get("bootstrap"), dict):
        rep.para(f"Intervals: {rep.value(('portfolio', 'bootstrap', 'method'))} of "
                 f"{rep.value(('portfolio', 'bootstrap', 'unit'))} returns, blocks of "
                 f"{rep.value(('portfolio', 'bootstrap', 'block'))}, "
                 f"{rep.value(('portfolio', 'bootstrap', 'resamples'))} resamples, seed "
                 f"{rep.value(('portfolio', 'bootstrap', 'seed'))}.")


def _equity(rep: Report, df, r: np.ndarray, m: dict) -> None:
    rep.section("Equity and drawdown")
    fig, (a1, a2) = new_figure(9, 5.2, 2, 1, sharex=True, height_ratios=[2, 1])
    growth = np.cumprod(1.0 + np.nan_to_num(r))
    a1.plot(df.index, growth, lw=1.2, label="strategy")
    if "benchmark" in df.columns:
        b = df["benchmark"].to_numpy(np.float64)
        a1.plot(df.index, np.cumprod(1.0 + np.nan_to_num(b)), lw=1.0, color="gray",
                label="benchmark")
    a1.legend(fontsize=8)
    style(a1, "Growth of 1 (from returns.csv)", ylabel="growth")
    dd = drawdown_series(r)
    a2.fill_between(df.index, dd, 0.0, color="tab:red", alpha=0.4, lw=0)
    style(a2, "Underwater (drawdown)", ylabel="drawdown")
    a2.tick_params(axis="x", labelrotation=20)
    rep.figure(fig, f"Equity growth and drawdown. Max drawdown {rep.value(('portfolio', 'max_drawdown'))}"
               f", total return {rep.value(('portfolio', 'total_return'))}.",
               "equity curve and underwater curve")
    if "benchmark" not in df.columns:
        extra = (" (alpha, beta and information ratio against the configured benchmark are in "
                 "the summary table)" if "beta" in (m.get("portfolio") or {}) else "")
        rep.note("No benchmark series in returns.csv (no 'benchmark' column): the equity curve "
                 f"is shown without a benchmark{extra}.")


def _calendar(rep: Report, df) -> None:
    rep.section("Calendar returns")
    idx = df.index.tz_convert("UTC")
    r = df["return"].fillna(0.0)
    months = pd.PeriodIndex(idx.tz_localize(None), freq="M")
    if len(set(months)) >= 2:
        agg = (1.0 + r).groupby([idx.year, idx.month]).prod() - 1.0
        rows = sorted(set(idx.year))
        grid = np.full((len(rows), 12), np.nan)
        for (y, mo), v in agg.items():
            grid[rows.index(y), mo - 1] = v
        cols, title = [str(i) for i in range(1, 13)], "Monthly returns"
        rlab = [str(y) for y in rows]
    elif len(set(idx.normalize())) >= 2:
        days = idx.normalize()
        agg = (1.0 + r).groupby(days).prod() - 1.0
        rlab = sorted({f"{d.year}-{d.month:02d}" for d in agg.index})
        grid = np.full((len(rlab), 31), np.nan)
        for d, v in agg.items():
            grid[rlab.index(f"{d.year}-{d.month:02d}"), d.day - 1] = v
        cols, title = [str(i) for i in range(1, 32)], "Daily returns (run shorter than two months)"
    elif len(set(idx.floor("h"))) >= 2:
        hours = idx.floor("h")
        agg = (1.0 + r).groupby(hours).prod() - 1.0
        rlab = sorted({str(h.date()) for h in agg.index})
        grid = np.full((len(rlab), 24), np.nan)
        for h, v in agg.items():
            grid[rlab.index(str(h.date())), h.hour] = v
        cols, title = [str(i) for i in range(24)], "Hourly returns, UTC (run shorter than two days)"
    else:
        rep.note("The run spans less than two hours: no calendar heatmap.")
        return
    lim = np.nanmax(np.abs(grid)) or 1e-12
    fig, ax = new_figure(9, 0.5 + 0.45 * len(rlab) + 0.8)
    im = ax.imshow(grid, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
    ax.set_xticks(range(len(cols)), cols, fontsize=7)
    ax.set_yticks(range(len(rlab)), rlab, fontsize=8)
    if grid.shape[1] <= 12:
        for (i, j), v in np.ndenumerate(grid):
            if np.isfinite(v):
                ax.text(j, i, f"{100 * v:.1f}%", ha="center", va="center", fontsize=7)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.03)
    rep.figure(fig, f"{title}, compounded from the per-period returns of returns.csv.",
               "calendar returns heatmap")


def _rolling(rep: Report, df, r: np.ndarray, ppy: float, annualized: bool = True) -> None:
    rep.section("Rolling Sharpe ratio and volatility")
    if not annualized:
        _rolling_per_bar(rep, df, r)
        return
    T = len(r)
    w = int(max(5, min(ppy / 4.0, T // 5)))
    if T < 2 * w or T < 10:
        rep.note("Too few periods for rolling statistics (need at least 10 and two windows).")
        return
    s = pd.Series(r, index=df.index)
    mean, sd = s.rolling(w).mean(), s.rolling(w).std(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = (mean / sd.where(sd > 0)) * np.sqrt(ppy)
    fig, (a1, a2) = new_figure(9, 4.6, 2, 1, sharex=True)
    a1.plot(sharpe.index, sharpe.to_numpy(), lw=1.0)
    a1.axhline(0, color="k", lw=0.6)
    style(a1, "Rolling Sharpe ratio (annualized)", ylabel="Sharpe")
    a2.plot(sd.index, (sd * np.sqrt(ppy)).to_numpy(), lw=1.0, color="tab:orange")
    style(a2, "Rolling volatility (annualized)", ylabel="volatility")
    a2.tick_params(axis="x", labelrotation=20)
    rep.figure(fig, "Rolling window of a quarter of a year of periods (at most a fifth of the "
               "run), annualized with the run's periods per year "
               f"({rep.value(('periods_per_year',))}). Full-period Sharpe "
               f"{rep.value(('portfolio', 'sharpe'))}, annual volatility "
               f"{rep.value(('portfolio', 'annual_volatility'))}.", "rolling Sharpe and volatility")


def _rolling_per_bar(rep: Report, df, r: np.ndarray) -> None:
    T = len(r)
    w = int(max(5, T // 10))
    if T < 2 * w:
        rep.note("Too few periods for rolling statistics.")
        return
    s = pd.Series(r, index=df.index)
    mean, sd = s.rolling(w).mean(), s.rolling(w).std(ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        sharpe = mean / sd.where(sd > 0)
    fig, (a1, a2) = new_figure(9, 4.6, 2, 1, sharex=True)
    a1.plot(sharpe.index, sharpe.to_numpy(), lw=1.0)
    a1.axhline(0, color="k", lw=0.6)
    style(a1, f"Rolling Sharpe ratio per bar ({w} bars, not annualized)", ylabel="Sharpe")
    a2.plot(sd.index, sd.to_numpy(), lw=1.0, color="tab:orange")
    style(a2, "Rolling std of bar returns", ylabel="std")
    a2.tick_params(axis="x", labelrotation=20)
    rep.figure(fig, f"Rolling per-bar figures over a tenth of the run ({w} bars); the run is too "
               f"short to annualize. Full-run Sharpe per bar "
               f"{rep.value(('portfolio', 'sharpe_per_bar'))}.", "rolling per-bar Sharpe")


def _distribution(rep: Report, r: np.ndarray, m: dict) -> None:
    rep.section("Return distribution")
    x = r[np.isfinite(r)]
    if len(x) < 2:
        rep.note("Fewer than two returns: no distribution.")
        return
    fig, ax = new_figure(9, 3.4)
    ax.hist(x, bins=min(80, max(10, len(x) // 20)), color="tab:blue", alpha=0.75)
    for key, color, label in (("var_95", "tab:orange", "VaR 95%"),
                              ("cvar_95", "tab:red", "CVaR 95%")):
        v = m.get("portfolio", {}).get(key)
        if isinstance(v, (int, float)) and np.isfinite(v):
            ax.axvline(v, color=color, lw=1.5, ls="--", label=label)
    ax.legend(fontsize=8)
    style(ax, "Per-period returns", xlabel="return", ylabel="count")
    rep.figure(fig, f"Histogram of per-period returns with the historical VaR 95% "
               f"({rep.value(('portfolio', 'var_95'))}) and CVaR 95% "
               f"({rep.value(('portfolio', 'cvar_95'))}) from metrics.json.",
               "return distribution with VaR and CVaR")


def _var_backtest(rep: Report, m: dict, df) -> None:
    rep.section("VaR backtest")
    vb = m.get("portfolio", {}).get("var_backtest")
    if not isinstance(vb, dict):
        rep.note("metrics.json has no portfolio.var_backtest section.")
        return
    rep.metric_table([(VAR_LABELS.get(k, k), ("portfolio", "var_backtest", k))
                      for k in vb if is_scalar(vb[k])], headers=("test", "value"))
    if vb.get("n_exceed") is None:
        rep.note("Too few observations for the VaR backtest.")
        return
    if df is None:
        return

    r = df["return"].to_numpy(np.float64)
    level = float(vb.get("level", 0.95))
    var = rolling_var(r, int(vb["window"]), 1.0 - level)
    ok = np.isfinite(var)
    hit = ok & (r < var)
    fig, ax = new_figure(9, 3.2)
    ax.plot(df.index, r, lw=0.5, color="0.5", label="return")
    ax.plot(df.index[ok], var[ok], lw=1.0, color="tab:orange", label="rolling VaR forecast")
    ax.scatter(df.index[hit], r[hit], s=8, color="tab:red", label="exceedance", zorder=3)
    ax.legend(fontsize=8)
    style(ax, "Rolling historical VaR and its exceedances", ylabel="return")
    ax.tick_params(axis="x", labelrotation=20)
    rep.figure(fig, f"Returns against the rolling historical VaR forecast (window "
               f"{rep.value(('portfolio', 'var_backtest', 'window'))}); "
               f"{rep.value(('portfolio', 'var_backtest', 'n_exceed'))} exceedances in "
               f"{rep.value(('portfolio', 'var_backtest', 'n_obs'))} observations.",
               "VaR forecast and exceedances")


def _trades(rep: Report, run_dir: Path, m: dict) -> None:
    rep.section("Trades")
    rep.mapping_table(("portfolio", "exit_reasons"), headers=("exit reason", "trades"))
    p = run_dir / "trades.parquet"
    if not p.is_file():
        rep.note("trades.parquet is missing: no trade PnL histogram.")
        return
    t = read_table(p)
    pnl = t["pnl"].to_numpy(np.float64) if "pnl" in t.columns else np.zeros(0)
    pnl = pnl[np.isfinite(pnl)]
    if len(pnl) == 0:
        rep.note("No closed trades: no trade PnL histogram.")
        return
    fig, ax = new_figure(9, 3.2)
    bins = min(60, max(5, len(pnl) // 5))
    ax.hist(pnl[pnl >= 0], bins=bins, color="tab:green", alpha=0.7, label="winning")
    ax.hist(pnl[pnl < 0], bins=bins, color="tab:red", alpha=0.7, label="losing")
    ax.axvline(0, color="k", lw=0.6)
    ax.legend(fontsize=8)
    style(ax, "Trade PnL (round trips)", xlabel="PnL (cash)", ylabel="trades")
    rep.figure(fig, f"PnL of the {rep.value(('portfolio', 'n_trades'))} round-trip trades of "
               f"trades.parquet; win rate {rep.value(('portfolio', 'win_rate'))}, profit factor "
               f"{rep.value(('portfolio', 'profit_factor'))}.", "trade PnL histogram")


def _exposure(rep: Report, run_dir: Path, df) -> None:
    rep.section("Exposure")
    p = run_dir / "equity.parquet"
    if not p.is_file() or df is None or "equity" not in df.columns:
        rep.note("equity.parquet or the equity column of returns.csv is missing: no exposure "
                 "figure.")
        return
    e = read_table(p)
    if not {"timestamp", "market_value"} <= set(e.columns):
        rep.note("equity.parquet has no timestamp/market_value columns: no exposure figure.")
        return
    e["timestamp"] = pd.to_datetime(e["timestamp"], utc=True)
    mv = e["market_value"].fillna(0.0)
    gross = mv.abs().groupby(e["timestamp"]).sum()
    net = mv.groupby(e["timestamp"]).sum()
    eq = df["equity"].astype(float)
    gross, net = gross.reindex(eq.index), net.reindex(eq.index)
    with np.errstate(divide="ignore", invalid="ignore"):
        g, n = (gross / eq).to_numpy(np.float64), (net / eq).to_numpy(np.float64)
    fig, ax = new_figure(9, 3.0)
    ax.plot(eq.index, g, lw=1.0, label="gross")
    ax.plot(eq.index, n, lw=1.0, label="net")
    ax.axhline(0, color="k", lw=0.6)
    ax.legend(fontsize=8)
    style(ax, "Exposure (fraction of total equity)", ylabel="market value / equity")
    ax.tick_params(axis="x", labelrotation=20)
    rep.figure(fig, f"Gross and net market value over total equity (equity.parquet). Time in "
               f"market {rep.value(('portfolio', 'exposure'))}, average gross leverage "
               f"{rep.value(('portfolio', 'avg_gross_leverage'))}.", "exposure over time")


def _per_symbol(rep: Report, m: dict) -> None:
    per = m.get("per_symbol")
    rep.section("Per symbol")
    if not isinstance(per, dict) or not per:
        rep.note("metrics.json has no per_symbol section.")
        return
    cols = [c for c in PER_SYMBOL_COLS if any(c in v for v in per.values())]
    syms = list(per)
    rep.grid_table(syms, [LABELS.get(c, c) for c in cols],
                   [[("per_symbol", s, c) if has(m, ("per_symbol", s, c)) else None
                     for c in cols] for s in syms], corner="symbol", sortable=True)
    if m.get("mode") == "portfolio":
        rep.note("Portfolio mode: per-symbol returns are PnL contributions over the previous "
                 "portfolio equity (they sum to the portfolio return).")
