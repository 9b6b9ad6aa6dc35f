"""Reader of precomputed signal files (a public contract, see docs/backtest.md).

Long format, CSV or Parquet, one row per (timestamp, symbol):

- ``timestamp``: ISO-8601 string or datetime (naive = UTC), matching a market timestamp;
- ``symbol``: a symbol of the market data;
- either ``target`` (float in [-1, 1], the target position as a fraction of equity),
- or boolean ``entry`` and ``exit`` columns (long only).

Rows absent from the file mean "no new decision" (the engine keeps its position).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from quantjax.backtest.strategies import entries_exits_to_target
from quantjax.data.market import MarketArrays
from quantjax.errors import DataError

_BOOL_TEXT = {"true": True, "false": False, "1": True, "0": False}


def _read(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"signals file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".csv", ".txt"):
            return pd.read_csv(path)
    except (ValueError, OSError) as e:
        raise DataError(f"{path}: cannot read signals: {str(e).splitlines()[0]}") from None
    raise DataError(f"{path}: unsupported signals file type {suffix!r} (use .csv or .parquet)")


def _timestamps_ns(col: pd.Series, path: Path) -> np.ndarray:
    for i, v in enumerate(col):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise DataError(f"{path}: row {i}: missing timestamp")
    try:
        ts = pd.to_datetime(col, utc=True, format="ISO8601") if col.dtype == object else \
            pd.to_datetime(col, utc=True)
    except (ValueError, TypeError) as e:
        raise DataError(f"{path}: column 'timestamp': cannot parse: {str(e).splitlines()[0]}") from None
    return ts.dt.tz_localize(None).to_numpy().astype("datetime64[ns]").astype(np.int64)


def _bool_column(col: pd.Series, name: str, path: Path, symbols, ts_text) -> np.ndarray:
    out = np.zeros(len(col), bool)
    for i, v in enumerate(col.tolist()):
        if isinstance(v, (bool, np.bool_)):
            out[i] = bool(v)
        elif isinstance(v, (int, np.integer)) and v in (0, 1):
            out[i] = bool(v)
        elif isinstance(v, float) and v in (0.0, 1.0):
            out[i] = bool(v)
        elif isinstance(v, str) and v.strip().lower() in _BOOL_TEXT:
            out[i] = _BOOL_TEXT[v.strip().lower()]
        else:
            raise DataError(f"{path}: row {i} (symbol {symbols[i]}, timestamp {ts_text[i]}): "
                            f"column '{name}' must be true/false, got {v!r}")
    return out


def read_signals(path: str | Path, market: MarketArrays) -> np.ndarray:
    """Read a signals file into a ``[S, T]`` float64 target array aligned with ``market``.

    NaN in the result means "no new decision". Raises :class:`DataError` naming the row,
    symbol and timestamp for: missing columns, both ``target`` and ``entry``/``exit``,
    unknown symbols or timestamps, duplicates, NaN or out-of-range targets.
    """
    path = Path(path)
    df = _read(path)
    cols = set(df.columns)
    for c in ("timestamp", "symbol"):
        if c not in cols:
            raise DataError(f"{path}: missing column '{c}' (columns: {', '.join(map(str, df.columns))})")
    has_target = "target" in cols
    has_ee = "entry" in cols or "exit" in cols
    if has_target and has_ee:
        raise DataError(f"{path}: give either 'target' or 'entry'/'exit' columns, not both")
    if not has_target and not has_ee:
        raise DataError(f"{path}: needs a 'target' column or 'entry'/'exit' columns")
    if has_ee and not ("entry" in cols and "exit" in cols):
        missing = "exit" if "entry" in cols else "entry"
        raise DataError(f"{path}: missing column '{missing}' (entry/exit go together)")
    ts = _timestamps_ns(df["timestamp"], path)
    ts_text = df["timestamp"].astype(str).tolist()
    symbols = df["symbol"].astype(str).tolist()
    sym_index = {s: i for i, s in enumerate(market.symbols)}
    srow = np.empty(len(df), np.int64)
    for i, s in enumerate(symbols):
        if s not in sym_index:
            raise DataError(f"{path}: row {i}: unknown symbol {s!r} (timestamp {ts_text[i]})")
        srow[i] = sym_index[s]
    tcol = np.searchsorted(market.timestamps, ts)
    tcol_c = np.minimum(tcol, max(market.n_steps - 1, 0))
    unknown = (tcol >= market.n_steps) | (market.timestamps[tcol_c] != ts)
    if unknown.any():
        i = int(np.argmax(unknown))
        raise DataError(f"{path}: row {i}: timestamp {ts_text[i]} (symbol {symbols[i]}) "
                        "is not a timestamp of the market data")
    key = srow * max(market.n_steps, 1) + tcol
    uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
    if (counts > 1).any():
        dup = np.flatnonzero(key == uniq[np.argmax(counts > 1)])
        i = int(dup[1])
        raise DataError(f"{path}: row {i}: duplicate signal for symbol {symbols[i]} "
                        f"at timestamp {ts_text[i]}")
    shape = (market.n_symbols, market.n_steps)
    if has_target:
        try:
            tgt = pd.to_numeric(df["target"], errors="raise").to_numpy(np.float64)
        except (ValueError, TypeError):
            bad = pd.to_numeric(df["target"], errors="coerce").isna() & df["target"].notna()
            i = int(np.argmax(bad.to_numpy()))
            raise DataError(f"{path}: row {i} (symbol {symbols[i]}, timestamp {ts_text[i]}): "
                            f"target {df['target'].iloc[i]!r} is not a number") from None
        nan = ~np.isfinite(tgt)
        if nan.any():
            i = int(np.argmax(nan))
            raise DataError(f"{path}: row {i} (symbol {symbols[i]}, timestamp {ts_text[i]}): "
                            f"target is {tgt[i]} (must be a finite number in [-1, 1])")
        out_r = np.abs(tgt) > 1.0
        if out_r.any():
            i = int(np.argmax(out_r))
            raise DataError(f"{path}: row {i} (symbol {symbols[i]}, timestamp {ts_text[i]}): "
                            f"target {tgt[i]} is out of [-1, 1]")
        out = np.full(shape, np.nan)
        out[srow, tcol] = tgt
        return out
    for c in ("entry", "exit"):
        if df[c].isna().any():
            i = int(np.argmax(df[c].isna().to_numpy()))
            raise DataError(f"{path}: row {i} (symbol {symbols[i]}, timestamp {ts_text[i]}): "
                            f"column '{c}' is missing (NaN)")
    entry = np.zeros(shape, bool)
    exit_ = np.zeros(shape, bool)
    entry[srow, tcol] = _bool_column(df["entry"], "entry", path, symbols, ts_text)
    exit_[srow, tcol] = _bool_column(df["exit"], "exit", path, symbols, ts_text)
    return entries_exits_to_target(entry, exit_)
