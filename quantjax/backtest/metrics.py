"""Performance and risk metrics in float64 numpy, following empyrical's conventions.

Every function takes simple per-period returns ``r[T]`` (NaN = missing, skipped like
empyrical's nan-functions) and ``periods_per_year`` (empyrical's ``annualization``; 252 for
daily bars). Formulas match empyrical-reloaded 0.5.x to float64 rounding.

Honest annualization (:func:`period_metrics`, what backtests write): intraday returns are
compounded to daily returns (UTC dates) before anything is annualized, as empyrical and
quantstats expect; below ``min_days`` trading days the annualized figures (``ANNUALIZED``)
are ``None`` with a reason, and per-bar figures (mean, std, Sharpe of bar returns) stand
beside them. On daily (or coarser) bars nothing is aggregated, so the figures are those of
:func:`return_metrics`.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from quantjax import stats as qstats

NS_PER_DAY = 86_400 * 1_000_000_000
TRADING_DAYS = 252.0
MIN_DAYS_ANNUALIZED = 20
# figures that are annualized (scaled by periods per year); None below the minimum span
ANNUALIZED = ("cagr", "annual_return", "annual_volatility", "sharpe", "sortino", "calmar",
              "alpha", "information_ratio")


def _arr(r) -> np.ndarray:
    return np.asarray(r, dtype=np.float64).ravel()


def cum_returns_final(r) -> float:
    r = _arr(r)
    return float(np.nanprod(r + 1.0) - 1.0) if len(r) else math.nan


def cagr(r, periods_per_year: float = 252.0) -> float:
    """Compound annual growth rate: ``(prod(1+r))^(ppy/T) - 1``."""
    r = _arr(r)
    if len(r) < 1:
        return math.nan
    ending = np.nanprod(r + 1.0)
    return float(ending ** (1.0 / (len(r) / periods_per_year)) - 1.0)


def annual_return(r, periods_per_year: float = 252.0) -> float:
    """Arithmetic annualized return ``mean(r) * ppy`` (Qlib's ``annualized_return``)."""
    r = _arr(r)
    if len(r) < 1 or not np.isfinite(r).any():
        return math.nan
    return float(np.nanmean(r) * periods_per_year)


def annual_volatility(r, periods_per_year: float = 252.0) -> float:
    r = _arr(r)
    if len(r) < 2:
        return math.nan
    return float(np.nanstd(r, ddof=1) * math.sqrt(periods_per_year))


def _std_zero_dispersion(r: np.ndarray) -> float:
    s = float(np.nanstd(r, ddof=1))
    if np.nanmax(r) == np.nanmin(r) and math.isfinite(s):
        return 0.0
    return s


def sharpe_ratio(r, periods_per_year: float = 252.0, risk_free: float = 0.0) -> float:
    r = _arr(r) - risk_free
    if len(r) < 2:
        return math.nan
    std = _std_zero_dispersion(r)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(np.nanmean(r), std) * math.sqrt(periods_per_year))


def downside_risk(r, periods_per_year: float = 252.0, required_return: float = 0.0) -> float:
    r = _arr(r)
    if len(r) < 1:
        return math.nan
    d = np.clip(r - required_return, -np.inf, 0.0)
    return float(np.sqrt(np.nanmean(d * d)) * math.sqrt(periods_per_year))


def sortino_ratio(r, periods_per_year: float = 252.0, required_return: float = 0.0) -> float:
    r = _arr(r)
    if len(r) < 2:
        return math.nan
    avg = np.nanmean(r - required_return) * periods_per_year
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(avg, downside_risk(r, periods_per_year, required_return)))


def drawdown_series(r) -> np.ndarray:
    """Drawdown after each period (<= 0), from a start value of 100 like empyrical."""
    r = np.nan_to_num(_arr(r), nan=0.0)
    wealth = np.concatenate([[100.0], 100.0 * np.cumprod(1.0 + r)])
    peak = np.fmax.accumulate(wealth)
    return ((wealth - peak) / peak)[1:]


def max_drawdown(r) -> float:
    r = _arr(r)
    if len(r) < 1:
        return math.nan
    return float(np.nanmin(drawdown_series(r)))


def calmar_ratio(r, periods_per_year: float = 252.0) -> float:
    mdd = max_drawdown(r)
    if not mdd < 0:
        return math.nan
    v = cagr(r, periods_per_year) / abs(mdd)
    return math.nan if math.isinf(v) else float(v)


def omega_ratio(r, periods_per_year: float = 252.0, required_return: float = 0.0) -> float:
    r = _arr(r)
    if len(r) < 2:
        return math.nan
    if periods_per_year == 1:
        thr = required_return
    elif required_return <= -1:
        return math.nan
    else:
        thr = (1 + required_return) ** (1.0 / periods_per_year) - 1
    x = r - thr
    numer = sum(x[x > 0.0])
    denom = -1.0 * sum(x[x < 0.0])
    return float(numer / denom) if denom > 0.0 else math.nan


def tail_ratio(r) -> float:
    r = _arr(r)
    r = r[~np.isnan(r)]
    if len(r) < 1:
        return math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.abs(np.percentile(r, 95)) / np.abs(np.percentile(r, 5)))


def stability_of_timeseries(r) -> float:
    r = _arr(r)
    if len(r) < 2:
        return math.nan
    r = r[~np.isnan(r)]
    cum = np.log1p(r).cumsum()
    if len(cum) < 2 or np.all(cum == cum[0]):
        return math.nan
    return float(stats.linregress(np.arange(len(cum)), cum)[2] ** 2)


def value_at_risk(r, cutoff: float = 0.05) -> float:
    """Historical VaR: the ``cutoff`` percentile of returns (a negative number for losses)."""
    r = _arr(r)
    if r.size < 1:
        return math.nan
    return float(np.percentile(r, 100 * cutoff))


def conditional_value_at_risk(r, cutoff: float = 0.05) -> float:
    """Historical CVaR: mean of the ``int((n-1) * cutoff) + 1`` lowest returns (NaN skipped)."""
    r = _arr(r)
    r = r[~np.isnan(r)]
    if len(r) == 0:
        return math.nan
    k = int((len(r) - 1) * cutoff)
    return float(np.mean(np.partition(r, k)[: k + 1]))


def beta(r, bench) -> float:
    r, b = _arr(r), _arr(bench)
    if len(r) < 1 or len(b) < 2:
        return math.nan
    ind = np.where(np.isnan(r), np.nan, b)
    res = ind - np.nanmean(ind)
    cov = np.nanmean(res * r)
    var = np.nanmean(res * res)
    return float(cov / var) if var >= 1e-30 else math.nan


def alpha(r, bench, periods_per_year: float = 252.0) -> float:
    """Annualized alpha: ``(1 + mean(r - beta * bench))^ppy - 1`` (empyrical)."""
    r, b = _arr(r), _arr(bench)
    if len(r) < 2:
        return math.nan
    bt = beta(r, b)
    return float((np.nanmean(r - bt * b) + 1.0) ** periods_per_year - 1.0)


def excess_sharpe(r, bench) -> float:
    """empyrical's ``excess_sharpe``: mean(active) / std(active), not annualized."""
    a = _arr(r) - _arr(bench)
    if len(a) < 2:
        return math.nan
    te = _std_zero_dispersion(a)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(np.nanmean(a), te))


def information_ratio(r, bench, periods_per_year: float = 252.0) -> float:
    """Annualized information ratio = ``excess_sharpe * sqrt(ppy)``."""
    return excess_sharpe(r, bench) * math.sqrt(periods_per_year)


def probabilistic_sharpe_ratio(r, sr_benchmark: float = 0.0) -> float:
    """PSR (Bailey & Lopez de Prado 2012): P(true per-period Sharpe > ``sr_benchmark``).

    ``Phi((SR - SR*) sqrt(n - 1) / sqrt(1 - skew SR + (kurt - 1) / 4 SR^2))`` with the
    non-annualized SR (ddof=1), sample skewness and (non-excess) kurtosis.
    """
    r = _arr(r)
    r = r[~np.isnan(r)]
    n = len(r)
    if n < 3:
        return math.nan
    sd = np.std(r, ddof=1)
    if not sd > 0:
        return math.nan
    sr = np.mean(r) / sd
    skew = float(stats.skew(r))
    kurt = float(stats.kurtosis(r, fisher=False))
    den = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr * sr
    if not den > 0:
        return math.nan
    return float(stats.norm.cdf((sr - sr_benchmark) * math.sqrt(n - 1) / math.sqrt(den)))


def _xlogy(x: float, y: float) -> float:
    return 0.0 if x == 0 else x * math.log(y)


def kupiec_pof(n_obs: int, n_exceed: int, p: float) -> dict:
    """Kupiec (1995) proportion-of-failures test. LR ~ chi2(1) under H0: rate = p."""
    n, x = int(n_obs), int(n_exceed)
    if n <= 0:
        return {"lr": math.nan, "p_value": math.nan}
    phat = x / n
    ll0 = _xlogy(n - x, 1 - p) + _xlogy(x, p)
    ll1 = _xlogy(n - x, 1 - phat) + _xlogy(x, phat)
    lr = max(-2.0 * (ll0 - ll1), 0.0) + 0.0
    return {"lr": lr, "p_value": float(stats.chi2.sf(lr, 1))}


def christoffersen(hits, p: float) -> dict:
    """Christoffersen (1998) independence and conditional-coverage tests on a 0/1 hit series.

    Returns the transition counts, ``lr_ind`` (chi2(1)), ``lr_cc = lr_pof + lr_ind`` (chi2(2))
    and their p-values.
    """
    h = np.asarray(hits, dtype=np.int64).ravel()
    prev, cur = h[:-1], h[1:]
    n00 = int(np.sum((prev == 0) & (cur == 0)))
    n01 = int(np.sum((prev == 0) & (cur == 1)))
    n10 = int(np.sum((prev == 1) & (cur == 0)))
    n11 = int(np.sum((prev == 1) & (cur == 1)))
    pi0 = n01 / (n00 + n01) if n00 + n01 else 0.0
    pi1 = n11 / (n10 + n11) if n10 + n11 else 0.0
    tot = n00 + n01 + n10 + n11
    pi = (n01 + n11) / tot if tot else 0.0
    ll0 = _xlogy(n00 + n10, 1 - pi) + _xlogy(n01 + n11, pi)
    ll1 = (_xlogy(n00, 1 - pi0) + _xlogy(n01, pi0) + _xlogy(n10, 1 - pi1) + _xlogy(n11, pi1))
    lr_ind = max(-2.0 * (ll0 - ll1), 0.0) + 0.0
    pof = kupiec_pof(len(h), int(h.sum()), p)
    lr_cc = pof["lr"] + lr_ind
    return {
        "n00": n00, "n01": n01, "n10": n10, "n11": n11,
        "lr_ind": lr_ind, "p_value_ind": float(stats.chi2.sf(lr_ind, 1)),
        "lr_cc": lr_cc, "p_value_cc": float(stats.chi2.sf(lr_cc, 2)),
    }


def rolling_var(r, window: int = 250, cutoff: float = 0.05) -> np.ndarray:
    """Historical VaR forecast for period t from the ``window`` returns before t (NaN warm-up)."""
    r = _arr(r)
    out = np.full(len(r), np.nan)
    if len(r) > window:

        win = sliding_window_view(r[:-1], window)  # win[i] = r[i : i+window] -> forecast i+window
        out[window:] = np.nanpercentile(win, 100 * cutoff, axis=1)
    return out


def var_backtest(r, window: int = 250, cutoff: float = 0.05) -> dict:
    """Backtest the rolling historical VaR(1 - cutoff): hit_t = r_t < VaR_t."""
    r = _arr(r)
    var = rolling_var(r, window, cutoff)
    ok = np.isfinite(var) & np.isfinite(r)
    hits = (r[ok] < var[ok]).astype(np.int64)
    if len(hits) < 2:
        return {"window": window, "level": 1 - cutoff, "n_obs": int(len(hits)), "n_exceed": None}
    pof = kupiec_pof(len(hits), int(hits.sum()), cutoff)
    ch = christoffersen(hits, cutoff)
    return {
        "window": window, "level": 1 - cutoff, "n_obs": int(len(hits)),
        "n_exceed": int(hits.sum()), "exceed_rate": float(hits.mean()),
        "kupiec_lr": pof["lr"], "kupiec_p_value": pof["p_value"],
        "christoffersen_ind_lr": ch["lr_ind"], "christoffersen_ind_p_value": ch["p_value_ind"],
        "christoffersen_cc_lr": ch["lr_cc"], "christoffersen_cc_p_value": ch["p_value_cc"],
    }


def return_metrics(r, periods_per_year: float = 252.0, benchmark=None) -> dict:
    """All return/risk metrics of one return series (keys documented in docs/backtest.md)."""
    r = _arr(r)
    out = {
        "total_return": cum_returns_final(r),
        "cagr": cagr(r, periods_per_year),
        "annual_volatility": annual_volatility(r, periods_per_year),
        "sharpe": sharpe_ratio(r, periods_per_year),
        "sortino": sortino_ratio(r, periods_per_year),
        "calmar": calmar_ratio(r, periods_per_year),
        "max_drawdown": max_drawdown(r),
        "omega": omega_ratio(r, periods_per_year),
        "tail_ratio": tail_ratio(r),
        "stability": stability_of_timeseries(r),
        "var_95": value_at_risk(r, 0.05),
        "cvar_95": conditional_value_at_risk(r, 0.05),
        "psr": probabilistic_sharpe_ratio(r, 0.0),
    }
    if benchmark is not None:
        b = _arr(benchmark)
        out["alpha"] = alpha(r, b, periods_per_year)
        out["beta"] = beta(r, b)
        out["information_ratio"] = information_ratio(r, b, periods_per_year)
    return out


def daily_returns(r, timestamps) -> tuple[np.ndarray, np.ndarray]:
    """``(days[D], r_daily[D])``: bar returns ``r[T]`` compounded within each UTC date of
    ``timestamps[T]`` (int64 ns); NaN bars are skipped, a day without a finite return is NaN."""
    r = _arr(r)
    day = np.asarray(timestamps, np.int64) // NS_PER_DAY
    days, inv = np.unique(day, return_inverse=True)
    ok = np.isfinite(r)
    logs = np.zeros(len(days))
    np.add.at(logs, inv[ok], np.log1p(r[ok]))
    seen = np.zeros(len(days), bool)
    seen[inv[ok]] = True
    return days, np.where(seen, np.expm1(logs), np.nan)


def annualization(timestamps, periods_per_year: float,
                  min_days: int = MIN_DAYS_ANNUALIZED) -> dict:
    """How the annualized figures of a return series over ``timestamps[T]`` are computed:
    ``basis`` ``daily`` (intraday bars, compounded to UTC days, 252 days a year) or ``bars``
    (daily or coarser bars at ``periods_per_year``), ``periods_per_year`` of that basis,
    ``n_days`` (trading days spanned), ``min_days``, ``annualized`` (``n_days >= min_days``)
    and ``reason`` (why not, else None)."""
    ts = np.asarray(timestamps, np.int64)
    day = ts // NS_PER_DAY
    intraday = len(ts) > 1 and len(np.unique(day)) < len(ts)
    if intraday:
        basis, ppy, n_days = "daily", TRADING_DAYS, float(len(np.unique(day)))
    else:
        basis, ppy = "bars", float(periods_per_year)
        n_days = len(ts) * TRADING_DAYS / ppy if ppy > 0 else 0.0
    ok = n_days >= min_days
    reason = None if ok else (
        f"the run spans {n_days:g} trading day{'' if n_days == 1 else 's'}, fewer than the "
        f"{min_days} needed to annualize "
        "(backtest.min_days_annualized); see the per-bar figures")
    return {"basis": basis, "periods_per_year": ppy, "n_days": n_days, "min_days": int(min_days),
            "annualized": ok, "reason": reason}


def per_bar_metrics(r, benchmark=None) -> dict:
    """Per-period figures that need no annualization: ``n_bars``, ``mean_bar_return``,
    ``std_bar_return`` (ddof=1), ``sharpe_per_bar`` (mean / std) and, with a benchmark,
    ``excess_sharpe_per_bar``."""
    r = _arr(r)
    x = r[np.isfinite(r)]
    out = {"n_bars": int(len(r)),
           "mean_bar_return": float(x.mean()) if len(x) else math.nan,
           "std_bar_return": float(x.std(ddof=1)) if len(x) > 1 else math.nan,
           "sharpe_per_bar": sharpe_ratio(r, 1.0)}
    if benchmark is not None:
        out["excess_sharpe_per_bar"] = excess_sharpe(r, benchmark)
    return out


def period_metrics(r, timestamps, periods_per_year: float, benchmark=None,
                   min_days: int = MIN_DAYS_ANNUALIZED) -> dict:
    """:func:`return_metrics` with honest annualization (module docstring): the
    ``ANNUALIZED`` figures come from daily-compounded returns of intraday bars and are
    ``None`` below ``min_days``; :func:`per_bar_metrics` beside them; ``annualization``
    (:func:`annualization`) records the basis, the span and the reason."""
    r = _arr(r)
    ann = annualization(timestamps, periods_per_year, min_days)
    out = return_metrics(r, periods_per_year, benchmark)
    out["annual_return"] = annual_return(r, periods_per_year)
    if ann["basis"] == "daily":
        _, rd = daily_returns(r, timestamps)
        bd = None if benchmark is None else daily_returns(benchmark, timestamps)[1]
        daily = return_metrics(rd, TRADING_DAYS, bd)
        daily["annual_return"] = annual_return(rd, TRADING_DAYS)
        for k in ANNUALIZED:
            if k in out:
                out[k] = daily[k]
    if not ann["annualized"]:
        for k in ANNUALIZED:
            if k in out:
                out[k] = None
    out.update(per_bar_metrics(r, benchmark))
    out["annualization"] = ann
    return out


def return_intervals(r, timestamps, ann: dict, n_resamples: int = qstats.DEFAULT_RESAMPLES,
                     seed: int = qstats.DEFAULT_SEED) -> dict:
    """95% circular block bootstrap intervals: ``sharpe_ci`` and ``annual_return_ci`` on the
    annualization basis of ``ann`` (:func:`annualization`; None when not annualized) and
    ``sharpe_per_bar_ci`` on the bar returns, with the ``bootstrap`` record (method, seed,
    resamples, block lengths)."""
    r = _arr(r)
    bar_block = qstats.default_block(len(r))
    out = {"sharpe_per_bar_ci": qstats.block_interval(
        qstats.moment_stats(r), qstats.mean_std_stat("ratio"), bar_block, n_resamples, seed)}
    series = daily_returns(r, timestamps)[1] if ann["basis"] == "daily" else r
    block = qstats.default_block(len(series))
    if ann["annualized"]:
        stat = qstats.moment_stats(series)
        ppy = ann["periods_per_year"]
        out["sharpe_ci"] = qstats.block_interval(stat, qstats.mean_std_stat("ratio", ppy),
                                                 block, n_resamples, seed)
        out["annual_return_ci"] = qstats.block_interval(stat, qstats.mean_std_stat("mean", ppy),
                                                        block, n_resamples, seed)
    else:
        out["sharpe_ci"] = out["annual_return_ci"] = None
    info = qstats.bootstrap_info("circular block bootstrap", n_resamples, seed, block,
                                 unit="day" if ann["basis"] == "daily" else "bar")
    info["block_bars"] = bar_block
    out["bootstrap"] = info
    return out
