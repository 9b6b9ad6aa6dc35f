"""Shared pieces of the importers: bad-line handling, symbol codes, the importer result,
chunked reading of (gzip-compressed) files."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any, NamedTuple

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from isal import igzip

from quantjax.data.ticks import MISSING as MISSING_INT
from quantjax.data.ticks import Quotes, Trades
from quantjax.errors import DataError

#: how many bad lines ``metrics.json`` lists as examples under ``--skip-bad-lines``
MAX_EXAMPLES = 10
#: bytes decompressed per read; whole lines are processed per chunk
CHUNK_BYTES = 8 << 20
#: a decimal number as exchanges write it (value ranges are checked after parsing)
NUMBER_REGEX = r"^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$"

Progress = Callable[[int], None]  # called with each increment of input bytes read


class BadLines:
    """Malformed lines: an error naming the file and line, or (``skip``) a count."""

    def __init__(self, skip: bool) -> None:
        self.skip = skip
        self.count = 0
        self.examples: list[str] = []

    def add(self, path: str | Path, line: int, reason: str) -> None:
        where = f"{path}: line {line}: {reason}"
        if not self.skip:
            raise DataError(f"{where} (use --skip-bad-lines to skip malformed lines)")
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(where)


class SymbolTable:
    """Symbol name -> int32 code, shared by all files of one import."""

    def __init__(self) -> None:
        self.codes: dict[str, int] = {}

    def code(self, name: str) -> int:
        return self.codes.setdefault(name, len(self.codes))

    def encode(self, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
        """``[N]`` int32 codes of a string column (no nulls)."""
        enc = pc.dictionary_encode(column)
        if isinstance(enc, pa.ChunkedArray):
            enc = enc.combine_chunks() if enc.num_chunks != 1 else enc.chunk(0)
            if isinstance(enc, pa.ChunkedArray):  # pragma: no cover - pyarrow version detail
                enc = enc.chunk(0)
        lookup = np.array([self.code(str(s)) for s in enc.dictionary.to_pylist()], np.int32)
        idx = enc.indices.to_numpy(zero_copy_only=False)
        return lookup[idx] if lookup.size else np.zeros(idx.size, np.int32)

    def sorted(self, trades: Trades, quotes: Quotes) -> tuple[Trades, Quotes, tuple[str, ...]]:
        """Recode trades and quotes so that codes follow the sorted symbol names."""
        names = sorted(self.codes, key=str)
        rank = np.zeros(max(len(names), 1), np.int32)
        for r, n in enumerate(names):
            rank[self.codes[n]] = r
        return (trades._replace(symbol=rank[trades.symbol]),
                quotes._replace(symbol=rank[quotes.symbol]), tuple(names))


class ImportResult(NamedTuple):
    """What an importer read: trades and quotes (input order), symbols, the clock of their
    ``timestamp`` (``receive`` or ``exchange``) and the importer's own counts."""

    trades: Trades
    quotes: Quotes
    symbols: tuple[str, ...]
    clock: str
    counts: dict[str, Any]


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing ``.gz`` (ISA-L's igzip: 2-3x zlib)."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    if path.name.lower().endswith(".gz"):
        return igzip.open(path, "rb")
    return open(path, "rb")


def read_chunks(path: Path, progress: Progress | None = None) -> Iterator[bytes]:
    """Whole-line chunks of ``path`` (each ends with a newline), about CHUNK_BYTES each."""
    try:
        raw = open(path, "rb")
    except OSError as e:
        raise DataError(f"{path}: cannot read: {e.strerror or e}") from None
    with raw:
        stream: Any = igzip.open(raw, "rb") if path.name.lower().endswith(".gz") else raw
        carry, seen = b"", 0
        while True:
            try:
                block = stream.read(CHUNK_BYTES)
            except (OSError, EOFError, ValueError) as e:
                raise DataError(f"{path}: cannot decompress: {' '.join(str(e).split())}") \
                    from None
            if progress is not None:
                progress(raw.tell() - seen)
                seen = raw.tell()
            if not block:
                break
            data = carry + block if carry else block
            cut = data.rfind(b"\n") + 1
            if cut == 0:
                carry = data
                continue
            carry = data[cut:]
            yield data[:cut]
        if carry:
            yield carry + b"\n"


def check_file(path: str | Path) -> Path:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"file not found: {p}")
    return p


def parse_numbers(column: pa.Array | pa.ChunkedArray, valid: np.ndarray | None = None
                  ) -> tuple[np.ndarray, np.ndarray]:
    """float64 values of a numeric or decimal-text column (NaN where null or not checked) and
    a bool ``[N]`` of the ``valid`` rows (default: all) whose text is not a number.

    The C++ cast parses the column; only when it fails are the bad rows looked for."""
    col = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    n = len(col)
    check = np.ones(n, bool) if valid is None else valid
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        try:
            vals = col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return np.full(n, np.nan), check.copy()
        return np.where(check, vals, np.nan), np.zeros(n, bool)
    subset = col if check.all() else pc.if_else(pa.array(check), col, pa.scalar(None, col.type))
    try:
        vals = pc.cast(subset, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        return vals, np.zeros(n, bool)
    except pa.ArrowInvalid:
        pass
    ok = pc.fill_null(pc.match_substring_regex(subset, NUMBER_REGEX), True).to_numpy(
        zero_copy_only=False)
    good = pc.if_else(pa.array(ok), subset, pa.scalar(None, col.type))
    vals = pc.cast(good, pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
    return vals, check & ~ok


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) file; a one-line DataError when it cannot be read."""
    try:
        with open_binary(path) as fh:
            return fh.read()
    except (OSError, EOFError, ValueError) as e:
        raise DataError(f"{path}: cannot read: {' '.join(str(e).split())}") from None


def drop_non_utf8_lines(data: bytes, problems: list[tuple[int, str]]) -> bytes:
    """``data`` with its lines that are not UTF-8 emptied (so later line numbers stay right);
    each is added to ``problems``."""
    a = np.frombuffer(data, np.uint8)
    if not a.size or a.max() < 128:
        return data
    lines = data.split(b"\n")
    for i, line in enumerate(lines):
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append((i + 1, f"not UTF-8 text (byte 0x{line[e.start]:02x})"))
            lines[i] = b""
    return b"\n".join(lines)


class CsvRows(NamedTuple):
    """A CSV read as text columns, with the 1-based file line of every row."""

    table: pa.Table
    lines: np.ndarray  # int64 [rows]
    n_blank: int


def read_csv_text(data: bytes, path: Path, problems: list[tuple[int, str]],
                  names: list[str] | None = None) -> CsvRows:
    """Every column as text. ``names``: the columns of a file without a header row (else the
    first line is the header). A row with the wrong number of fields is a bad line."""
    import pyarrow.csv as pcsv

    wrong: list[tuple[int, str]] = []

    def handler(row: Any) -> str:
        wrong.append((int(row.number), f"expected {row.expected_columns} fields, got "
                      f"{row.actual_columns}"))
        return "skip"

    if names is None:
        first = data.split(b"\n", 1)[0].decode("utf-8", "replace").strip()
        header = [c.strip() for c in first.split(",")]
        skip_rows = 0
    else:
        header, skip_rows = names, 0
    try:
        table = pcsv.read_csv(
            pa.py_buffer(data),
            read_options=pcsv.ReadOptions(use_threads=False, column_names=header,
                                          skip_rows=1 if names is None else skip_rows),
            parse_options=pcsv.ParseOptions(invalid_row_handler=handler),
            convert_options=pcsv.ConvertOptions(column_types={c: pa.string() for c in header}),
        )
    except pa.ArrowInvalid as e:
        raise DataError(f"{path}: cannot parse CSV: {' '.join(str(e).split())}") from None
    problems.extend(wrong)
    a = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(a == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [a.size]])
    length = stops - starts
    cr = (length > 0) & (a[np.maximum(stops - 1, 0)] == 13) if a.size else length > 0
    empty = (length - cr) <= 0
    if a.size and a[-1] == 10:
        empty[-1] = False  # the end of the file, not a line
        starts, empty = starts[:-1], empty[:-1]
    numbers = np.arange(1, starts.size + 1)
    first_data = 1 if names is None else 0
    data_lines = numbers[first_data:][~empty[first_data:]]
    if wrong:
        data_lines = data_lines[~np.isin(data_lines, [w[0] for w in wrong])]
    if data_lines.size != table.num_rows:  # quoted newlines: fall back to row positions
        data_lines = np.arange(table.num_rows) + 1 + first_data
    return CsvRows(table, data_lines.astype(np.int64), int(np.count_nonzero(empty)))


def int_column(rows: CsvRows, name: str, problems: list[tuple[int, str]], ok: np.ndarray
               ) -> np.ndarray:
    """int64 values of a text column of integers; bad rows are added to ``problems``."""
    col = rows.table.column(name).combine_chunks()
    try:
        return col.cast(pa.int64()).fill_null(MISSING_INT).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        pass
    good = pc.fill_null(pc.match_substring_regex(col, r"^\s*-?\d{1,18}\s*$"), False).to_numpy(
        zero_copy_only=False)
    text = col.to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(~good & ok):
        problems.append((int(rows.lines[i]), f"column '{name}': not an integer {text[i]!r}"))
    ok &= good
    vals = pc.if_else(pa.array(good), col, pa.scalar(None, pa.string()))
    return pc.utf8_trim_whitespace(vals).cast(pa.int64()).fill_null(MISSING_INT).to_numpy(
        zero_copy_only=False)


def number_column(rows: CsvRows, name: str, problems: list[tuple[int, str]], ok: np.ndarray,
                  kind: str, optional: bool = False) -> np.ndarray:
    """float64 of a text column of decimals checked as a ``price`` (> 0) or ``size`` (>= 0);
    ``optional``: empty cells give NaN (a missing book side) instead of a problem."""
    col = rows.table.column(name).combine_chunks()
    empty = pc.fill_null(pc.equal(pc.utf8_trim_whitespace(col), ""), True).to_numpy(
        zero_copy_only=False)
    if optional:
        col = pc.if_else(pa.array(empty), pa.scalar(None, pa.string()), col)
    else:
        for i in np.flatnonzero(empty & ok):
            problems.append((int(rows.lines[i]), f"column '{name}': missing value"))
        ok &= ~empty
    vals, notnum = parse_numbers(pc.utf8_trim_whitespace(col), ok)
    text = col.to_numpy(zero_copy_only=False)
    for i in np.flatnonzero(notnum):
        problems.append((int(rows.lines[i]), f"column '{name}': not a number {text[i]!r}"))
    ok &= ~notnum
    with np.errstate(invalid="ignore"):
        fine = (vals > 0) if kind == "price" else (vals >= 0)
        fine = (fine & (vals < np.inf)) | (np.isnan(vals) & (optional & empty))
    for i in np.flatnonzero(~fine & ok):
        rule = "finite and > 0" if kind == "price" else "finite and >= 0"
        problems.append((int(rows.lines[i]), f"column '{name}': {kind} must be {rule}, got "
                         f"{float(vals[i])!r}"))
    ok &= fine
    return vals


def report_problems(problems: list[tuple[int, str]], path: Path, bad: BadLines) -> None:
    """Report each bad line once (its first problem), earliest line first."""
    seen: set[int] = set()
    for line, reason in sorted(problems):
        if line not in seen:
            seen.add(line)
            bad.add(path, line, reason)
