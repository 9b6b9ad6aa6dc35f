"""Extra numeric columns of a long market file (user signals), aligned with its MarketArrays.

The market loader (:mod:`quantjax.data.market_io`) reads the market fields and lists every
other column as ignored. :func:`read_extra_columns` reads chosen ones (or ``"all"`` numeric
ones) of the same file onto the loaded grid: ``ExtraColumns.values[S, T, E]`` float64, NaN
where the bar is missing or the cell is empty/NaN. A column that is absent, not numeric or
holds an infinite value is a one-line :class:`DataError`. Causality is the user's contract
(docs/features.md): the value at ``t`` must be known at ``t``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from quantjax.data.market import FIELDS, MarketArrays
from quantjax.errors import DataError

KEYS = ("timestamp", "symbol")


class ExtraColumns(NamedTuple):
    """Extra columns on a market's grid."""

    values: np.ndarray  # [S, T, E] float64, NaN where missing
    names: tuple[str, ...]

    @classmethod
    def empty(cls, market: MarketArrays) -> ExtraColumns:
        return cls(np.zeros((market.n_symbols, market.n_steps, 0)), ())


def _read_table(path: Path) -> pa.Table:
    name = path.name.lower()
    try:
        if name.endswith((".parquet", ".pq")):
            return pq.read_table(path)
        if name.endswith((".csv", ".csv.gz")):
            return pcsv.read_csv(str(path))
    except (pa.ArrowException, OSError) as e:
        raise DataError(f"{path}: cannot read the extra columns: "
                        f"{str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
    raise DataError(f"{path}: unsupported file extension (use .csv, .csv.gz or .parquet)")


def _lower_columns(df: pd.DataFrame, source: str) -> pd.DataFrame:
    names = [str(c).strip().lower() for c in df.columns]
    if len(set(names)) != len(names):
        raise DataError(f"{source}: duplicate column names (names are case-insensitive)")
    out = df.copy()
    out.columns = names
    return out


def extra_names(df: pd.DataFrame) -> tuple[str, ...]:
    """Numeric columns of a (lower-cased) long frame that are not keys or market fields."""
    return tuple(c for c in df.columns if c not in KEYS and c not in FIELDS
                 and pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c]))


def _timestamps_ns(col: pd.Series, source: str) -> np.ndarray:
    if pd.api.types.is_integer_dtype(col):
        return col.to_numpy(np.int64)
    if pd.api.types.is_datetime64_any_dtype(col):
        ts = col.dt.tz_convert("UTC") if col.dt.tz is not None else col
        return ts.dt.as_unit("ns").astype("int64").to_numpy()
    text = col.astype(str)
    if text.str.fullmatch(r"\s*-?\d+\s*").all():
        return text.astype(np.int64).to_numpy()
    parsed = pd.to_datetime(text, utc=True, errors="coerce", format="ISO8601")
    if parsed.isna().any():
        row = int(np.argmax(parsed.isna().to_numpy()))
        raise DataError(f"{source}: row {row + 1}: unparseable timestamp {text.iloc[row]!r}")
    return parsed.dt.as_unit("ns").astype("int64").to_numpy()


def extra_from_frame(df: Any, market: MarketArrays, select, source: str = "<DataFrame>"
                     ) -> ExtraColumns:
    """Extra columns ``select`` (names, or ``"all"``) of a long DataFrame whose market fields
    gave ``market``; see the module docstring."""
    df = _lower_columns(pd.DataFrame(df), source)
    if "timestamp" not in df.columns and str(df.index.name or "").lower() == "timestamp":
        df = df.reset_index()
    available = extra_names(df)
    if isinstance(select, str):
        names = available
    else:
        names = tuple(str(n).strip().lower() for n in select)
        for n in names:
            if n in FIELDS or n in KEYS:
                raise DataError(f"data.features.extra_columns: '{n}' is a market field, not an "
                                "extra column")
            if n not in df.columns:
                raise DataError(f"{source}: extra column '{n}' not found (numeric extra columns: "
                                f"{', '.join(available) or 'none'})")
            if n not in available:
                raise DataError(f"{source}: extra column '{n}' is not numeric "
                                f"(dtype {df[n].dtype})")
    S, T = market.n_symbols, market.n_steps
    values = np.full((S, T, len(names)), np.nan)
    if not names:
        return ExtraColumns(values, ())
    sym_index = {s: i for i, s in enumerate(market.symbols)}
    s_idx = df["symbol"].astype(str).map(sym_index)
    if s_idx.isna().any():
        row = int(np.argmax(s_idx.isna().to_numpy()))
        raise DataError(f"{source}: row {row + 1}: symbol {df['symbol'].iloc[row]!r} is not in "
                        "the market")
    ts = _timestamps_ns(df["timestamp"], source)
    t_idx = np.searchsorted(market.timestamps, ts)
    bad = (t_idx >= T) | (market.timestamps[np.minimum(t_idx, T - 1)] != ts)
    if bad.any():
        raise DataError(f"{source}: row {int(np.argmax(bad)) + 1}: timestamp not on the "
                        "market's grid")
    s_idx = s_idx.to_numpy(np.int64)
    for e, n in enumerate(names):
        col = df[n].to_numpy(np.float64)
        inf = np.isinf(col)
        if inf.any():
            row = int(np.argmax(inf))
            raise DataError(f"{source}: row {row + 1} (symbol {df['symbol'].iloc[row]!r}), "
                            f"extra column '{n}': infinite value")
        values[s_idx, t_idx, e] = col
    return ExtraColumns(values, names)


def read_extra_columns(path: str | Path, market: MarketArrays, select) -> ExtraColumns:
    """Extra columns ``select`` (names, or ``"all"``) of the market file ``path`` on the grid
    of ``market`` (loaded from the same file by :func:`quantjax.data.market_io.load_market`)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"market file not found: {p}")
    return extra_from_frame(_read_table(p).to_pandas(), market, select, source=str(p))
