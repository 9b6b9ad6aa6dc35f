"""Host-side outputs: equity table, trade log, returns and the metrics.json sections."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from quantjax.backtest import metrics as perf
from quantjax.backtest.runner import BacktestResult
from quantjax.jsonio import write_json
from quantjax.risk import END, REASONS

TRADE_COLUMNS = ("symbol", "side", "entry_time", "exit_time", "size", "entry_price",
                 "exit_price", "fees", "pnl", "return", "bars_held", "exit_reason")


def _ts(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.to_datetime(np.asarray(ns, np.int64), utc=True)


def total_returns(res: BacktestResult) -> np.ndarray:
    """``[T]`` simple returns of total equity (first period vs the initial cash), float64."""
    eq = res.total_equity()
    prev = np.concatenate([[res.total_initial()], eq[:-1]])
    return eq / prev - 1.0


def book_returns(res: BacktestResult) -> np.ndarray:
    """Per-symbol returns ``[S, T]``: own book (independent) or PnL / previous portfolio
    equity (portfolio mode: contributions that sum to the portfolio return)."""
    if res.mode == "independent":
        eq = np.asarray(res.records["equity"], np.float64)
        prev = np.concatenate([np.full((eq.shape[0], 1), res.initial_cash), eq[:, :-1]], axis=1)
        return eq / prev - 1.0
    rec = res.records
    pos = np.asarray(rec["position"], np.float64)
    px = np.nan_to_num(np.asarray(rec["price"], np.float64))
    cash_flow = -(np.asarray(rec["order_qty"], np.float64) * rec["order_price"] + rec["order_fee"]
                  + np.asarray(rec["exit_qty"], np.float64) * rec["exit_price"] + rec["exit_fee"]
                  + np.asarray(rec["carry"], np.float64))
    value = pos * px
    prev_value = np.concatenate([np.zeros((pos.shape[0], 1)), value[:, :-1]], axis=1)
    pnl = value - prev_value + cash_flow
    eq = res.total_equity()
    prev_eq = np.concatenate([[res.total_initial()], eq[:-1]])
    return pnl / prev_eq


def equity_frame(res: BacktestResult) -> pd.DataFrame:
    """Long table, one row per (timestamp, symbol): position, price, market_value,
    book_cash, book_equity (book = the symbol's own book, or the shared portfolio)."""
    rec = res.records
    S, T = rec["position"].shape
    eq = np.asarray(rec["equity"], np.float64)
    cash = np.asarray(rec["cash"], np.float64)
    if eq.ndim == 1:
        eq, cash = np.broadcast_to(eq, (S, T)), np.broadcast_to(cash, (S, T))
    pos = np.asarray(rec["position"], np.float64)
    px = np.asarray(rec["price"], np.float64)
    return pd.DataFrame({
        "timestamp": np.tile(_ts(res.timestamps), S),
        "symbol": np.repeat(np.array(res.symbols, dtype=object), T),
        "position": pos.ravel(), "price": px.ravel(),
        "market_value": np.where(pos != 0, pos * px, 0.0).ravel(),
        "book_cash": cash.ravel(), "book_equity": eq.ravel(),
    })


def returns_frame(res: BacktestResult, benchmark: np.ndarray | None = None) -> pd.DataFrame:
    """``timestamp, equity, return`` (+ ``benchmark`` returns when one is given)."""
    df = pd.DataFrame({"timestamp": _ts(res.timestamps), "equity": res.total_equity(),
                       "return": total_returns(res)})
    if benchmark is not None:
        df["benchmark"] = np.asarray(benchmark, np.float64)
    return df


def trade_log(res: BacktestResult) -> pd.DataFrame:
    """Round trips (flat -> position -> flat, or a flip) extracted from the fills."""
    rec = res.records
    ts = _ts(res.timestamps)
    rows = []
    for s, sym in enumerate(res.symbols):
        oq, xq = rec["order_qty"][s].astype(np.float64), rec["exit_qty"][s].astype(np.float64)
        pos_end = rec["position"][s].astype(np.float64)
        fills = []  # (t, qty, price, fee, reason, position before, position after)
        for t in np.flatnonzero((oq != 0) | (xq != 0)):
            after_order = pos_end[t] - xq[t]
            if oq[t] != 0:
                fills.append((t, oq[t], float(rec["order_price"][s, t]),
                              float(rec["order_fee"][s, t]), int(rec["order_reason"][s, t]),
                              after_order - oq[t], after_order))
            if xq[t] != 0:
                fills.append((t, xq[t], float(rec["exit_price"][s, t]),
                              float(rec["exit_fee"][s, t]), int(rec["exit_reason"][s, t]),
                              after_order, 0.0))
        cur = None
        for t, q, px, fee, reason, before, after in fills:
            if cur is not None and np.sign(after) != cur["side"]:  # reduce to 0 or flip
                closed = min(abs(q), abs(before))
                frac = closed / abs(q)
                cur["eout"] += closed * px
                cur["qout"] += closed
                cur["fees"] += fee * frac
                rows.append(_close(sym, cur, t, reason, ts))
                cur, q, fee = None, q * (1 - frac), fee * (1 - frac)
                if after == 0:
                    continue
            if cur is None:
                cur = {"side": np.sign(after), "t0": t, "ein": 0.0, "qin": 0.0, "eout": 0.0,
                       "qout": 0.0, "fees": 0.0, "size": 0.0}
            if abs(after) >= abs(before) or np.sign(before) != np.sign(after):  # adding
                cur["ein"] += abs(q) * px
                cur["qin"] += abs(q)
            else:  # partial reduction
                cur["eout"] += abs(q) * px
                cur["qout"] += abs(q)
            cur["fees"] += fee
            cur["size"] = max(cur["size"], abs(after))
        if cur is not None:  # open at the end: marked at the last price, no fee
            t = len(ts) - 1
            left = cur["qin"] - cur["qout"]
            cur["eout"] += left * float(rec["price"][s, t])
            cur["qout"] += left
            rows.append(_close(sym, cur, t, END, ts))
    df = pd.DataFrame(rows, columns=list(TRADE_COLUMNS))
    return df


def _close(sym, cur, t, reason, ts) -> dict:
    side = cur["side"]
    pnl = side * (cur["eout"] - cur["ein"]) - cur["fees"]
    return {
        "symbol": sym, "side": "long" if side > 0 else "short",
        "entry_time": ts[cur["t0"]], "exit_time": ts[t], "size": cur["size"],
        "entry_price": cur["ein"] / cur["qin"], "exit_price": cur["eout"] / max(cur["qout"], 1e-300),
        "fees": cur["fees"], "pnl": pnl, "return": pnl / cur["ein"] if cur["ein"] else math.nan,
        "bars_held": int(t - cur["t0"]), "exit_reason": REASONS[reason],
    }


def trade_metrics(trades: pd.DataFrame) -> dict:
    pnl = trades["pnl"].to_numpy(np.float64) if len(trades) else np.zeros(0)
    wins, losses = pnl[pnl > 0], pnl[pnl < 0]
    reasons = {r: int((trades["exit_reason"] == r).sum()) for r in REASONS[1:]} if len(trades) \
        else {r: 0 for r in REASONS[1:]}
    return {
        "n_trades": len(pnl),
        "win_rate": float(len(wins) / len(pnl)) if len(pnl) else math.nan,
        "profit_factor": float(wins.sum() / -losses.sum()) if len(losses) else math.nan,
        "avg_win": float(wins.mean()) if len(wins) else math.nan,
        "avg_loss": float(losses.mean()) if len(losses) else math.nan,
        "total_fees": float(trades["fees"].sum()) if len(trades) else 0.0,
        "exit_reasons": reasons,
    }


def _activity(rec: dict, s: slice | int, equity: np.ndarray, ppy: float) -> dict:
    oq = np.asarray(rec["order_qty"][s], np.float64)
    xq = np.asarray(rec["exit_qty"][s], np.float64)
    traded = np.abs(oq) * rec["order_price"][s] + np.abs(xq) * rec["exit_price"][s]
    traded = traded.sum(axis=0) if traded.ndim == 2 else traded
    pos = np.asarray(rec["position"][s], np.float64)
    px = np.nan_to_num(np.asarray(rec["price"][s], np.float64))
    gross = np.abs(pos * px)
    in_mkt = pos != 0
    if pos.ndim == 2:
        gross, in_mkt = gross.sum(axis=0), in_mkt.any(axis=0)
    T = len(equity)
    mean_eq = float(np.mean(equity)) if T else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "turnover": float(traded.sum() / mean_eq * ppy / T) if T else math.nan,
            "exposure": float(in_mkt.mean()) if T else math.nan,
            "avg_gross_leverage": float(np.mean(gross / equity)) if T else math.nan,
            "n_fills": int((oq != 0).sum() + (xq != 0).sum()),
        }


def compute_metrics(res: BacktestResult, trades: pd.DataFrame, periods_per_year: float,
                    benchmark: np.ndarray | None = None, var_window: int = 250,
                    min_days: int = perf.MIN_DAYS_ANNUALIZED,
                    bootstrap: tuple[int, int] = (1000, 0)) -> dict:
    """The ``metrics.json`` content: ``portfolio`` and ``per_symbol`` sections.

    Annualized figures follow :func:`quantjax.backtest.metrics.period_metrics` (intraday
    returns compounded to days; ``None`` with ``annualization.reason`` below ``min_days``
    trading days); the portfolio also gets 95% block-bootstrap intervals (``sharpe_ci``,
    ``annual_return_ci``, ``sharpe_per_bar_ci``; ``bootstrap = (resamples, seed)``)."""
    rec = res.records
    r = total_returns(res)
    eq = res.total_equity()
    ts = res.timestamps
    port = perf.period_metrics(r, ts, periods_per_year, benchmark, min_days)
    port.update(perf.return_intervals(r, ts, port["annualization"], *bootstrap))
    port.update(trade_metrics(trades))
    port.update(_activity(rec, slice(None), eq, periods_per_year))
    port["final_equity"] = float(eq[-1]) if len(eq) else math.nan
    port["initial_equity"] = res.total_initial()
    port["breaker_tripped"] = bool(np.any(rec["breaker"]))
    port["var_backtest"] = perf.var_backtest(r, window=min(var_window, max(len(r) // 2, 2)))
    per = {}
    br = book_returns(res)
    book_eq = np.asarray(rec["equity"], np.float64)
    for s, sym in enumerate(res.symbols):
        m = perf.period_metrics(br[s], ts, periods_per_year, benchmark, min_days)
        m.update(trade_metrics(trades[trades["symbol"] == sym] if len(trades) else trades))
        seq = book_eq[s] if book_eq.ndim == 2 else eq
        m.update(_activity(rec, s, seq, periods_per_year))
        if book_eq.ndim == 2:
            m["final_equity"] = float(book_eq[s, -1])
        per[sym] = m
    out = {"mode": res.mode, "periods_per_year": periods_per_year, "n_steps": int(len(r)),
           "annualization": port["annualization"], "portfolio": port, "per_symbol": per}
    execution = execution_metrics(res.state)
    if execution is not None:
        out["execution"] = execution
    return out


#: ``metrics.json`` ``execution`` keys (totals over symbols) and the state counters they sum
EXECUTION_KEYS = ("carry_paid", "impact_paid", "n_sent", "n_dropped", "n_limit_orders",
                  "n_limit_fills", "n_expired")


def execution_metrics(state) -> dict | None:
    """The ``execution`` section of ``metrics.json`` from a final state that tracks the
    execution rules (``None`` otherwise): :data:`EXECUTION_KEYS` summed over symbols and books
    (``carry_paid``, ``impact_paid`` in cash; the rest counts)."""
    ex = getattr(state, "execution", None)
    if ex is None:
        return None
    out = {}
    for k in EXECUTION_KEYS:
        v = np.asarray(getattr(ex, k))
        out[k] = float(v.astype(np.float64).sum()) if v.dtype.kind == "f" else int(v.sum())
    return out


def write_results(res: BacktestResult, out: str | Path, periods_per_year: float,
                  benchmark: np.ndarray | None = None,
                  min_days: int = perf.MIN_DAYS_ANNUALIZED,
                  bootstrap: tuple[int, int] = (1000, 0), info: dict | None = None) -> dict:
    """Write equity.parquet, trades.parquet, returns.csv and metrics.json into ``out``
    (``info``: extra top-level keys of metrics.json, e.g. ``signal_source``)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    trades = trade_log(res)
    equity_frame(res).to_parquet(out / "equity.parquet", index=False)
    trades.to_parquet(out / "trades.parquet", index=False)
    returns_frame(res, benchmark).to_csv(out / "returns.csv", index=False)
    metrics = compute_metrics(res, trades, periods_per_year, benchmark, min_days=min_days,
                              bootstrap=bootstrap)
    metrics.update(info or {})
    write_json(out / "metrics.json", metrics)
    return metrics
