"""Binance market-data recordings: ``<receive time, ns since epoch> <JSON message>`` lines.

Messages are Binance combined-stream envelopes ``{"stream": "...", "data": {...}}`` of spot,
USD-M or coin-M futures: ``<sym>@trade``, ``<sym>@aggTrade``, ``<sym>@bookTicker``,
``<sym>@depth...`` (any depth stream), REST depth snapshots ``{"lastUpdateId": ...}`` and raw
(single-stream) messages with an ``"e"`` event type. Trades and bookTicker updates become
ticks; depth updates, snapshots and other streams are checked as JSON and counted, not used.
The tick ``timestamp`` is the receive time; ``exchange_time`` is the message's ``T``
(transaction time), else its ``E`` (event time), else null (spot bookTicker).

Speed: a chunk of lines is split with numpy (line ends, the time prefix, the stream name) and
each stream kind is parsed by ``pyarrow.json`` with an explicit schema, in C++. Lines that do
not start like ``<digits> {"stream":"`` in plain ASCII (snapshots, raw messages, other
layouts) and any kind whose fast parse fails take an exact per-line path (``json``) that
normalizes valid messages or names the bad line.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.json as pj

from quantjax.data.importers.common import (
    BadLines,
    ImportResult,
    Progress,
    SymbolTable,
    parse_numbers,
    read_chunks,
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

USED_KINDS = ("trade", "aggTrade", "bookTicker")
_S, _I = pa.string(), pa.int64()
_SCHEMAS = {
    "trade": pa.schema([("data", pa.struct([
        ("s", _S), ("t", _I), ("p", _S), ("q", _S), ("m", pa.bool_()), ("T", _I), ("E", _I),
        ("X", _S)]))]),
    "aggTrade": pa.schema([("data", pa.struct([
        ("s", _S), ("a", _I), ("p", _S), ("q", _S), ("m", pa.bool_()), ("T", _I), ("E", _I),
        ("X", _S)]))]),
    "bookTicker": pa.schema([("data", pa.struct([
        ("s", _S), ("u", _I), ("b", _S), ("B", _S), ("a", _S), ("A", _S), ("T", _I),
        ("E", _I)]))]),
    "check": pa.schema([("stream", _S)]),  # depth and other streams: JSON syntax only
}
_ENVELOPE = np.frombuffer(b'{"stream":"', np.uint8)
_NAME_WINDOW = 48
_DIGITS = 19
_POW10 = 10 ** np.arange(_DIGITS - 1, -1, -1, dtype=np.int64)
_MIN_NS = 10**17  # receive times below this (before 1973) are not epoch nanoseconds
_LINE = re.compile(r"^(\d+)\s+(\S.*)$", re.S)
_EVENTS = {"trade": "trade", "aggTrade": "aggTrade", "bookTicker": "bookTicker",
           "depthUpdate": "depth"}
_ID_FIELD = {"trade": "t", "aggTrade": "a", "bookTicker": "u"}
_TEXT_FIELDS = {"trade": ("p", "q"), "aggTrade": ("p", "q"), "bookTicker": ("b", "B", "a", "A")}


def stream_kind(name: str) -> str:
    """``trade``, ``aggTrade``, ``bookTicker``, ``depth`` or ``other`` for a stream name."""
    tail = name.split("@", 1)[1] if "@" in name else name
    if tail in USED_KINDS:
        return tail
    return "depth" if tail.startswith("depth") else "other"


def epoch_ns(values: np.ndarray) -> np.ndarray:
    """Exchange times in ms, us or ns (told apart by magnitude) -> ns; MISSING stays."""
    v = values.astype(np.int64)
    out = np.where(v < 10**14, v * 10**6, np.where(v < 10**17, v * 10**3, v))
    return np.where(values == MISSING, MISSING, out)


class _Lines:
    """The lines of one kind gathered from a chunk: JSON text and their line data."""

    def __init__(self) -> None:
        self.buffers: list[Any] = []
        self.lines: list[np.ndarray] = []
        self.receive: list[np.ndarray] = []
        self.streams: list[np.ndarray] = []


def import_binance(paths: Sequence[str | Path], bad: BadLines,
                   progress: Progress | None = None) -> ImportResult:
    """Read Binance recordings (plain or ``.gz``) in the given order; see the module doc."""
    symbols = SymbolTable()
    trades: list[Trades] = []
    quotes: list[Quotes] = []
    counts: Counter = Counter()
    streams: Counter = Counter()
    for fi, path in enumerate(Path(p) for p in paths):
        line_base = 0
        receive: list[np.ndarray] = []
        for chunk in read_chunks(path, progress):
            reader = _Chunk(chunk, path, fi, line_base, bad, symbols, counts, streams)
            t, q, ts = reader.run()
            trades.append(t)
            quotes.append(q)
            receive.append(ts)
            line_base += reader.n
        counts["n_lines"] += line_base
        if receive:
            counts["n_out_of_order"] += count_descents(np.concatenate(receive))
    t_all = concat_trades(trades) if trades else empty_trades()
    q_all = concat_quotes(quotes) if quotes else empty_quotes()
    t_all, q_all, names = symbols.sorted(t_all, q_all)
    counts = dict(counts)
    counts["lines_by_stream"] = dict(sorted(streams.items()))
    return ImportResult(t_all, q_all, names, "receive", counts)


class _Chunk:
    """One chunk of whole lines: fast numpy/pyarrow path plus the exact per-line path."""

    def __init__(self, chunk: bytes, path: Path, fi: int, line_base: int, bad: BadLines,
                 symbols: SymbolTable, counts: Counter, streams: Counter) -> None:
        self.chunk, self.path, self.fi, self.line_base = chunk, path, fi, line_base
        self.bad, self.symbols, self.counts, self.streams = bad, symbols, counts, streams
        self.a = np.frombuffer(chunk, np.uint8)
        self.ends = np.flatnonzero(self.a == 10)
        self.n = int(self.ends.size)
        self.starts = np.concatenate([[0], self.ends[:-1] + 1]).astype(np.int64)
        self.problems: list[tuple[int, str]] = []
        self.kinds: dict[str, _Lines] = {k: _Lines() for k in (*USED_KINDS, "check")}
        self._struct_key: int | None = None
        self._struct: pa.StructArray | None = None

    # ------------------------------------------------------------------ fast path
    def run(self) -> tuple[Trades, Quotes, np.ndarray]:
        a, starts, ends = self.a, self.starts, self.ends
        content_end = ends - ((ends > starts) & (a[np.maximum(ends - 1, 0)] == 13))
        spaces = np.flatnonzero(a == 32)
        k = np.searchsorted(spaces, starts)
        found = k < spaces.size
        sp = starts.copy()
        sp[found] = spaces[k[found]]  # the first space at or after each line start
        plen = sp - starts
        fast = found & (sp < content_end) & (plen >= 1) & (plen <= _DIGITS)
        if a.size and a.max() >= 128:  # non-ASCII bytes: exact path (UTF-8 check)
            hi_lines = np.unique(np.searchsorted(ends, np.flatnonzero(a >= 128)))
            fast[hi_lines] = False
        sp = np.where(fast, sp, starts)
        idx = np.flatnonzero(fast)
        receive = np.zeros(self.n, np.int64)
        if idx.size:
            # the time prefix as digits right-aligned in 19 columns (int64 holds 18 digits
            # and 19-digit numbers below 9e18)
            short = plen[idx] < _DIGITS
            cols = sp[idx, None] - _DIGITS + np.arange(_DIGITS)
            if short.any():
                used = cols >= starts[idx, None]
                cols = np.where(used, cols, sp[idx, None])
                digits = a[cols] - np.uint8(48)
                ok = np.all((digits <= 9) | ~used, axis=1)
                digits = np.where(used, digits, 0)
            else:
                digits = a[cols] - np.uint8(48)
                ok = np.all(digits <= 9, axis=1)
            ok &= digits[:, 0] < 9  # 19 digits from 9e18 may overflow: exact path
            value = digits.astype(np.int64) @ _POW10
            ok &= value >= _MIN_NS
            env = sp[idx, None] + 1 + np.arange(_ENVELOPE.size)
            ok &= np.all(a[np.minimum(env, a.size - 1)] == _ENVELOPE, axis=1)
            receive[idx] = value
            fast[idx[~ok]] = False
            idx = idx[ok]
        names, no_name = self._stream_names(idx, sp)
        fast[no_name] = False
        # every line: [prefix, json] as two binary values over the chunk (no copy)
        offsets = np.empty(2 * self.n + 1, np.int64)
        offsets[0:-1:2] = starts
        offsets[1::2] = sp
        offsets[-1] = a.size
        self.values = pa.Array.from_buffers(pa.large_binary(), 2 * self.n,
                                            [None, pa.py_buffer(offsets),
                                             pa.py_buffer(self.chunk)])
        lines = self.line_base + 1 + np.arange(self.n, dtype=np.int64)
        for name, rows in names.items():
            kind = stream_kind(name)
            self.streams[name] += rows.size
            target = self.kinds[kind if kind in USED_KINDS else "check"]
            target.buffers.append(self._take(rows))
            target.lines.append(lines[rows])
            target.receive.append(receive[rows])
            target.streams.append(np.full(rows.size, name, object))
        slow = np.flatnonzero(~fast)
        for i in slow:
            self._exact_line(int(i), lines[i], receive)
        parts = {kind: self._parse(kind) for kind in (*USED_KINDS, "check")}
        trades = [self._trades(kind, *parts[kind]) for kind in ("trade", "aggTrade")
                  if parts[kind] is not None]
        quotes = self._quotes(*parts["bookTicker"]) if parts["bookTicker"] is not None else None
        for line, reason in sorted(self.problems):
            self.bad.add(self.path, line, reason)
        kept = self._kept_receive(receive, lines)
        return (concat_trades(trades) if trades else empty_trades(),
                quotes if quotes is not None else empty_quotes(), kept)

    def _stream_names(self, idx: np.ndarray, sp: np.ndarray
                      ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Stream name -> line indices of the fast lines ``idx``, and the lines whose name
        is not found (they take the exact path). A recording has few streams: take the name
        of the first unassigned line and match it against all the others at once."""
        a, out = self.a, {}
        name_start = sp + 1 + _ENVELOPE.size
        rest = idx
        while rest.size:
            s0 = int(name_start[rest[0]])
            end = self.chunk.find(b'"', s0, min(s0 + _NAME_WINDOW, int(self.ends[rest[0]])))
            if end < 0:
                break
            name = self.chunk[s0:end + 1]  # with its closing quote
            pattern = np.frombuffer(name, np.uint8)
            cols = np.minimum(name_start[rest, None] + np.arange(pattern.size), a.size - 1)
            match = np.all(a[cols] == pattern, axis=1)
            out[name[:-1].decode("ascii")] = rest[match]
            rest = rest[~match]
        return out, rest

    def _take(self, rows: np.ndarray) -> Any:
        """The JSON parts of ``rows`` as one newline-separated buffer."""
        taken = self.values.take(pa.array(2 * rows + 1))
        end = int(np.frombuffer(taken.buffers()[1], np.int64)[rows.size])
        return taken.buffers()[2][:end]

    def _parse(self, kind: str):
        """Parse the kind's buffers with its schema; on failure redo its lines exactly."""
        lines = self.kinds[kind]
        if not lines.buffers:
            return None
        tables = []
        for i, buf in enumerate(lines.buffers):
            try:
                tables.append(_read_json(buf, _SCHEMAS[kind]))
            except pa.ArrowInvalid:
                tables.append(None)
                good = self._redo_exact(kind, i)
                lines.lines[i], lines.receive[i], lines.streams[i], buf2 = good
                tables[-1] = _read_json(buf2, _SCHEMAS[kind]) if buf2 is not None else None
        keep = [i for i, t in enumerate(tables) if t is not None]
        if not keep:
            return None
        table = pa.concat_tables([tables[i] for i in keep])
        return (table, np.concatenate([lines.lines[i] for i in keep]),
                np.concatenate([lines.receive[i] for i in keep]))

    def _redo_exact(self, kind: str, i: int):
        """Per-line parse of part ``i`` of ``kind`` (the fast parse failed on it)."""
        target = self.kinds[kind]
        old_lines = target.lines[i]
        texts: list[bytes] = []
        new_lines, new_receive, new_streams = [], [], []
        for line in old_lines:
            row = int(line - self.line_base - 1)
            got = self._normalize_line(row, int(line))
            if got is None:
                continue
            ts, name, got_kind, text = got
            if (got_kind if got_kind in USED_KINDS else "check") != kind:
                continue  # cannot happen: the stream name decided the kind
            texts.append(text)
            new_lines.append(line)
            new_receive.append(ts)
            new_streams.append(name)
        buf = pa.py_buffer(b"\n".join(texts) + b"\n") if texts else None
        return (np.array(new_lines, np.int64), np.array(new_receive, np.int64),
                np.array(new_streams, object), buf)

    # ------------------------------------------------------------------ exact path
    def _exact_line(self, i: int, line: int, receive: np.ndarray) -> None:
        got = self._normalize_line(i, line)
        if got is None:
            return
        ts, name, kind, text = got
        receive[i] = ts
        self.streams[name] += 1
        target = self.kinds[kind if kind in USED_KINDS else "check"]
        target.buffers.append(pa.py_buffer(text + b"\n"))
        target.lines.append(np.array([line], np.int64))
        target.receive.append(np.array([ts], np.int64))
        target.streams.append(np.array([name], object))

    def _normalize_line(self, i: int, line: int):
        """``(receive ns, stream name, kind, canonical JSON bytes)`` of line row ``i``, or None
        (blank line counted, or a problem recorded)."""
        raw = self.chunk[self.starts[i]:self.ends[i]]
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as e:
            self.problems.append((line, f"not UTF-8 text (byte 0x{raw[e.start]:02x})"))
            return None
        if not text:
            self.counts["n_blank_lines"] += 1
            return None
        m = _LINE.match(text)
        if not m:
            self.problems.append((line, "expected '<receive time ns> <JSON message>'"))
            return None
        ts = int(m.group(1))
        if not _MIN_NS <= ts < 2**63:
            self.problems.append((line, f"receive time {m.group(1)} is not epoch nanoseconds"))
            return None
        try:
            obj = json.loads(m.group(2))
        except (ValueError, RecursionError) as e:
            self.problems.append((line, f"invalid JSON ({str(e).split(':')[0]})"))
            return None
        try:
            name, kind, data = _classify(obj)
        except ValueError as e:
            self.problems.append((line, str(e)))
            return None
        if kind == "snapshot":
            self.counts["n_snapshots"] += 1
            self.streams["depth snapshot"] += 1
            return None
        if kind in USED_KINDS:
            try:
                data = _canonical(kind, data)
            except ValueError as e:
                self.problems.append((line, str(e)))
                return None
        else:
            data = {}
        out = json.dumps({"stream": name, "data": data}, separators=(",", ":"))
        return ts, name, kind, out.encode()

    # ------------------------------------------------------------------ columns
    def _kept_receive(self, receive: np.ndarray, lines: np.ndarray) -> np.ndarray:
        """Receive times of the chunk's good lines in line order (for out-of-order counts)."""
        bad = {line for line, _ in self.problems}
        good = receive > 0
        if bad:
            good &= ~np.isin(lines, np.fromiter(bad, np.int64))
        return receive[good]

    def _data(self, table: pa.Table, field: str) -> pa.Array:
        key = id(table)
        if self._struct_key != key:  # one combined struct per table, not one per field
            self._struct_key, self._struct = key, table.column("data").combine_chunks()
        return self._struct.field(field)

    def _required(self, table: pa.Table, lines: np.ndarray, fields: Sequence[str]) -> np.ndarray:
        ok = np.ones(table.num_rows, bool)
        data = table.column("data").combine_chunks()
        ok &= ~data.is_null().to_numpy(zero_copy_only=False)
        for f in fields:
            miss = data.field(f).is_null().to_numpy(zero_copy_only=False) & ok
            for line in lines[miss]:
                self.problems.append((int(line), f"missing field '{f}'"))
            ok &= ~miss
        return ok

    def _numbers(self, table: pa.Table, lines: np.ndarray, ok: np.ndarray, field: str,
                 what: str) -> tuple[np.ndarray, np.ndarray]:
        vals, notnum = parse_numbers(self._data(table, field), ok)
        for line, text in zip(lines[notnum], self._data(table, field).to_numpy(
                zero_copy_only=False)[notnum], strict=True):
            self.problems.append((int(line), f"field '{field}': not a number {text!r}"))
        ok = ok & ~notnum
        with np.errstate(invalid="ignore"):
            if what == "price":
                wrong = ok & ~((vals > 0) & (vals < np.inf))
                msg = "price must be finite and > 0"
            else:
                wrong = ok & ~((vals >= 0) & (vals < np.inf))
                msg = "size must be finite and >= 0"
        for line, v in zip(lines[wrong], vals[wrong], strict=True):
            self.problems.append((int(line), f"field '{field}': {msg}, got {float(v)!r}"))
        return vals, ok & ~wrong

    def _times(self, table: pa.Table) -> np.ndarray:
        out = np.full(table.num_rows, MISSING, np.int64)
        for f in ("E", "T"):  # T (transaction time) wins over E (event time)
            col = self._data(table, f)
            vals = col.fill_null(MISSING).to_numpy(zero_copy_only=False)
            out = np.where(vals != MISSING, vals, out)
        return epoch_ns(out)

    def _trades(self, kind: str, table: pa.Table, lines: np.ndarray, receive: np.ndarray
                ) -> Trades:
        ok = self._required(table, lines, ("s", "p", "q", "m"))
        price, ok = self._numbers(table, lines, ok, "p", "price")
        size, ok = self._numbers(table, lines, ok, "q", "size")
        market = self._data(table, "X")
        non_market = ok & ~market.is_null().to_numpy(zero_copy_only=False)
        if non_market.any():
            non_market &= market.fill_null("MARKET").to_numpy(zero_copy_only=False) != "MARKET"
        self.counts["n_non_market_trades"] += int(np.count_nonzero(non_market))
        keep = np.flatnonzero(ok & ~non_market)
        if not keep.size:
            return empty_trades()
        maker = self._data(table, "m").fill_null(False).to_numpy(zero_copy_only=False)
        ident = self._data(table, _ID_FIELD[kind]).fill_null(MISSING).to_numpy(
            zero_copy_only=False)
        sym = self.symbols.encode(self._data(table, "s").take(pa.array(keep)))
        return Trades(
            timestamp=receive[keep], exchange_time=self._times(table)[keep],
            receive_time=receive[keep], symbol=sym, price=price[keep], size=size[keep],
            side=np.where(maker[keep], -1, 1).astype(np.int8), trade_id=ident[keep],
            seq=seq_key(self.fi, lines[keep]),
        )

    def _quotes(self, table: pa.Table, lines: np.ndarray, receive: np.ndarray) -> Quotes:
        ok = self._required(table, lines, ("s", "b", "B", "a", "A"))
        bid, ok = self._numbers(table, lines, ok, "b", "price")
        ask, ok = self._numbers(table, lines, ok, "a", "price")
        bid_volume, ok = self._numbers(table, lines, ok, "B", "size")
        ask_volume, ok = self._numbers(table, lines, ok, "A", "size")
        keep = np.flatnonzero(ok)
        if not keep.size:
            return empty_quotes()
        ident = self._data(table, "u").fill_null(MISSING).to_numpy(zero_copy_only=False)
        sym = self.symbols.encode(self._data(table, "s").take(pa.array(keep)))
        return Quotes(
            timestamp=receive[keep], exchange_time=self._times(table)[keep],
            receive_time=receive[keep], symbol=sym, bid=bid[keep], ask=ask[keep],
            bid_volume=bid_volume[keep], ask_volume=ask_volume[keep], update_id=ident[keep],
            seq=seq_key(self.fi, lines[keep]),
        )


def _read_json(buf: Any, schema: pa.Schema) -> pa.Table:
    return pj.read_json(
        pa.BufferReader(buf),
        read_options=pj.ReadOptions(use_threads=False, block_size=max(buf.size, 1 << 20) + 1),
        parse_options=pj.ParseOptions(explicit_schema=schema,
                                      unexpected_field_behavior="ignore"),
    )


def _classify(obj: Any) -> tuple[str, str, dict]:
    """``(stream name, kind, data)`` of a parsed message, or ValueError naming the problem."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    if "stream" in obj:
        name, data = obj["stream"], obj.get("data")
        if not isinstance(name, str) or not isinstance(data, dict):
            raise ValueError("field 'stream' must be text and 'data' an object")
        return name, stream_kind(name), data
    if "lastUpdateId" in obj:
        return "depth snapshot", "snapshot", obj
    event = obj.get("e")
    if isinstance(event, str):
        kind = _EVENTS.get(event, "other")
        return f"{str(obj.get('s', '')).lower()}@{event}", kind, obj
    if {"u", "s", "b", "B", "a", "A"} <= obj.keys():
        return f"{str(obj['s']).lower()}@bookTicker", "bookTicker", obj
    raise ValueError("unrecognised message (no 'stream', 'e' or 'lastUpdateId' key)")


def _canonical(kind: str, data: dict) -> dict:
    """The fields the fast schema reads, with their JSON types fixed (numbers as text)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        if key in _TEXT_FIELDS[kind]:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise ValueError(f"field '{key}': expected a decimal number, got {value!r}")
            out[key] = value if isinstance(value, str) else repr(value)
        elif key in ("t", "a", "u", "T", "E") and key not in _TEXT_FIELDS[kind]:
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"field '{key}': expected an integer, got {value!r}")
            if not -(2**63) < value < 2**63:
                raise ValueError(f"field '{key}': integer out of range")
            out[key] = value
        elif key == "m":
            if not isinstance(value, bool):
                raise ValueError(f"field 'm': expected true or false, got {value!r}")
            out[key] = value
        elif key in ("s", "X"):
            if not isinstance(value, str):
                raise ValueError(f"field '{key}': expected text, got {value!r}")
            out[key] = value
    return out
