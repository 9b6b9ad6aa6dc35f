"""Tardis-style CSV files (plain or ``.gz``), one data type per file, told by its header:

- ``trades``: ``exchange, symbol, timestamp, local_timestamp, id, side, price, amount``;
- ``quotes``: ``..., ask_amount, ask_price, bid_price, bid_amount`` (an empty cell is a missing
  book side);
- ``book_snapshot_N``: ``..., asks[0].price, asks[0].amount, bids[0].price, bids[0].amount,
  ...``: level 0 gives the top of book, deeper levels are not used.

``timestamp`` (exchange) and ``local_timestamp`` (receive) are microseconds since the epoch;
the tick ``timestamp`` is the receive time. ``side`` is the taker side (``buy``, ``sell`` or
``unknown``). Integer trade ids are kept; other ids become ``2**62`` plus a code per distinct
id within the import; an empty id means none. Other columns are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from quantjax.data.importers.common import (
    BadLines,
    CsvRows,
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

BASE = ("symbol", "timestamp", "local_timestamp")
KINDS = {
    "trades": ("id", "side", "price", "amount"),
    "quotes": ("ask_amount", "ask_price", "bid_price", "bid_amount"),
    "book_snapshot": ("asks[0].price", "asks[0].amount", "bids[0].price", "bids[0].amount"),
}
_SIDES = {"buy": 1, "sell": -1, "unknown": 0}
#: non-numeric trade ids become this plus a code per distinct id (same id, same code)
TEXT_ID_OFFSET = 1 << 62


def file_kind(header: list[str], path: Path) -> str:
    """``trades``, ``quotes`` or ``book_snapshot`` from a header, or a DataError."""
    names = set(header)
    for c in BASE:
        if c not in names:
            raise DataError(f"{path}: missing column '{c}' (columns present: "
                            f"{', '.join(header)})")
    for kind, cols in KINDS.items():
        if set(cols) <= names:
            return kind
    raise DataError(f"{path}: not a Tardis trades, quotes or book_snapshot file (expected the "
                    f"columns of one of them; columns present: {', '.join(header)})")


def import_tardis(paths: Sequence[str | Path], bad: BadLines,
                  progress: Progress | None = None) -> ImportResult:
    """Read Tardis CSVs in the given order; see the module docstring."""
    symbols, ids = SymbolTable(), SymbolTable()
    trades: list[Trades] = [empty_trades()]
    quotes: list[Quotes] = [empty_quotes()]
    counts: Counter = Counter()
    files_by_kind: Counter = Counter()
    for fi, path in enumerate(Path(p) for p in paths):
        data = read_bytes(path)
        if not data.strip():
            raise DataError(f"{path}: empty file")
        problems: list[tuple[int, str]] = []
        data = drop_non_utf8_lines(data, problems)
        header = [c.strip() for c in data.split(b"\n", 1)[0].decode().strip().split(",")]
        kind = file_kind(header, path)
        files_by_kind[kind] += 1
        rows = read_csv_text(data, path, problems)
        counts["n_lines"] += int(rows.lines.size)
        counts["n_blank_lines"] += rows.n_blank
        ok = np.ones(rows.table.num_rows, bool)
        sym_text = rows.table.column("symbol").combine_chunks()
        no_sym = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(sym_text), ""), True).to_numpy(
            zero_copy_only=False)
        for i in np.flatnonzero(no_sym):
            problems.append((int(rows.lines[i]), "column 'symbol': missing value"))
        ok &= ~no_sym
        exchange_us = int_column(rows, "timestamp", problems, ok)
        receive_us = int_column(rows, "local_timestamp", problems, ok)
        if kind == "trades":
            part = _trades(rows, problems, ok, ids)
        else:
            part = _quotes(rows, problems, ok, kind)
        report_problems(problems, path, bad)
        keep = np.flatnonzero(ok)
        receive = receive_us[keep] * 1000
        counts["n_out_of_order"] += count_descents(receive)
        sym = symbols.encode(pc.utf8_trim_whitespace(sym_text).take(pa.array(keep)))
        common = dict(timestamp=receive, exchange_time=exchange_us[keep] * 1000,
                      receive_time=receive, symbol=sym, seq=seq_key(fi, rows.lines[keep]))
        if kind == "trades":
            price, size, side, trade_id = (c[keep] for c in part)
            trades.append(Trades(price=price, size=size, side=side, trade_id=trade_id,
                                 **common))
        else:
            bid, ask, bid_volume, ask_volume = (c[keep] for c in part)
            quotes.append(Quotes(bid=bid, ask=ask, bid_volume=bid_volume,
                                 ask_volume=ask_volume,
                                 update_id=np.full(keep.size, MISSING, np.int64), **common))
        if progress is not None:
            progress(path.stat().st_size)
    t_all, q_all, names = symbols.sorted(concat_trades(trades), concat_quotes(quotes))
    counts = dict(counts)
    counts["files_by_kind"] = dict(sorted(files_by_kind.items()))
    return ImportResult(t_all, q_all, names, "receive", counts)


def _trades(rows: CsvRows, problems: list, ok: np.ndarray, ids: SymbolTable):
    price = number_column(rows, "price", problems, ok, "price")
    size = number_column(rows, "amount", problems, ok, "size")
    side_text = pc.utf8_lower(pc.utf8_trim_whitespace(rows.table.column("side"))).combine_chunks()
    side_text = side_text.fill_null("").to_numpy(zero_copy_only=False)
    side = np.zeros(side_text.size, np.int8)
    for text, value in _SIDES.items():
        side[side_text == text] = value
    unknown = ~np.isin(side_text, list(_SIDES)) & ok
    for i in np.flatnonzero(unknown):
        problems.append((int(rows.lines[i]), f"column 'side': expected buy, sell or unknown, "
                         f"got {side_text[i]!r}"))
    ok &= ~unknown
    id_text = pc.utf8_trim_whitespace(rows.table.column("id")).combine_chunks()
    has_id = pc.fill_null(pc.not_equal(id_text, ""), False).to_numpy(zero_copy_only=False)
    trade_id = np.full(has_id.size, MISSING, np.int64)
    if has_id.any():
        present = id_text.filter(pa.array(has_id))
        try:
            trade_id[has_id] = present.cast(pa.int64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):  # text ids: a code per id
            trade_id[has_id] = ids.encode(present).astype(np.int64) + TEXT_ID_OFFSET
    return price, size, side, trade_id


def _quotes(rows: CsvRows, problems: list, ok: np.ndarray, kind: str):
    ask_size, ask, bid, bid_size = KINDS[kind] if kind == "quotes" else (
        "asks[0].amount", "asks[0].price", "bids[0].price", "bids[0].amount")
    return (number_column(rows, bid, problems, ok, "price", optional=True),
            number_column(rows, ask, problems, ok, "price", optional=True),
            number_column(rows, bid_size, problems, ok, "size", optional=True),
            number_column(rows, ask_size, problems, ok, "size", optional=True))
