"""Load long-format market files (CSV / Parquet / DataFrame) into :class:`MarketArrays`.

The file contract and the validation rules are documented in docs/data.md. In short:
columns ``timestamp, symbol, open, high, low, close, volume`` are required; ``bid, ask``
and ``bid_volume, ask_volume`` are optional pairs (one of a pair without the other is an
error). Names are matched after stripping and lower-casing; other columns are ignored and
listed in the report. Every error is a one-line :class:`DataError` naming the row, symbol,
timestamp and column.

The loader works column by column with pyarrow/numpy: symbols and timestamps are
dictionary-encoded, each row gets a flat index ``symbol * T + time`` and every field is
scattered into a preallocated NaN array, so the peak memory stays near the final array size.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from quantjax.data.market import (
    FIELDS,
    PRICE_FIELDS,
    REQUIRED_FIELDS,
    MarketArrays,
)
from quantjax.errors import DataError

_KEYS = ("timestamp", "symbol")
_INT_RE = re.compile(r"^\s*-?\d+\s*$")
_PAIRS = (("bid", "ask"), ("bid_volume", "ask_volume"))


@dataclasses.dataclass(frozen=True)
class LoadReport:
    """What :func:`load_market` found. ``missing_bars`` maps symbol -> masked bars."""

    source: str
    rows: int
    symbols: tuple[str, ...]
    n_steps: int
    start: str  # ISO-8601 UTC of the first timestamp
    end: str  # ISO-8601 UTC of the last timestamp
    fields: tuple[str, ...]
    missing_bars: dict[str, int]
    n_unsorted_fixed: int  # rows earlier than the previous row of the same symbol
    n_crossed_quotes: int  # bars with bid > ask (kept; reported only)
    ignored_columns: tuple[str, ...]

    @property
    def n_missing(self) -> int:
        return int(sum(self.missing_bars.values()))

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["symbols"] = list(self.symbols)
        d["fields"] = list(self.fields)
        d["ignored_columns"] = list(self.ignored_columns)
        d["n_symbols"] = len(self.symbols)
        d["n_missing"] = self.n_missing
        return d

    def summary_lines(self, max_symbols: int = 10) -> list[str]:
        """Short human-readable summary (used by ``quantjax data validate``)."""
        syms = ", ".join(self.symbols[:max_symbols]) + (" ..." if len(self.symbols) > max_symbols else "")
        miss = {s: n for s, n in self.missing_bars.items() if n}
        worst = sorted(miss.items(), key=lambda kv: -kv[1])[:max_symbols]
        lines = [
            f"source: {self.source}",
            f"rows: {self.rows}",
            f"symbols: {len(self.symbols)} ({syms})",
            f"timestamps: {self.n_steps} from {self.start} to {self.end}",
            f"fields: {', '.join(self.fields)}",
            f"missing bars: {self.n_missing} of {len(self.symbols) * self.n_steps}"
            + (f" ({', '.join(f'{s}: {n}' for s, n in worst)})" if worst else ""),
            f"unsorted rows fixed: {self.n_unsorted_fixed}",
        ]
        if self.n_crossed_quotes:
            lines.append(f"crossed quotes (bid > ask, kept): {self.n_crossed_quotes}")
        if self.ignored_columns:
            lines.append(f"ignored columns: {', '.join(self.ignored_columns)}")
        return lines


def iso(ns: int) -> str:
    """ISO-8601 UTC text of an epoch-ns timestamp, e.g. ``2024-01-02T09:30:01Z``."""
    s = str(np.datetime64(int(ns), "ns"))
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s + "Z"


class _Source:
    """Columns by normalized name, fetched lazily (one at a time for Parquet)."""

    def __init__(self, name: str, columns: list[str], n_rows: int,
                 fetch: Callable[[str], pa.ChunkedArray]) -> None:
        self.name = name
        self.original: dict[str, str] = {}
        for c in columns:
            key = str(c).strip().lower()
            if key in self.original:
                raise DataError(f"{name}: duplicate column '{key}' (names are case-insensitive)")
            self.original[key] = c
        self.n_rows = n_rows
        self._fetch = fetch

    def column(self, key: str) -> pa.ChunkedArray:
        col = self._fetch(self.original[key])
        return col if isinstance(col, pa.ChunkedArray) else pa.chunked_array([col])


def load_market(path: str | Path) -> tuple[MarketArrays, LoadReport]:
    """Load a long-format ``.csv`` (optionally ``.csv.gz``) or ``.parquet`` file.

    Returns ``(MarketArrays, LoadReport)``. Raises :class:`DataError` (one line naming the
    row, symbol, timestamp and column) for any invalid input; see docs/data.md.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"market file not found: {p}")
    name = p.name.lower()
    if name.endswith((".parquet", ".pq")):
        return _build(_parquet_source(p))
    if name.endswith((".csv", ".csv.gz")):
        return _build(_csv_source(p))
    raise DataError(f"{p}: unsupported file extension (use .csv, .csv.gz or .parquet)")


def market_from_frame(df: Any, name: str = "<DataFrame>") -> tuple[MarketArrays, LoadReport]:
    """Same as :func:`load_market` for an in-memory long-format pandas DataFrame."""
    if "timestamp" not in [str(c).strip().lower() for c in df.columns] and (
        str(df.index.name or "").strip().lower() == "timestamp"
    ):
        df = df.reset_index()
    arrays: dict[str, pa.Array] = {}
    for c in df.columns:
        s = df[c]
        try:
            arrays[str(c)] = pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
            arrays[str(c)] = pa.array(s.astype(str).where(s.notna(), None), from_pandas=True)
    table = pa.table(arrays) if arrays else pa.table({})
    return _build(_Source(name, list(table.column_names), table.num_rows, table.column))


def market_to_frame(m: MarketArrays) -> Any:
    """Long DataFrame (timestamp UTC, symbol, fields...) of the real bars, sorted by
    (timestamp, symbol); masked (missing) bars are omitted."""

    t_idx, s_idx = np.nonzero(m.mask.T)
    cols: dict[str, Any] = {
        "timestamp": pd.DatetimeIndex(m.timestamps[t_idx].view("datetime64[ns]")).tz_localize(
            "UTC"
        ),
        "symbol": pd.Categorical.from_codes(
            s_idx.astype(np.int32), categories=list(m.symbols)
        ).astype("str"),
    }
    vals = m.values[s_idx, t_idx]
    for f, name in enumerate(m.fields):
        cols[name] = vals[:, f]
    return pd.DataFrame(cols)


def write_market(data: Any, path: str | Path) -> Path:
    """Write a long DataFrame or :class:`MarketArrays` to ``.csv`` or ``.parquet``.

    Timestamps are written as UTC (Parquet ``timestamp[ns, UTC]``; CSV ISO-8601 with ``Z``)
    and floats in shortest round-trip form, so the same data gives byte-identical files.
    """

    df = market_to_frame(data) if isinstance(data, MarketArrays) else data
    p = Path(path)
    name = p.name.lower()
    is_csv = name.endswith((".csv", ".csv.gz"))
    if not is_csv and not name.endswith((".parquet", ".pq")):
        raise DataError(f"{p}: unsupported file extension (use .csv or .parquet)")
    ts = _frame_timestamps_ns(df["timestamp"])
    arrays: dict[str, pa.Array] = {}
    for c in df.columns:
        if c == "timestamp":
            if is_csv:
                arrays[c] = _iso_array(ts)
            else:
                arrays[c] = pa.array(ts, pa.int64()).cast(pa.timestamp("ns", tz="UTC"))
        else:
            arr = pa.array(df[c], from_pandas=True)
            if pa.types.is_dictionary(arr.type):
                arr = arr.cast(arr.type.value_type)
            arrays[str(c)] = arr
    table = pa.table(arrays)
    p.parent.mkdir(parents=True, exist_ok=True)
    if is_csv:
        pcsv.write_csv(table, str(p), pcsv.WriteOptions(quoting_style="needed"))
    else:
        pq.write_table(table, str(p), compression="snappy")
    return p


# ----------------------------------------------------------------------------- sources


def _parquet_source(p: Path) -> _Source:
    try:
        names = pq.ParquetFile(p).schema_arrow.names
        sym = [n for n in names if str(n).strip().lower() == "symbol"]
        pf = pq.ParquetFile(p, read_dictionary=sym)
        n_rows = pf.metadata.num_rows
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{p}: cannot read Parquet file: {_one_line(e)}") from None

    def fetch(col: str) -> pa.ChunkedArray:
        try:
            return pf.read(columns=[col], use_threads=True).column(0)
        except (pa.ArrowException, OSError) as e:
            raise DataError(f"{p}: cannot read column '{col}': {_one_line(e)}") from None

    return _Source(str(p), list(names), n_rows, fetch)


def _csv_source(p: Path) -> _Source:
    with open(p, "rb") as fh:
        head = fh.read(2)
    if not head:
        raise DataError(f"{p}: empty file")
    if p.name.lower().endswith(".gz"):

        opener: Any = gzip.open
    else:
        opener = open
    try:
        with opener(p, "rb") as fh:
            first = fh.readline()
    except (OSError, EOFError) as e:
        raise DataError(f"{p}: cannot read: {_one_line(e)}") from None
    try:
        header_text = first.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise DataError(f"{p}: header: not UTF-8 text (byte 0x{first[e.start]:02x}); save the "
                        "file as UTF-8") from None
    header = next(csv.reader([header_text]), None)
    if not header:
        raise DataError(f"{p}: empty file")
    types = {}
    for c in header:
        key = c.strip().lower()
        types[c] = pa.float64() if key in FIELDS else pa.string()

    def read(column_types: dict[str, pa.DataType]) -> pa.Table:
        return pcsv.read_csv(
            str(p),
            read_options=pcsv.ReadOptions(use_threads=True),
            convert_options=pcsv.ConvertOptions(column_types=column_types),
        )

    try:
        table = read(types)
    except (pa.ArrowInvalid, OSError, EOFError) as e:
        msg = _one_line(e)
        if "UTF8" in msg:
            raise _utf8_error(p, opener) from None
        if "conversion error" not in msg or not isinstance(e, pa.ArrowInvalid):
            raise DataError(f"{p}: cannot parse CSV: {msg}") from None
        # A non-numeric cell: reread as text so the error can name its row and symbol.
        try:
            table = read({c: pa.string() for c in header})
        except pa.ArrowInvalid as e2:
            raise DataError(f"{p}: cannot parse CSV: {_one_line(e2)}") from None
    return _Source(str(p), list(table.column_names), table.num_rows, table.column)


def _utf8_error(p: Path, opener: Any) -> DataError:
    """The error naming the first data row of a CSV that is not UTF-8 text."""
    with opener(p, "rb") as fh:
        for number, line in enumerate(fh):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as e:
                return DataError(f"{p}: row {number} (line {number + 1}): not UTF-8 text "
                                 f"(byte 0x{line[e.start]:02x}); save the file as UTF-8")
    return DataError(f"{p}: not UTF-8 text; save the file as UTF-8")


# ----------------------------------------------------------------------------- building


class _Rows:
    """Row -> symbol / timestamp text, for error messages."""

    def __init__(self, src: _Source) -> None:
        self.src = src
        self.symbols: tuple[str, ...] | None = None
        self.s_idx: np.ndarray | None = None
        self.ts: np.ndarray | None = None
        self.t_idx: np.ndarray | None = None

    def where(self, row: int, column: str) -> str:
        if self.symbols is not None and self.s_idx is not None:
            sym = repr(self.symbols[int(self.s_idx[row])])
        else:
            sym = repr(self.src.column("symbol")[row].as_py())
        if self.ts is not None and self.t_idx is not None:
            ts = iso(self.ts[int(self.t_idx[row])])
        else:
            ts = repr(self.src.column("timestamp")[row].as_py())
        return f"{self.src.name}: row {row + 1} (symbol {sym}, timestamp {ts}), column '{column}'"

    def error(self, row: int, column: str, msg: str) -> DataError:
        return DataError(f"{self.where(row, column)}: {msg}")


def _build(src: _Source) -> tuple[MarketArrays, LoadReport]:
    names = src.original
    for c in _KEYS + REQUIRED_FIELDS:
        if c not in names:
            raise DataError(
                f"{src.name}: missing required column '{c}' (columns present: "
                f"{', '.join(names) or 'none'})"
            )
    for a, b in _PAIRS:
        if (a in names) != (b in names):
            have, lack = (a, b) if a in names else (b, a)
            raise DataError(
                f"{src.name}: column '{have}' is present but '{lack}' is missing "
                f"('{a}' and '{b}' must come together)"
            )
    if src.n_rows == 0:
        raise DataError(f"{src.name}: empty file (no data rows)")
    fields = tuple(f for f in FIELDS if f in names)
    ignored = tuple(names[c] for c in names if c not in fields and c not in _KEYS)
    rows = _Rows(src)

    symbols, s_idx = _symbols(src, rows)
    rows.symbols, rows.s_idx = symbols, s_idx
    ts, t_idx = _timestamps(src, rows)
    rows.ts, rows.t_idx = ts, t_idx
    S, T, F, n = len(symbols), len(ts), len(fields), src.n_rows

    lin = s_idx.astype(np.int64) * T
    lin += t_idx
    mask = np.zeros(S * T, bool)
    mask[lin] = True
    if int(np.count_nonzero(mask)) != n:
        counts = np.bincount(lin, minlength=S * T)
        dup = int(np.argmax(counts > 1))
        r = np.flatnonzero(lin == dup)
        raise rows.error(int(r[1]), "timestamp", f"duplicate timestamp for this symbol "
                         f"(also at row {int(r[0]) + 1})")
    n_unsorted = _count_unsorted(lin, s_idx, t_idx, S)

    values = np.full((S, T, F), np.nan)
    flat = values.reshape(S * T, F)
    for f, name in enumerate(fields):
        arr = _numeric(src.column(name), name, rows)
        _check_values(arr, name, rows)
        flat[lin, f] = arr
        del arr
    mask = mask.reshape(S, T)

    hi, lo = values[:, :, fields.index("high")], values[:, :, fields.index("low")]
    bad = hi < lo
    if bad.any():
        s, t = np.argwhere(bad)[0]
        row = int(np.flatnonzero(lin == s * T + t)[0])
        raise rows.error(row, "high", f"high {float(hi[s, t])!r} < low {float(lo[s, t])!r}")
    crossed = 0
    if "bid" in fields:
        crossed = int(np.count_nonzero(
            values[:, :, fields.index("bid")] > values[:, :, fields.index("ask")]
        ))
    missing = T - mask.sum(axis=1)
    market = MarketArrays(values=values, mask=mask, timestamps=ts, symbols=symbols, fields=fields)
    report = LoadReport(
        source=src.name,
        rows=n,
        symbols=symbols,
        n_steps=T,
        start=iso(ts[0]),
        end=iso(ts[-1]),
        fields=fields,
        missing_bars={s: int(m) for s, m in zip(symbols, missing, strict=True)},
        n_unsorted_fixed=n_unsorted,
        n_crossed_quotes=crossed,
        ignored_columns=ignored,
    )
    return market, report


def _first_null(col: pa.ChunkedArray) -> int:
    return int(np.argmax(col.is_null().to_numpy(zero_copy_only=False)))


def _symbols(src: _Source, rows: _Rows) -> tuple[tuple[str, ...], np.ndarray]:
    """Sorted symbol names and the per-row index into them (int32)."""
    col = src.column("symbol")
    if col.null_count:
        raise rows.error(_first_null(col), "symbol", "missing symbol")
    if pa.types.is_dictionary(col.type):
        col = col.unify_dictionaries()
        dictionary = col.chunk(0).dictionary if col.num_chunks else pa.array([], pa.string())
        idx = np.concatenate([c.indices.to_numpy(zero_copy_only=False) for c in col.chunks])
        if not (pa.types.is_string(dictionary.type) or pa.types.is_large_string(dictionary.type)):
            dictionary = dictionary.cast(pa.string())
    else:
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
            try:
                col = col.cast(pa.string())
            except pa.ArrowException:
                raise DataError(
                    f"{src.name}: column 'symbol': unsupported type {col.type}"
                ) from None
        enc = pc.dictionary_encode(col.combine_chunks())
        dictionary, idx = enc.dictionary, enc.indices.to_numpy(zero_copy_only=False)
    names = np.array(dictionary.to_pylist(), dtype=object)
    used = np.bincount(idx, minlength=len(names)) > 0
    for i in np.flatnonzero(used):
        if not str(names[i]).strip():
            raise rows.error(int(np.argmax(idx == i)), "symbol", "missing symbol (empty)")
    order = np.array(sorted(np.flatnonzero(used), key=lambda i: names[i]), dtype=np.int64)
    rank = np.full(len(names), -1, np.int32)
    rank[order] = np.arange(len(order), dtype=np.int32)
    return tuple(str(names[i]) for i in order), rank[idx]


def _timestamps(src: _Source, rows: _Rows) -> tuple[np.ndarray, np.ndarray]:
    """Sorted unique timestamps (int64 ns UTC) and the per-row index into them."""
    col = src.column("timestamp")
    if col.null_count:
        raise rows.error(_first_null(col), "timestamp", "missing timestamp")
    typ = col.type
    if pa.types.is_dictionary(typ):
        col = col.cast(typ.value_type)
        typ = col.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ):
        enc = pc.dictionary_encode(col.combine_chunks())
        idx = enc.indices.to_numpy(zero_copy_only=False)
        parsed = _parse_text_timestamps(enc.dictionary.to_pylist(), idx, rows)
        uniq, inv = np.unique(parsed, return_inverse=True)
        return uniq, inv[idx].astype(np.int32 if len(uniq) < 2**31 else np.int64)
    if pa.types.is_timestamp(typ):
        target: pa.DataType = pa.timestamp("ns", tz=typ.tz)
    elif pa.types.is_date(typ):
        target = pa.timestamp("ns")
    elif pa.types.is_integer(typ):
        target = pa.int64()
    else:
        raise DataError(
            f"{src.name}: column 'timestamp': unsupported type {typ} "
            "(use ISO-8601 text, datetimes or integer epoch nanoseconds)"
        )
    try:
        vals = col.cast(target).cast(pa.int64())
    except pa.ArrowInvalid as e:
        raise DataError(
            f"{src.name}: column 'timestamp': out of the nanosecond range: {_one_line(e)}"
        ) from None
    enc = pc.dictionary_encode(vals.combine_chunks())
    idx = enc.indices.to_numpy(zero_copy_only=False)
    uniq, inv = np.unique(enc.dictionary.to_numpy(zero_copy_only=False), return_inverse=True)
    return uniq.astype(np.int64), inv[idx].astype(np.int32 if len(uniq) < 2**31 else np.int64)


def _parse_text_timestamps(texts: list[str], idx: np.ndarray, rows: _Rows) -> np.ndarray:
    """Parse unique timestamp strings (ISO-8601, or integer epoch ns) to int64 ns UTC."""

    if texts and all(_INT_RE.match(t) for t in texts):
        return np.array([int(t) for t in texts], dtype=np.int64)
    parsed = pd.to_datetime(pd.Series(texts, dtype=object), utc=True, errors="coerce",
                            format="ISO8601")
    bad = parsed.isna().to_numpy()
    if bad.any():
        i = int(np.argmax(bad))
        row = int(np.argmax(idx == i))
        raise rows.error(row, "timestamp", f"unparseable timestamp {texts[i]!r}")
    return parsed.dt.as_unit("ns").astype("int64").to_numpy()


def _count_unsorted(lin: np.ndarray, s_idx: np.ndarray, t_idx: np.ndarray, S: int) -> int:
    """Rows whose timestamp is earlier than the previous row of the same symbol."""
    if lin.size < 2 or bool(np.all(lin[1:] > lin[:-1])):
        return 0
    by_time = t_idx.astype(np.int64) * S + s_idx
    if bool(np.all(by_time[1:] > by_time[:-1])):
        return 0
    del by_time
    key = s_idx.astype(np.uint16) if S < 2**16 else s_idx
    order = np.argsort(key, kind="stable")
    t_sorted = t_idx[order]
    same = s_idx[order][1:] == s_idx[order][:-1]
    return int(np.count_nonzero((t_sorted[1:] < t_sorted[:-1]) & same))


def _numeric(col: pa.ChunkedArray, name: str, rows: _Rows) -> np.ndarray:
    """A numeric column as float64 numpy, or a DataError naming the first bad row."""
    typ = col.type
    if pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_dictionary(typ):
        col = col.cast(pa.string()) if pa.types.is_dictionary(typ) else col

        text = pd.Series(col.to_numpy(zero_copy_only=False), dtype=object)
        num = pd.to_numeric(text, errors="coerce")
        bad = (num.isna() & text.notna() & ~text.astype(str).str.strip().str.lower().isin(
            ["nan", "-nan", "", "na", "n/a", "#n/a", "null", "none"])).to_numpy()
        if bad.any():
            i = int(np.argmax(bad))
            raise rows.error(i, name, f"non-numeric value {text[i]!r}")
        missing = num.isna().to_numpy()
        if missing.any():
            raise rows.error(int(np.argmax(missing)), name, "missing value (empty or NaN)")
        return num.to_numpy(dtype=np.float64)
    if not (pa.types.is_floating(typ) or pa.types.is_integer(typ) or pa.types.is_decimal(typ)):
        raise rows.error(0, name, f"non-numeric column type {typ}")
    if col.null_count:
        raise rows.error(_first_null(col), name, "missing value (empty or NaN)")
    if not pa.types.is_float64(typ):
        col = col.cast(pa.float64())
    if col.num_chunks == 1:
        return col.chunk(0).to_numpy(zero_copy_only=False)
    return col.to_numpy()


def _check_values(arr: np.ndarray, name: str, rows: _Rows) -> None:
    """Prices finite and > 0; volumes finite and >= 0."""
    price = name in PRICE_FIELDS
    ok = arr > 0 if price else arr >= 0
    ok &= arr < np.inf
    if ok.all():
        return
    i = int(np.argmin(ok))
    v = float(arr[i])
    if np.isnan(v):
        what = "NaN"
    elif np.isinf(v):
        what = "infinite"
    elif v == 0:
        what = "zero"
    else:
        what = "negative"
    kind = "price" if price else "volume"
    raise rows.error(i, name, f"{what} {kind} {v!r}")


def _frame_timestamps_ns(s: Any) -> np.ndarray:
    """int64 ns UTC of a timestamp Series (tz-naive = UTC; text parsed as ISO-8601)."""

    if pd.api.types.is_integer_dtype(s.dtype):
        return s.to_numpy(np.int64)
    t = pd.to_datetime(s, utc=True, format="ISO8601") if not isinstance(
        s.dtype, pd.DatetimeTZDtype) and not pd.api.types.is_datetime64_dtype(s.dtype) else s
    if isinstance(t.dtype, pd.DatetimeTZDtype):
        t = t.dt.tz_convert("UTC").dt.tz_localize(None)
    return t.dt.as_unit("ns").to_numpy().view(np.int64)


def _iso_array(ts: np.ndarray) -> pa.Array:
    """ISO-8601 ``...Z`` strings with the coarsest unit that represents every value exactly."""
    uniq, inv = np.unique(ts, return_inverse=True)
    unit = "ns"
    for u, div in (("s", 10**9), ("ms", 10**6), ("us", 10**3)):
        if np.all(uniq % div == 0):
            unit = u
            break
    text = np.char.add(np.datetime_as_string(uniq.view("datetime64[ns]"), unit=unit), "Z")
    d = pa.DictionaryArray.from_arrays(pa.array(inv.astype(np.int32)), pa.array(text.tolist()))
    return d.cast(pa.string())


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split())
