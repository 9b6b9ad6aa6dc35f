"""Tick steps: the risk engine on every trade and quote update of a ``ticks.parquet``.

:func:`tick_series` turns :class:`~quantjax.data.ticks.Ticks` (``N`` rows, time-ordered) into
a time-major :class:`~quantjax.risk.MarketStep` of ``N`` steps for ``S`` symbols. Step ``i``
is row ``i``; it is valid for the row's symbol only (other symbols are masked and keep their
orders waiting, exactly like a missing bar):

- a trade row: ``open = high = low = close =`` the trade price, ``volume`` = its size;
- a quote row: the four prices are the mid of the new quote, ``volume = 0`` (nothing traded);
  a quote row without both sides is not valid;
- every row: the prevailing ``bid, ask, bid_volume, ask_volume`` of its symbol;
- ``elapsed`` (seconds) and ``elapsed_us`` (int32 microseconds, saturated at
  :data:`~quantjax.risk.state.AGE_MAX`) since the previous row: the presence of
  ``elapsed_us`` makes every step a *tick step* (latency and limit expiry in milliseconds,
  the probabilistic queue available).

:func:`bar_signals_on_ticks` places decisions taken at bar closes on the tick steps (the first
step of the symbol at or after the bar's timestamp, which is the bar's END: no look-ahead),
and :func:`replay_ticks` is the tick-by-tick replay: the same jitted ``risk.step`` called once
per tick from Python, as a live system would; it gives the fills of the vectorized
:func:`~quantjax.backtest.runner.simulate` over the same series.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.backtest.outputs import execution_metrics
from quantjax.backtest.runner import init_state, simulate
from quantjax.data.ticks import Ticks
from quantjax.errors import DataError
from quantjax.risk import MarketStep, RiskParams, RiskState, StepRecord, step
from quantjax.risk.state import AGE_MAX, equity

_NS_PER_DAY = 86_400 * 1_000_000_000


def tick_series(ticks: Ticks, dtype=np.float32) -> MarketStep:
    """Time-major ``MarketStep`` of the tick rows: fields ``[N, S]``, ``day``, ``elapsed`` and
    ``elapsed_us`` ``[N]`` (see the module docstring)."""
    n, n_sym = int(ticks.timestamp.size), len(ticks.symbols)
    mid = 0.5 * (ticks.bid + ticks.ask)
    price = np.where(ticks.is_trade, ticks.price, mid)
    volume = np.where(ticks.is_trade, ticks.size, 0.0)
    ok = np.isfinite(price) & (price > 0)
    rows = np.arange(n)

    def per_symbol(values, fill=np.nan):
        out = np.full((n, n_sym), fill, dtype)
        out[rows, ticks.symbol] = values
        return out

    def prevailing(values):
        """``[N, S]``: each symbol's last value at or before step i (NaN before its first)."""
        out = per_symbol(values)
        has = np.zeros((n, n_sym), bool)
        has[rows, ticks.symbol] = True
        idx = np.maximum.accumulate(np.where(has, rows[:, None], -1), axis=0)
        got = np.take_along_axis(out, np.maximum(idx, 0), axis=0)
        return np.where(idx >= 0, got, np.nan).astype(dtype)

    valid = np.zeros((n, n_sym), bool)
    valid[rows, ticks.symbol] = ok
    ts = np.asarray(ticks.timestamp, np.int64)
    gap = np.diff(ts, prepend=ts[:1]) if n else np.zeros(0, np.int64)
    day = ts // _NS_PER_DAY if n else np.zeros(0, np.int64)
    px = per_symbol(np.where(ok, price, np.nan))
    return MarketStep(
        open=px, high=px.copy(), low=px.copy(), close=px.copy(),
        volume=per_symbol(np.where(ok, volume, np.nan)), valid=valid,
        day=(day - (day[0] if n else 0)).astype(np.int32),
        bid=prevailing(ticks.bid), ask=prevailing(ticks.ask),
        bid_volume=prevailing(ticks.bid_volume), ask_volume=prevailing(ticks.ask_volume),
        elapsed=(gap * 1e-9).astype(dtype),
        elapsed_us=np.minimum(gap // 1000, AGE_MAX).astype(np.int32),
    )


def bar_signals_on_ticks(tick_timestamps: np.ndarray, tick_valid: np.ndarray,
                         bar_timestamps: np.ndarray, bar_signals: np.ndarray) -> np.ndarray:
    """``[N, S]`` targets on the tick steps (NaN = no decision) from ``bar_signals[S, T]``
    decided at the bar timestamps ``[T]`` (bar ends): each finite decision goes to the
    symbol's first valid tick step at or after its bar's timestamp; of several decisions that
    land on one step the latest bar's wins."""
    n, n_sym = tick_valid.shape
    out = np.full((n, n_sym), np.nan)
    ts = np.asarray(tick_timestamps, np.int64)
    for s in range(n_sym):
        steps = np.flatnonzero(tick_valid[:, s])
        sig = np.asarray(bar_signals[s], np.float64)
        bars = np.flatnonzero(np.isfinite(sig))
        at = np.searchsorted(ts[steps], np.asarray(bar_timestamps, np.int64)[bars], "left")
        keep = at < steps.size
        out[steps[at[keep]], s] = sig[bars[keep]]  # later bars overwrite: the latest wins
    return out


def market_axes(series: MarketStep) -> MarketStep:
    """``vmap`` axes of a tick step over symbols (independent books): per-symbol fields 0,
    the shared clock fields ``None``."""
    def per_symbol(x):
        return None if x is None else 0

    return MarketStep(0, 0, 0, 0, 0, 0, None, per_symbol(series.bid), per_symbol(series.ask),
                      per_symbol(series.bid_volume), per_symbol(series.ask_volume), None, None)


def replay_ticks(params: RiskParams, state: RiskState, series: MarketStep,
                 signals: np.ndarray, mode: str = "portfolio",
                 progress=None) -> tuple[RiskState, StepRecord]:
    """Tick-by-tick replay: one jitted ``risk.step`` per tick step, called from Python (one
    book of ``S`` symbols in ``"portfolio"`` mode, ``S`` books of one in ``"independent"``
    mode, as :func:`~quantjax.backtest.runner.simulate`). Returns the final state and the
    records stacked time-major (``[N, S]``; per-book fields ``[N]`` in portfolio mode)."""
    fn = jax.jit(step if mode == "portfolio" else
                 jax.vmap(step, in_axes=(None, 0, market_axes(series), 0)))
    n = int(series.valid.shape[0])
    sig = np.asarray(signals, np.dtype(params.initial_cash.dtype))
    recs = []
    for i in range(n):
        m = jax.tree.map(lambda a, i=i: a[i], series)
        state, rec = fn(params, state, m, sig[i])
        recs.append(rec)
        if progress is not None:
            progress(i)
    if not recs:
        raise ValueError("replay_ticks: the series has no steps")
    host = jax.device_get(recs)
    return state, jax.tree.map(lambda *xs: np.stack(xs), *host)


def tick_execution(params: RiskParams, ticks: Ticks, symbols: tuple[str, ...],
                   bar_timestamps: np.ndarray, bar_signals: np.ndarray,
                   mode: str = "independent", stepwise: bool = False) -> tuple[dict, dict]:
    """Execute bar decisions ``bar_signals[S, T]`` (``symbols`` order, NaN = no decision) on
    every tick of ``ticks``: with the vectorized :func:`~quantjax.backtest.runner.simulate`
    (``lax.scan`` over the ticks), or with ``stepwise`` through :func:`replay_ticks` (one
    jitted step per tick from Python; identical fills, tested). Returns ``(metrics, fills)``:
    ``metrics`` (``tick_steps, fills, final_equity, pnl, total_return`` and the
    ``execution`` counters) and ``fills``, 1-D columns ``timestamp`` (int64 ns), ``symbol``,
    ``qty`` (signed units), ``price``, ``fee``, ``kind`` (``order`` or ``exit``)."""
    where = {name: k for k, name in enumerate(ticks.symbols)}
    missing = [name for name in symbols if name not in where]
    if missing:
        raise DataError(f"ticks file has no ticks of symbol {missing[0]!r}")
    series = tick_series(ticks, np.dtype(params.initial_cash.dtype))
    sig = np.full((len(ticks.symbols), len(bar_timestamps)), np.nan)
    for k, name in enumerate(symbols):
        sig[where[name]] = bar_signals[k]
    tick_sig = bar_signals_on_ticks(ticks.timestamp, series.valid, bar_timestamps, sig)
    state = init_state(params, len(ticks.symbols), mode)
    if stepwise:
        final, rec = replay_ticks(params, state, series, tick_sig, mode)
    else:
        final, rec = simulate(params, state, series, jnp.asarray(tick_sig, state.cash.dtype),
                              mode=mode)
        final, rec = jax.device_get((final, rec))
    n_books = len(ticks.symbols) if mode == "independent" else 1
    initial = float(params.initial_cash) * n_books
    last = jnp.where(jnp.isfinite(final.last_price), final.last_price, 0.0)
    final_eq = float(np.sum(np.asarray(equity(final.cash, final.position, last)
                                       if mode == "portfolio" else
                                       jax.vmap(equity)(final.cash, final.position, last),
                                       np.float64)))
    fills: dict[str, list] = {k: [] for k in ("timestamp", "symbol", "qty", "price", "fee",
                                              "kind")}
    for kind in ("order", "exit"):
        qty = np.asarray(getattr(rec, f"{kind}_qty"))
        t, s = np.nonzero(qty)
        fills["timestamp"] += list(np.asarray(ticks.timestamp)[t])
        fills["symbol"] += [ticks.symbols[k] for k in s]
        fills["qty"] += list(qty[t, s].astype(np.float64))
        fills["price"] += list(np.asarray(getattr(rec, f"{kind}_price"))[t, s].astype(np.float64))
        fills["fee"] += list(np.asarray(getattr(rec, f"{kind}_fee"))[t, s].astype(np.float64))
        fills["kind"] += [kind] * len(t)
    order = np.argsort(np.asarray(fills["timestamp"], np.int64), kind="stable")
    fills = {k: np.asarray(v)[order] for k, v in fills.items()}
    metrics = {"tick_steps": int(series.valid.shape[0]), "fills": int(order.size),
               "final_equity": final_eq, "pnl": final_eq - initial,
               "total_return": final_eq / initial - 1.0,
               "execution": execution_metrics(final)}
    return metrics, fills
