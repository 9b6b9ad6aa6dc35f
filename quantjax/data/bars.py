"""Bars from ticks, in the long market format that ``load_market`` reads.

Intervals are aligned to multiples of the bar length since the epoch; a bar's ``timestamp`` is
the END of its interval ``[end - bar, end)`` (as in the synthetic generator), so a bar only
uses ticks that happened before its timestamp. Per symbol (rules in docs/data.md, "Importing
exchange data"):

- bars run from the first interval that ends after both the symbol's first trade and (when
  the import has quotes) its first quote, to the interval of its last tick (more than
  :data:`MAX_BARS_PER_SYMBOL` is an error);
- ``open, high, low, close, volume`` come from the trades of the interval; an interval without
  trades repeats the previous close in all four prices, with ``volume = 0``,
  ``trade_count = 0`` and ``carried = True`` (no trade is invented);
- ``bid, ask, bid_volume, ask_volume``: the prevailing quote at the bar's end (real quotes,
  also in carried bars);
- extra columns: ``trade_count``, ``buy_volume``, ``sell_volume``, ``signed_volume``
  (buyer- minus seller-initiated volume; unknown sides count in neither), ``ofi`` (order-flow
  imbalance of Cont, Kukanov and Stoikov: the sum over the interval's quote updates of
  ``e_n = 1[b_n >= b_{n-1}] B_n - 1[b_n <= b_{n-1}] B_{n-1} - 1[a_n <= a_{n-1}] A_n
  + 1[a_n >= a_{n-1}] A_{n-1}``), ``quote_count``, ``carried``.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pandas as pd

from quantjax.data.market_io import iso
from quantjax.data.ticks import Ticks
from quantjax.errors import ConfigError, DataError

_BAR = re.compile(r"^\s*(\d+)\s*(ns|us|ms|s|m|min|h|d)\s*$")
_UNIT_NS = {"ns": 1, "us": 10**3, "ms": 10**6, "s": 10**9, "m": 60 * 10**9,
            "min": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}
BAR_COLUMNS = ("timestamp", "symbol", "open", "high", "low", "close", "volume", "bid", "ask",
               "bid_volume", "ask_volume", "trade_count", "buy_volume", "sell_volume",
               "signed_volume", "ofi", "quote_count", "carried")
QUOTE_BAR_COLUMNS = ("bid", "ask", "bid_volume", "ask_volume", "ofi", "quote_count")
#: more bars than this for one symbol is an error (a timestamp far off, or a bar too short)
MAX_BARS_PER_SYMBOL = 10_000_000


def bar_nanoseconds(spec: str) -> int:
    """Nanoseconds of a bar length such as ``100ms``, ``1s``, ``1m`` (= ``1min``), ``1h``."""
    m = _BAR.match(str(spec))
    if not m or int(m.group(1)) <= 0:
        raise ConfigError(f"bar: {spec!r} is not a bar length like '100ms', '1s', '1m' or '1h'")
    return int(m.group(1)) * _UNIT_NS[m.group(2)]


def ofi_terms(bid, ask, bid_volume, ask_volume) -> np.ndarray:
    """``[N]`` order-flow-imbalance contribution of each quote update of ONE symbol in time
    order; the first update contributes 0."""
    e = np.zeros(bid.size)
    if bid.size > 1:
        b0, b1, a0, a1 = bid[:-1], bid[1:], ask[:-1], ask[1:]
        e[1:] = ((b1 >= b0) * bid_volume[1:] - (b1 <= b0) * bid_volume[:-1]
                 - (a1 <= a0) * ask_volume[1:] + (a1 >= a0) * ask_volume[:-1])
    return e


def build_bars(ticks: Ticks, bar_ns: int) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Bars of every symbol, sorted by (timestamp, symbol), and a summary dict.

    Quote columns are written only when every symbol with trades has quotes (otherwise
    ``load_market`` would reject the missing values); ``summary["quotes"]`` says which.
    """
    frames = []
    with_trades = [s for s in range(len(ticks.symbols))
                   if np.any(ticks.is_trade & (ticks.symbol == s))]
    quotes = bool(with_trades) and all(
        np.any(~ticks.is_trade & (ticks.symbol == s)) for s in with_trades)
    for s in with_trades:
        frames.append(_symbol_bars(ticks, s, bar_ns, quotes))
    columns = [c for c in BAR_COLUMNS if quotes or c not in QUOTE_BAR_COLUMNS]
    if frames:
        df = pd.concat(frames, ignore_index=True)
        df = df.sort_values(["timestamp", "symbol"], kind="stable", ignore_index=True)
    else:
        df = pd.DataFrame({c: [] for c in columns})
    df = df[columns]
    summary = {
        "n_bars": int(len(df)),
        "n_carried_bars": int(df["carried"].sum()) if len(df) else 0,
        "quotes": quotes,
        "symbols_without_trades": [ticks.symbols[s] for s in range(len(ticks.symbols))
                                   if s not in with_trades],
    }
    return df, summary


def _symbol_bars(ticks: Ticks, s: int, bar_ns: int, quotes: bool) -> pd.DataFrame:
    rows = ticks.symbol == s
    tr = rows & ticks.is_trade
    ts_t, price, size, side = ticks.timestamp[tr], ticks.price[tr], ticks.size[tr], ticks.side[tr]
    first = ts_t[0] // bar_ns
    last = ticks.timestamp[rows][-1] // bar_ns
    if quotes:
        qr = rows & ~ticks.is_trade
        ts_q = ticks.timestamp[qr]
        first = max(first, ts_q[0] // bar_ns)
    if last - first + 1 > MAX_BARS_PER_SYMBOL:
        raise DataError(
            f"symbol {ticks.symbols[s]!r}: bars from {iso(int(first * bar_ns))} to "
            f"{iso(int((last + 1) * bar_ns))} would be {int(last - first + 1)} rows (more than "
            f"{MAX_BARS_PER_SYMBOL}): check the timestamps or choose a longer --bar")
    buckets = np.arange(first, last + 1, dtype=np.int64)
    ends = (buckets + 1) * bar_ns
    lo = np.searchsorted(ts_t, buckets * bar_ns, "left")
    hi = np.searchsorted(ts_t, ends, "left")
    count = hi - lo
    has = count > 0
    starts = lo[has]
    close_idx = np.where(has, hi - 1, -1)
    # carried close: the last trade at or before each bucket (it exists: first >= first trade)
    prev = np.maximum.accumulate(np.where(has, close_idx, -1))
    prev = np.where(prev >= 0, prev, lo[0] - 1)
    close = price[prev]
    open_ = close.copy()
    high = close.copy()
    low = close.copy()
    volume = np.zeros(buckets.size)
    buy = np.zeros(buckets.size)
    sell = np.zeros(buckets.size)
    if starts.size:
        seg = slice(starts[0], hi[has][-1])
        p, q, sd = price[seg], size[seg], side[seg]
        rel = starts - starts[0]
        open_[has] = p[rel]
        high[has] = np.maximum.reduceat(p, rel)
        low[has] = np.minimum.reduceat(p, rel)
        volume[has] = np.add.reduceat(q, rel)
        buy[has] = np.add.reduceat(np.where(sd > 0, q, 0.0), rel)
        sell[has] = np.add.reduceat(np.where(sd < 0, q, 0.0), rel)
    # reduceat over a gap-free segment: buckets without trades have no start, so every start
    # reduces exactly its own bucket's trades
    out = {
        "timestamp": ends,
        "symbol": np.full(buckets.size, ticks.symbols[s], dtype=object),
        "open": open_, "high": high, "low": low, "close": close, "volume": volume,
    }
    if quotes:
        qi = np.searchsorted(ts_q, ends, "left") - 1
        q_lo = np.searchsorted(ts_q, buckets * bar_ns, "left")
        for name in ("bid", "ask", "bid_volume", "ask_volume"):
            out[name] = getattr(ticks, name)[qr][qi]
        e = ofi_terms(*(getattr(ticks, n)[qr] for n in ("bid", "ask", "bid_volume",
                                                         "ask_volume")))
        cum = np.concatenate([[0.0], np.cumsum(e)])
        out["ofi"] = cum[qi + 1] - cum[q_lo]
        out["quote_count"] = (qi + 1 - q_lo).astype(np.int64)
    out.update({
        "trade_count": count.astype(np.int64),
        "buy_volume": buy, "sell_volume": sell, "signed_volume": buy - sell,
        "carried": ~has,
    })
    return pd.DataFrame(out)
