"""Loading long-format market files into MarketArrays: formats, validation, sorting, masks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.data.market import FIELDS, REQUIRED_FIELDS
from quantjax.data.market_io import load_market, market_from_frame, market_to_frame, write_market
from quantjax.errors import DataError

TS = pd.to_datetime(["2024-01-02 09:30:01", "2024-01-02 09:30:02", "2024-01-02 09:30:03"], utc=True)


def frame(quotes: bool = True) -> pd.DataFrame:
    """Two symbols x three bars, sorted by (timestamp, symbol)."""
    rows = []
    for i, ts in enumerate(TS):
        for j, sym in enumerate(["AAA", "BBB"]):
            p = 100.0 + i + 10 * j
            row = {"timestamp": ts, "symbol": sym, "open": p, "high": p + 1, "low": p - 1,
                   "close": p + 0.5, "volume": 10.0 * (i + 1)}
            if quotes:
                row.update(bid=p - 0.01, ask=p + 0.01, bid_volume=5.0, ask_volume=7.0)
            rows.append(row)
    return pd.DataFrame(rows)


def write(df: pd.DataFrame, tmp_path, ext: str) -> str:
    p = tmp_path / f"m.{ext}"
    if ext == "csv":
        df.to_csv(p, index=False)
    else:
        df.to_parquet(p, index=False)
    return str(p)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_load_csv_and_parquet(tmp_path, ext):
    m, r = load_market(write(frame(), tmp_path, ext))
    assert m.values.shape == (2, 3, 9)
    assert m.symbols == ("AAA", "BBB") and m.fields == FIELDS and m.has_quotes
    assert m.mask.all() and r.n_missing == 0 and r.rows == 6 and r.n_unsorted_fixed == 0
    assert m.timestamps.dtype == np.int64
    np.testing.assert_array_equal(m.timestamps, TS.as_unit("ns").asi8)
    assert m.field("close")[1, 2] == 112.5
    assert m.field("bid_volume")[0, 0] == 5.0
    assert r.start == "2024-01-02T09:30:01Z" and r.end == "2024-01-02T09:30:03Z"
    assert r.missing_bars == {"AAA": 0, "BBB": 0}


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_bars_only_has_no_quote_fields(tmp_path, ext):
    m, r = load_market(write(frame(quotes=False), tmp_path, ext))
    assert m.fields == REQUIRED_FIELDS and r.fields == REQUIRED_FIELDS
    assert not m.has_quotes and not m.has("bid")
    assert m.values.shape == (2, 3, 5)
    with pytest.raises(ValueError):
        m.field("bid")


def test_roundtrip_frame_and_writer_is_byte_identical(tmp_path):
    df = frame()
    m, _ = market_from_frame(df)
    back = market_to_frame(m)
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    for ext in ("csv", "parquet"):
        a, b = write_market(m, tmp_path / f"a.{ext}"), write_market(df, tmp_path / f"b.{ext}")
        assert a.read_bytes() == b.read_bytes()
        m2, _ = load_market(a)
        np.testing.assert_array_equal(m2.values, m.values)
        np.testing.assert_array_equal(m2.timestamps, m.timestamps)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_write_market_categorical_symbols_and_us_timestamps(tmp_path, ext):
    df = frame().astype({"symbol": "category"})
    df["timestamp"] = df["timestamp"].dt.as_unit("us")
    m, _ = load_market(write_market(df, tmp_path / f"c.{ext}"))
    ref, _ = market_from_frame(frame())
    np.testing.assert_array_equal(m.values, ref.values)
    np.testing.assert_array_equal(m.timestamps, ref.timestamps)


def test_unsorted_rows_are_sorted_and_counted():
    df = frame()
    # AAA rows in file order: t2, t1, t3 -> one row earlier than its predecessor.
    order = [2, 0, 1, 3, 4, 5]
    m, r = market_from_frame(df.iloc[order])
    ref, _ = market_from_frame(df)
    assert r.n_unsorted_fixed == 1
    np.testing.assert_array_equal(m.values, ref.values)
    shuffled, r2 = market_from_frame(df.iloc[::-1])
    assert r2.n_unsorted_fixed == 4
    np.testing.assert_array_equal(shuffled.values, ref.values)


def test_rows_interleaved_by_symbol_are_sorted():
    df = frame().sort_values(["symbol", "timestamp"])
    _, r = market_from_frame(df)
    assert r.n_unsorted_fixed == 0


def test_missing_bars_are_nan_and_masked():
    df = frame().drop(index=3)  # BBB at TS[1]
    m, r = market_from_frame(df)
    assert not m.mask[1, 1] and m.mask.sum() == 5
    assert np.isnan(m.values[1, 1]).all()
    assert r.missing_bars == {"AAA": 0, "BBB": 1} and r.n_missing == 1
    assert len(market_to_frame(m)) == 5


@pytest.mark.parametrize(
    "value",
    ["2024-01-02T09:30:01Z", "2024-01-02 09:30:01+00:00", "2024-01-02 04:30:01-05:00",
     "2024-01-02 09:30:01"],
)
def test_iso_timestamp_forms(tmp_path, value):
    df = frame().iloc[:1].copy()
    df["timestamp"] = value
    p = tmp_path / "t.csv"
    df.to_csv(p, index=False)
    m, _ = load_market(p)
    assert m.timestamps[0] == TS[0].value


def test_integer_ns_and_datetime_timestamps(tmp_path):
    df = frame()
    ints = df.assign(timestamp=df["timestamp"].dt.as_unit("ns").astype("int64"))
    naive = df.assign(timestamp=df["timestamp"].dt.tz_localize(None))
    ny = df.assign(timestamp=df["timestamp"].dt.tz_convert("America/New_York"))
    ref, _ = market_from_frame(df)
    for d in (ints, naive, ny):
        m, _ = market_from_frame(d)
        np.testing.assert_array_equal(m.timestamps, ref.timestamps)
    m, _ = load_market(write(ints, tmp_path, "csv"))
    np.testing.assert_array_equal(m.timestamps, ref.timestamps)


def test_column_names_case_insensitive_and_extra_columns_ignored():
    df = frame().rename(columns={"close": " Close", "symbol": "SYMBOL"}).assign(note="x")
    m, r = market_from_frame(df)
    assert m.fields == FIELDS and r.ignored_columns == ("note",)


def test_dictionary_symbols_in_parquet(tmp_path):
    df = frame().astype({"symbol": "category"})
    p = tmp_path / "d.parquet"
    df.to_parquet(p, index=False)
    m, _ = load_market(p)
    assert m.symbols == ("AAA", "BBB")


def test_crossed_quotes_are_kept_and_counted():
    df = frame()
    df.loc[0, "bid"] = df.loc[0, "ask"] + 1
    m, r = market_from_frame(df)
    assert r.n_crossed_quotes == 1 and m.mask.all()


def _set(row, col, value):
    def f(df):
        df = df.astype({col: object}) if isinstance(value, str) else df
        df.loc[row, col] = value
        return df
    return f


BAD = [
    ("nan price", _set(2, "close", np.nan), ["'AAA'", "09:30:02Z", "'close'", "NaN"]),
    ("inf price", _set(2, "open", np.inf), ["'AAA'", "09:30:02Z", "'open'", "infinite"]),
    ("zero price", _set(3, "low", 0.0), ["'BBB'", "09:30:02Z", "'low'", "zero price"]),
    ("negative price", _set(1, "bid", -1.0), ["'BBB'", "09:30:01Z", "'bid'", "negative price"]),
    ("high < low", _set(4, "high", 50.0), ["'AAA'", "09:30:03Z", "'high'", "< low"]),
    ("negative volume", _set(5, "volume", -1.0), ["'BBB'", "09:30:03Z", "'volume'", "negative"]),
    ("negative depth", _set(0, "ask_volume", -2.0), ["'AAA'", "'ask_volume'", "negative volume"]),
    ("non-numeric", _set(1, "close", "abc"), ["'BBB'", "09:30:01Z", "'close'", "non-numeric"]),
    ("duplicate", _set(2, "timestamp", TS[0]), ["'AAA'", "09:30:01Z", "duplicate timestamp"]),
    ("bad timestamp", _set(4, "timestamp", "yesterday"), ["'AAA'", "'timestamp'", "unparseable"]),
    ("missing symbol", _set(3, "symbol", None), ["row 4", "'symbol'", "missing symbol"]),
]


@pytest.mark.parametrize("ext", ["csv", "parquet", "frame"])
@pytest.mark.parametrize("name,mutate,needles", BAD, ids=[b[0] for b in BAD])
def test_bad_values_name_symbol_timestamp_column(tmp_path, ext, name, mutate, needles):
    df = mutate(frame())
    if name == "bad timestamp" or name == "missing symbol":
        df["timestamp"] = df["timestamp"].astype(str)
    with pytest.raises(DataError) as e:
        if ext == "frame":
            market_from_frame(df)
        elif ext == "csv":
            load_market(write(df, tmp_path, "csv"))
        else:
            if name == "non-numeric" or name == "bad timestamp":
                df = df.astype({c: str for c in df.columns if df[c].dtype == object})
            load_market(write(df, tmp_path, "parquet"))
    msg = str(e.value)
    assert "\n" not in msg
    for n in needles:
        assert n in msg, (n, msg)


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_missing_required_column(tmp_path, ext):
    with pytest.raises(DataError, match="missing required column 'volume'"):
        load_market(write(frame().drop(columns="volume"), tmp_path, ext))


@pytest.mark.parametrize("drop", ["ask", "bid_volume"])
def test_partial_quote_pair_is_an_error(drop):
    with pytest.raises(DataError, match=f"'{drop}' is missing"):
        market_from_frame(frame().drop(columns=drop))


def test_bid_ask_without_depth_is_allowed():
    m, _ = market_from_frame(frame().drop(columns=["bid_volume", "ask_volume"]))
    assert m.fields == REQUIRED_FIELDS + ("bid", "ask") and not m.has_quotes


def test_empty_inputs(tmp_path):
    (tmp_path / "e.csv").write_text("")
    with pytest.raises(DataError, match="empty file"):
        load_market(tmp_path / "e.csv")
    (tmp_path / "h.csv").write_text("timestamp,symbol,open,high,low,close,volume\n")
    with pytest.raises(DataError, match="empty file"):
        load_market(tmp_path / "h.csv")
    pq.write_table(pa.Table.from_pandas(frame().iloc[:0], preserve_index=False),
                   tmp_path / "e.parquet")
    with pytest.raises(DataError, match="empty file"):
        load_market(tmp_path / "e.parquet")


def test_missing_value_in_csv(tmp_path):
    p = tmp_path / "m.csv"
    p.write_text("timestamp,symbol,open,high,low,close,volume\n"
                 "2024-01-02T09:30:01Z,AAA,1,2,0.5,,3\n")
    with pytest.raises(DataError, match=r"row 1 \(symbol 'AAA', timestamp 2024-01-02T09:30:01Z"
                       r"\), column 'close': missing value"):
        load_market(p)


def test_file_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_market(tmp_path / "nope.csv")
    (tmp_path / "x.txt").write_text("a")
    with pytest.raises(DataError, match="unsupported file extension"):
        load_market(tmp_path / "x.txt")
    (tmp_path / "x.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="cannot read Parquet"):
        load_market(tmp_path / "x.parquet")


@settings(max_examples=15, deadline=None)
@given(
    keep=st.lists(st.booleans(), min_size=12, max_size=12),
    seed=st.integers(0, 1000),
)
def test_property_any_subset_any_order_roundtrips(keep, seed):
    """Any subset of a 3x4 grid, in any row order, loads to the same mask and values."""
    if not any(keep):
        keep[0] = True
    rng = np.random.default_rng(seed)
    ts = pd.date_range("2024-01-02 09:30", periods=4, freq="1s", tz="UTC")
    rows = []
    for (t, s), k in zip([(t, s) for t in range(4) for s in range(3)], keep, strict=True):
        if k:
            p = float(rng.uniform(1, 100))
            rows.append({"timestamp": ts[t], "symbol": f"S{s}", "open": p, "high": p + 1,
                         "low": p / 2, "close": p, "volume": float(t)})
    df = pd.DataFrame(rows)
    m, r = market_from_frame(df.sample(frac=1.0, random_state=seed))
    assert r.rows == len(df) and int(m.mask.sum()) == len(df)
    assert np.isnan(m.values[~m.mask]).all() and not np.isnan(m.values[m.mask]).any()
    back = market_to_frame(m)
    pd.testing.assert_frame_equal(back, df.reset_index(drop=True), check_dtype=False)
