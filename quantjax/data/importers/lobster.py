"""LOBSTER ``message`` + ``orderbook`` CSV pairs (no header rows).

Files are named ``TICKER_YYYY-MM-DD_START_END_message_LEVEL.csv`` and
``..._orderbook_LEVEL.csv``; either file of a pair may be given (plain or ``.gz``). The ticker
is the symbol and the date with ``--timezone`` (the exchange's, default America/New_York)
turns the message time (seconds after midnight) into UTC. Message columns: time, type, order
id, size, price (dollars x 10000), direction (1 buy order, -1 sell order). Orderbook row k is
the book after message k: ask price, ask size, bid price, bid size for each level.

- trades: executions of a visible (type 4) or hidden (type 5) order, the side of the taker
  being the opposite of the executed order's direction, and cross trades (type 6, side 0);
- quotes: the level-1 book after a message, whenever it differs from the book before;
- a message and book row identical to the previous pair is a duplicate (dropped, counted);
  trading halts (type 7) are counted. The tick ``timestamp`` is the exchange time; LOBSTER
  has no receive time.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from quantjax.data.importers.common import (
    BadLines,
    ImportResult,
    Progress,
    SymbolTable,
    drop_non_utf8_lines,
    int_column,
    number_column,
    read_bytes,
    read_csv_text,
    report_problems,
)
from quantjax.data.ticks import (
    MISSING,
    Quotes,
    Trades,
    concat_quotes,
    concat_trades,
    count_descents,
    empty_quotes,
    empty_trades,
    seq_key,
)
from quantjax.errors import DataError

NAME = re.compile(r"^(?P<ticker>.+?)_(?P<date>\d{4}-\d{2}-\d{2})_(?P<start>\d+)_(?P<end>\d+)_"
                  r"(?P<part>message|orderbook)_(?P<level>\d+)\.csv(\.gz)?$")
MESSAGE_COLUMNS = ["time", "type", "order_id", "size", "price", "direction"]
PRICE_SCALE = 10_000.0
EMPTY_ASK = 9_999_999_999  # LOBSTER's dummy price of an empty ask level
TRADE_TYPES = (4, 5, 6)
HALT = 7


def pairs(paths: Sequence[str | Path]) -> list[tuple[Path, Path, re.Match]]:
    """``(message, orderbook, name match)`` per pair, in the order first given."""
    out, seen = [], set()
    for p in (Path(x) for x in paths):
        m = NAME.match(p.name)
        if not m:
            raise DataError(f"{p}: not a LOBSTER file name (expected "
                            "TICKER_YYYY-MM-DD_START_END_message_LEVEL.csv or _orderbook_)")
        msg = p.with_name(p.name.replace("_orderbook_", "_message_")) if \
            m.group("part") == "orderbook" else p
        book = msg.with_name(msg.name.replace("_message_", "_orderbook_"))
        if msg in seen:
            continue
        seen.add(msg)
        for f in (msg, book):
            if not f.is_file():
                raise DataError(f"{f}: file not found (LOBSTER needs the message and the "
                                "orderbook file of a pair)")
        out.append((msg, book, NAME.match(msg.name)))
    return out


def import_lobster(paths: Sequence[str | Path], bad: BadLines, timezone: str,
                   progress: Progress | None = None) -> ImportResult:
    """Read LOBSTER pairs; see the module docstring."""
    symbols = SymbolTable()
    trades: list[Trades] = [empty_trades()]
    quotes: list[Quotes] = [empty_quotes()]
    counts: Counter = Counter()
    for fi, (msg_path, book_path, name) in enumerate(pairs(paths)):
        try:
            midnight = pd.Timestamp(name.group("date"), tz=timezone)
        except (ValueError, KeyError, Exception) as e:  # zoneinfo raises its own key error
            raise DataError(f"--timezone {timezone!r}: unknown time zone ({e})") from None
        midnight_ns = int(midnight.tz_convert("UTC").value)
        problems: list[tuple[int, str]] = []
        msg = read_csv_text(drop_non_utf8_lines(read_bytes(msg_path), problems), msg_path,
                            problems, MESSAGE_COLUMNS)
        book_problems: list[tuple[int, str]] = []
        book_bytes = drop_non_utf8_lines(read_bytes(book_path), book_problems)
        width = len(book_bytes.split(b"\n", 1)[0].split(b","))
        if width < 4 or width % 4:
            raise DataError(f"{book_path}: line 1: expected 4 fields per book level, got {width}")
        book = read_csv_text(book_bytes, book_path, book_problems,
                             ["ask", "ask_size", "bid", "bid_size"]
                             + [f"level{i}" for i in range(width - 4)])
        report_problems(book_problems, book_path, bad)
        if book.table.num_rows != msg.table.num_rows or not np.array_equal(
                book.lines, msg.lines):
            raise DataError(f"{book_path}: its rows do not match the lines of {msg_path.name} "
                            f"({book.table.num_rows} book rows for {msg.table.num_rows} "
                            "messages)")
        counts["n_lines"] += int(msg.lines.size)
        counts["n_blank_lines"] += msg.n_blank
        ok = np.ones(msg.table.num_rows, bool)
        seconds = number_column(msg, "time", problems, ok, "size")
        mtype = int_column(msg, "type", problems, ok)
        size = number_column(msg, "size", problems, ok, "size")
        price = int_column(msg, "price", problems, ok)
        direction = int_column(msg, "direction", problems, ok)
        wrong = ok & ~np.isin(mtype, np.arange(1, 8))
        for i in np.flatnonzero(wrong):
            problems.append((int(msg.lines[i]), f"column 'type': unknown message type "
                             f"{int(mtype[i])}"))
        ok &= ~wrong
        wrong = ok & ~np.isin(direction, (-1, 1))
        for i in np.flatnonzero(wrong):
            problems.append((int(msg.lines[i]), f"column 'direction': expected 1 or -1, got "
                             f"{int(direction[i])}"))
        ok &= ~wrong
        top = [int_column(book, c, problems, ok) for c in ("bid", "ask", "bid_size", "ask_size")]
        report_problems(problems, msg_path, bad)
        keep = np.flatnonzero(ok)
        lines = msg.lines[keep]
        ts = midnight_ns + np.rint(seconds[keep] * 1e9).astype(np.int64)
        counts["n_out_of_order"] += count_descents(ts)
        mtype, size, direction = mtype[keep], size[keep], direction[keep]
        price = price[keep] / PRICE_SCALE
        bid_t, ask_t, bid_s, ask_s = (c[keep] for c in top)
        # duplicates: message and book row equal to the previous pair
        rows = np.column_stack([ts, mtype, size.view(np.int64), price.view(np.int64),
                                direction, bid_t, ask_t, bid_s, ask_s])
        order_id = pc.utf8_trim_whitespace(msg.table.column("order_id").combine_chunks()).take(
            pa.array(keep)).to_numpy(zero_copy_only=False)
        dup = np.zeros(keep.size, bool)
        if keep.size > 1:
            dup[1:] = np.all(rows[1:] == rows[:-1], axis=1) & (order_id[1:] == order_id[:-1])
        counts["n_duplicate_messages"] += int(np.count_nonzero(dup))
        counts["n_halts"] += int(np.count_nonzero(mtype[~dup] == HALT))
        code = symbols.code(name.group("ticker"))
        is_trade = np.isin(mtype, TRADE_TYPES) & ~dup
        t = np.flatnonzero(is_trade)
        side = np.where(mtype[t] == 6, 0, -direction[t]).astype(np.int8)
        trades.append(Trades(
            timestamp=ts[t], exchange_time=ts[t], receive_time=np.full(t.size, MISSING),
            symbol=np.full(t.size, code, np.int32), price=price[t], size=size[t], side=side,
            trade_id=np.full(t.size, MISSING, np.int64), seq=seq_key(fi, lines[t], 0)))
        # quotes: level 1 after each message, where it changed (empty sides: NaN)
        bid = np.where(bid_t <= -EMPTY_ASK, np.nan, bid_t / PRICE_SCALE)
        ask = np.where(ask_t >= EMPTY_ASK, np.nan, ask_t / PRICE_SCALE)
        bid_v, ask_v = bid_s.astype(float), ask_s.astype(float)
        live = np.flatnonzero(~dup)
        vals = np.column_stack([bid_t, ask_t, bid_s, ask_s])[live]
        changed = np.ones(live.size, bool)
        changed[1:] = np.any(vals[1:] != vals[:-1], axis=1)
        q = live[changed]
        quotes.append(Quotes(
            timestamp=ts[q], exchange_time=ts[q], receive_time=np.full(q.size, MISSING),
            symbol=np.full(q.size, code, np.int32), bid=bid[q], ask=ask[q],
            bid_volume=bid_v[q], ask_volume=ask_v[q],
            update_id=np.full(q.size, MISSING, np.int64), seq=seq_key(fi, lines[q], 1)))
        if progress is not None:
            progress(msg_path.stat().st_size + book_path.stat().st_size)
    t_all, q_all, names = symbols.sorted(concat_trades(trades), concat_quotes(quotes))
    return ImportResult(t_all, q_all, names, "exchange", dict(counts))
