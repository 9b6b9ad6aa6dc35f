"""The tick contract: trades and top-of-book quote updates of one or more symbols.

Importers (``quantjax.data.importers``) turn exchange feeds into :class:`Trades` and
:class:`Quotes` (``[N]`` numpy columns in input order), :func:`apply_rules` applies the
documented data rules (duplicates, zero sizes, unchanged and crossed quotes) and
:func:`assemble_ticks` merges them into one time-ordered :class:`Ticks` table in which every
row carries the prevailing top of book. ``ticks.parquet`` columns (docs/data.md, "Importing
exchange data"):

- ``timestamp`` (timestamp[ns, UTC]): the ordering clock (receive time where the feed has one,
  else exchange time); rows are sorted by it, ties keep the input order (files in the order
  given, then line order);
- ``exchange_time``, ``receive_time`` (timestamp[ns, UTC], null where the feed has none);
- ``symbol`` (string), ``kind`` (``"trade"`` or ``"quote"``);
- ``price``, ``size`` (float64, trades only), ``side`` (int8, trades only: +1 buyer-initiated,
  -1 seller-initiated, 0 unknown), ``trade_id`` (int64, null where the venue gives none);
- ``bid``, ``ask``, ``bid_volume``, ``ask_volume`` (float64): the top of book after a quote
  row, the prevailing one (last earlier quote of the symbol) on a trade row; null on trades
  before the symbol's first quote.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from quantjax.errors import DataError

#: int64 marker of a missing time or id (the integer value of numpy's NaT)
MISSING = np.iinfo(np.int64).min
TICK_COLUMNS = ("timestamp", "exchange_time", "receive_time", "symbol", "kind", "price", "size",
                "side", "trade_id", "bid", "ask", "bid_volume", "ask_volume")
QUOTE_FIELDS = ("bid", "ask", "bid_volume", "ask_volume")
#: counts of :func:`apply_rules`, in the order the rules run
RULE_COUNTS = ("n_duplicate_trades", "n_duplicate_quotes", "n_zero_size_trades",
               "n_zero_size_quotes", "n_crossed_quotes", "n_unchanged_quotes")


class Trades(NamedTuple):
    """``[N]`` trade columns. Times are int64 ns UTC (:data:`MISSING` where unknown)."""

    timestamp: np.ndarray  # int64, the ordering clock
    exchange_time: np.ndarray  # int64
    receive_time: np.ndarray  # int64
    symbol: np.ndarray  # int32 code into the symbols tuple
    price: np.ndarray  # float64 > 0
    size: np.ndarray  # float64 >= 0
    side: np.ndarray  # int8: +1 buyer-initiated, -1 seller-initiated, 0 unknown
    trade_id: np.ndarray  # int64, MISSING where the venue gives none
    seq: np.ndarray  # int64 input position (file, line, event): the tie order


class Quotes(NamedTuple):
    """``[N]`` top-of-book updates. A missing side holds NaN price and size."""

    timestamp: np.ndarray  # int64
    exchange_time: np.ndarray  # int64
    receive_time: np.ndarray  # int64
    symbol: np.ndarray  # int32
    bid: np.ndarray  # float64
    ask: np.ndarray  # float64
    bid_volume: np.ndarray  # float64
    ask_volume: np.ndarray  # float64
    update_id: np.ndarray  # int64, MISSING where the venue gives none
    seq: np.ndarray  # int64


class Ticks(NamedTuple):
    """``[N]`` merged tick columns in (timestamp, seq) order; see the module docstring."""

    timestamp: np.ndarray  # int64
    exchange_time: np.ndarray  # int64 (MISSING = null)
    receive_time: np.ndarray  # int64 (MISSING = null)
    symbol: np.ndarray  # int32 code into ``symbols``
    is_trade: np.ndarray  # bool
    price: np.ndarray  # float64, NaN on quote rows
    size: np.ndarray  # float64, NaN on quote rows
    side: np.ndarray  # int8, 0 on quote rows
    trade_id: np.ndarray  # int64 (MISSING = null)
    bid: np.ndarray  # float64, NaN before the first quote
    ask: np.ndarray
    bid_volume: np.ndarray
    ask_volume: np.ndarray
    symbols: tuple[str, ...]


def seq_key(file_index: int, lines: np.ndarray, event: int = 0) -> np.ndarray:
    """Tie-order key of events: file index, then 1-based line (or row), then event in line."""
    return (np.int64(file_index) << 44) | (np.asarray(lines, np.int64) << 1) | np.int64(event)


def concat_trades(parts: list[Trades]) -> Trades:
    return Trades(*(np.concatenate([getattr(p, f) for p in parts]) for f in Trades._fields))


def concat_quotes(parts: list[Quotes]) -> Quotes:
    return Quotes(*(np.concatenate([getattr(p, f) for p in parts]) for f in Quotes._fields))


def empty_trades() -> Trades:
    i8, f8 = np.zeros(0, np.int64), np.zeros(0)
    return Trades(i8, i8, i8, np.zeros(0, np.int32), f8, f8, np.zeros(0, np.int8), i8, i8)


def empty_quotes() -> Quotes:
    i8, f8 = np.zeros(0, np.int64), np.zeros(0)
    return Quotes(i8, i8, i8, np.zeros(0, np.int32), f8, f8, f8, f8, i8, i8)


def _take(cols: NamedTuple, idx: np.ndarray):
    return type(cols)(*(c[idx] for c in cols))


def _time_order(timestamp: np.ndarray, seq: np.ndarray) -> np.ndarray:
    return np.lexsort((seq, timestamp))


def count_descents(timestamp: np.ndarray) -> int:
    """Rows whose timestamp is earlier than the row before (out-of-order lines of one file)."""
    return int(np.count_nonzero(timestamp[1:] < timestamp[:-1])) if timestamp.size > 1 else 0


def _first_occurrence(keys: list[np.ndarray]) -> np.ndarray:
    """Bool ``[N]``: True for the first row (in the given order) of every distinct key tuple."""
    n = keys[0].size
    if n == 0:
        return np.ones(0, bool)
    # lexsort's last key is primary; a stable sort keeps the given order within equal keys
    order = np.lexsort(tuple(reversed(keys)))
    same = np.ones(n - 1, bool)
    for k in keys:
        ks = k[order]
        same &= ks[1:] == ks[:-1]
    first = np.ones(n, bool)
    first[order[1:][same]] = False
    return first


def _bits(x: np.ndarray) -> np.ndarray:
    """float64 -> int64 keys equal exactly when the floats are (NaN equal to NaN)."""
    x = np.where(np.isnan(x), np.nan, x) + 0.0  # one NaN payload; -0.0 -> 0.0
    return x.view(np.int64)


def apply_rules(trades: Trades, quotes: Quotes) -> tuple[Trades, Quotes, dict[str, int]]:
    """Sort by (timestamp, seq) and apply the data rules, each row counted by the first that
    drops it (docs/data.md):

    1. a trade with the same symbol and trade id as an earlier one is a duplicate (trades
       without an id are never duplicates); a quote with the same symbol, update id (or, without
       one, exchange time) and the same four values as an earlier one is a duplicate;
    2. a trade of size 0, and a quote with a zero or missing price or size on either side;
    3. a crossed or locked quote (``bid >= ask``);
    4. a quote equal (all four values) to the previous kept quote of its symbol: no update.

    Returns the kept trades and quotes in (timestamp, seq) order and the counts
    (:data:`RULE_COUNTS`).
    """
    trades = _take(trades, _time_order(trades.timestamp, trades.seq))
    quotes = _take(quotes, _time_order(quotes.timestamp, quotes.seq))
    counts = dict.fromkeys(RULE_COUNTS, 0)

    has_id = trades.trade_id != MISSING
    keep = np.ones(trades.timestamp.size, bool)
    if has_id.any():
        idx = np.flatnonzero(has_id)
        first = _first_occurrence([trades.symbol[idx], trades.trade_id[idx]])
        keep[idx[~first]] = False
    counts["n_duplicate_trades"] = int(np.count_nonzero(~keep))
    zero = keep & (trades.size == 0)
    counts["n_zero_size_trades"] = int(np.count_nonzero(zero))
    trades = _take(trades, np.flatnonzero(keep & ~zero))

    values = [quotes.bid, quotes.ask, quotes.bid_volume, quotes.ask_volume]
    ident = np.where(quotes.update_id != MISSING, quotes.update_id, quotes.exchange_time)
    keep = _first_occurrence([quotes.symbol, ident] + [_bits(v) for v in values])
    counts["n_duplicate_quotes"] = int(np.count_nonzero(~keep))
    with np.errstate(invalid="ignore"):
        empty = ~((quotes.bid > 0) & (quotes.ask > 0) & (quotes.bid_volume > 0)
                  & (quotes.ask_volume > 0))
    empty &= keep
    counts["n_zero_size_quotes"] = int(np.count_nonzero(empty))
    quotes = _take(quotes, np.flatnonzero(keep & ~empty))

    crossed = quotes.bid >= quotes.ask
    counts["n_crossed_quotes"] = int(np.count_nonzero(crossed))
    quotes = _take(quotes, np.flatnonzero(~crossed))
    unchanged = _unchanged(quotes)
    counts["n_unchanged_quotes"] = int(np.count_nonzero(unchanged))
    quotes = _take(quotes, np.flatnonzero(~unchanged))
    return trades, quotes, counts


def _unchanged(quotes: Quotes) -> np.ndarray:
    """Bool ``[N]``: the quote equals the previous quote of its symbol (time order)."""
    n = quotes.timestamp.size
    out = np.zeros(n, bool)
    if n < 2:
        return out
    order = np.argsort(quotes.symbol, kind="stable")
    same = quotes.symbol[order][1:] == quotes.symbol[order][:-1]
    for v in (quotes.bid, quotes.ask, quotes.bid_volume, quotes.ask_volume):
        vs = v[order]
        same &= vs[1:] == vs[:-1]
    out[order[1:][same]] = True
    return out


def assemble_ticks(trades: Trades, quotes: Quotes, symbols: tuple[str, ...]) -> Ticks:
    """Merge (rule-applied) trades and quotes into one (timestamp, seq)-ordered table where
    each trade carries the prevailing quote of its symbol (the last quote before it)."""
    nt, nq = trades.timestamp.size, quotes.timestamp.size
    ts = np.concatenate([trades.timestamp, quotes.timestamp])
    seq = np.concatenate([trades.seq, quotes.seq])
    sym = np.concatenate([trades.symbol, quotes.symbol]).astype(np.int32)
    is_trade = np.concatenate([np.ones(nt, bool), np.zeros(nq, bool)])
    # within a symbol, in time order: index of the last quote at or before each row
    by_symbol = np.lexsort((seq, ts, sym))
    row = np.arange(nt + nq)
    qpos = np.where(is_trade[by_symbol], -1, row)
    last = np.maximum.accumulate(qpos) if qpos.size else qpos
    group_start = np.zeros(nt + nq, np.int64)
    if qpos.size:
        starts = np.flatnonzero(np.r_[True, sym[by_symbol][1:] != sym[by_symbol][:-1]])
        group_start = np.repeat(starts, np.diff(np.r_[starts, qpos.size]))
    last = np.where(last >= group_start, last, -1)
    quote_row = np.full(nt + nq, -1, np.int64)  # per merged row: index into quotes, or -1
    src = by_symbol[last[last >= 0]] - nt
    quote_row[by_symbol[last >= 0]] = src
    order = np.lexsort((seq, ts))

    def quote_field(values: np.ndarray) -> np.ndarray:
        q = quote_row[order]
        out = np.full(order.size, np.nan)
        out[q >= 0] = values[q[q >= 0]]
        return out

    def merged(trade_col: np.ndarray, quote_col: np.ndarray | None, fill) -> np.ndarray:
        if quote_col is None:
            quote_col = np.full(nq, fill, trade_col.dtype)
        return np.concatenate([trade_col, quote_col])[order]

    return Ticks(
        timestamp=ts[order],
        exchange_time=merged(trades.exchange_time, quotes.exchange_time, MISSING),
        receive_time=merged(trades.receive_time, quotes.receive_time, MISSING),
        symbol=sym[order],
        is_trade=is_trade[order],
        price=merged(trades.price, None, np.nan),
        size=merged(trades.size, None, np.nan),
        side=merged(trades.side, None, 0),
        trade_id=merged(trades.trade_id, None, MISSING),
        bid=quote_field(quotes.bid),
        ask=quote_field(quotes.ask),
        bid_volume=quote_field(quotes.bid_volume),
        ask_volume=quote_field(quotes.ask_volume),
        symbols=tuple(symbols),
    )


def _time_array(values: np.ndarray) -> pa.Array:
    return pa.array(values, pa.int64(), mask=values == MISSING).cast(
        pa.timestamp("ns", tz="UTC"))


def ticks_table(ticks: Ticks) -> pa.Table:
    """The Arrow table of ``ticks.parquet`` (columns :data:`TICK_COLUMNS`)."""
    quote = ~ticks.is_trade
    symbols = pa.array(list(ticks.symbols) or [""], pa.string())
    kinds = pa.array(["trade", "quote"], pa.string())

    def floats(x: np.ndarray) -> pa.Array:
        return pa.array(x, pa.float64(), mask=np.isnan(x))

    return pa.table({
        "timestamp": pa.array(ticks.timestamp, pa.int64()).cast(pa.timestamp("ns", tz="UTC")),
        "exchange_time": _time_array(ticks.exchange_time),
        "receive_time": _time_array(ticks.receive_time),
        "symbol": pa.DictionaryArray.from_arrays(pa.array(ticks.symbol, pa.int32()), symbols),
        "kind": pa.DictionaryArray.from_arrays(pa.array(quote.astype(np.int8)), kinds),
        "price": floats(ticks.price),
        "size": floats(ticks.size),
        "side": pa.array(ticks.side, pa.int8(), mask=quote),
        "trade_id": pa.array(ticks.trade_id, pa.int64(), mask=ticks.trade_id == MISSING),
        "bid": floats(ticks.bid),
        "ask": floats(ticks.ask),
        "bid_volume": floats(ticks.bid_volume),
        "ask_volume": floats(ticks.ask_volume),
    })


def write_ticks(ticks: Ticks, path: str | Path, clock: str, source: str) -> Path:
    """Write ``ticks.parquet``; the schema metadata records the ``clock`` of ``timestamp``
    (``receive`` or ``exchange``) and the ``source`` importer."""
    table = ticks_table(ticks)
    table = table.replace_schema_metadata({"quantjax.ticks": "1", "clock": clock,
                                           "source": source})
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, str(p), compression="snappy")
    return p


def read_ticks(path: str | Path) -> Ticks:
    """Read a ``ticks.parquet`` written by :func:`write_ticks` back into :class:`Ticks`."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"ticks file not found: {p}")
    try:
        table = pq.read_table(str(p))
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{p}: cannot read Parquet file: {' '.join(str(e).split())}") from None
    missing = [c for c in TICK_COLUMNS if c not in table.column_names]
    if missing:
        raise DataError(f"{p}: not a ticks file: missing column '{missing[0]}'")

    def ints(name: str) -> np.ndarray:
        col = table.column(name).cast(pa.int64())
        return col.fill_null(MISSING).to_numpy()

    def floats(name: str) -> np.ndarray:
        return table.column(name).cast(pa.float64()).fill_null(np.nan).to_numpy()

    sym = table.column("symbol").combine_chunks()
    if not pa.types.is_dictionary(sym.type):
        sym = sym.dictionary_encode()
    names = sym.dictionary.to_pylist()
    order = sorted(range(len(names)), key=lambda i: names[i])
    rank = np.empty(len(names), np.int32)
    rank[order] = np.arange(len(names), dtype=np.int32)
    kind = table.column("kind").cast(pa.string()).to_numpy(zero_copy_only=False)
    return Ticks(
        timestamp=ints("timestamp"), exchange_time=ints("exchange_time"),
        receive_time=ints("receive_time"),
        symbol=rank[sym.indices.to_numpy(zero_copy_only=False)] if len(names) else
        np.zeros(table.num_rows, np.int32),
        is_trade=kind == "trade", price=floats("price"), size=floats("size"),
        side=table.column("side").fill_null(0).to_numpy().astype(np.int8),
        trade_id=ints("trade_id"), bid=floats("bid"), ask=floats("ask"),
        bid_volume=floats("bid_volume"), ask_volume=floats("ask_volume"),
        symbols=tuple(names[i] for i in order),
    )
