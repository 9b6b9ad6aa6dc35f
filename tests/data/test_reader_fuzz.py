"""Fuzz every reader (``data validate`` on CSV and Parquet, the three importers) with
malformed input: each run exits 0 (the data rules repaired it, and imported bars then load)
or exits 2 with one error line; never a traceback."""

from __future__ import annotations

import contextlib
import io
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quantjax.cli.main import main
from quantjax.data.market_io import load_market

from support.feeds import LOBSTER, TARDIS, basic_feed

FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])
VALID_CSV = (b"timestamp,symbol,open,high,low,close,volume,bid,ask,bid_volume,ask_volume\n"
             b"2024-01-02T09:30:01Z,AAA,10,11,9,10.5,100,10.4,10.6,5,6\n"
             b"2024-01-02T09:30:02Z,AAA,10.5,11,10,10.7,80,10.6,10.8,4,3\n"
             b"2024-01-02T09:30:01Z,BBB,20,21,19,20.5,10,20.4,20.6,1,2\n")
PIECES = [b",", b"\n", b'"', b"\xff", b"\xe9", b"nan", b"-1", b"0", b"inf", b"", b"abc", b" ",
          b"{", b"}", b"[", b"]", b":", b"\"p\":", b"1e400", b"\x00", b"\r\n", b"9" * 25]


@st.composite
def mutated(draw, data: bytes) -> bytes:
    """``data`` with a few random deletions, insertions and truncations."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["delete", "insert", "truncate", "replace"]))
        pos = draw(st.integers(0, max(len(out) - 1, 0)))
        if op == "delete":
            del out[pos:pos + draw(st.integers(1, 12))]
        elif op == "insert":
            out[pos:pos] = draw(st.sampled_from(PIECES))
        elif op == "truncate":
            del out[pos:]
        else:
            out[pos:pos + 1] = bytes([draw(st.integers(0, 255))])
    return bytes(out)


def run_cli(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        rc = main(args)
    return rc, err.getvalue()


def check(rc: int, err: str) -> None:
    assert rc in (0, 2), err
    if rc == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("quantjax: error: "), err
        assert "np.float64" not in lines[0]


def import_and_check(source: str, files: list[str], folder: Path, skip: bool) -> None:
    out = folder / "out"
    rc, err = run_cli(["data", "import", source, *files, "--out", str(out), "--no-progress",
                       "--bar", "100ms"] + (["--skip-bad-lines"] if skip else []))
    check(rc, err)
    if rc == 0 and (out / "bars.parquet").exists():
        load_market(out / "bars.parquet")  # imported bars always satisfy the market contract


@FUZZ
@given(data=mutated(VALID_CSV))
def test_validate_csv_fuzz(data):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.csv"
        p.write_bytes(data)
        check(*run_cli(["data", "validate", str(p)]))


CELLS = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.none(),
                  st.text(max_size=4), st.integers(-5, 5))


@FUZZ
@given(columns=st.lists(st.sampled_from(["timestamp", "symbol", "open", "high", "low", "close",
                                         "volume", "bid", "ask", "Close", "extra"]),
                        min_size=1, max_size=9, unique=True),
       rows=st.integers(0, 3), cells=st.lists(CELLS, min_size=40, max_size=40),
       corrupt=st.integers(-1, 300))
def test_validate_parquet_fuzz(columns, rows, cells, corrupt):
    frame = {}
    for j, c in enumerate(columns):
        values = [cells[(j * 4 + i) % 40] for i in range(rows)]
        if c == "timestamp" and cells[j] is None:
            values = list(pd.date_range("2024-01-02", periods=rows, freq="s", tz="UTC"))
        elif c == "symbol" and cells[j] is None:
            values = ["AAA"] * rows
        frame[c] = pd.Series(values, dtype=object)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.parquet"
        try:
            table = pa.Table.from_pandas(pd.DataFrame(frame), preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError):
            table = pa.table({c: pa.array([str(v) for v in frame[c]]) for c in frame})
        pq.write_table(table, p)
        if corrupt >= 0:
            raw = bytearray(p.read_bytes())
            raw[corrupt % len(raw)] ^= 0xFF
            p.write_bytes(bytes(raw))
        check(*run_cli(["data", "validate", str(p)]))


FEED = ("\n".join(basic_feed()) + "\n").encode()


@FUZZ
@given(data=mutated(FEED), skip=st.booleans())
def test_binance_import_fuzz(data, skip):
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "feed.jsonl"
        p.write_bytes(data)
        import_and_check("binance", [str(p)], Path(d), skip)


TARDIS_FILES = sorted(TARDIS.glob("*.csv"))


@FUZZ
@given(which=st.integers(0, len(TARDIS_FILES) - 1), skip=st.booleans(), data=st.data())
def test_tardis_import_fuzz(which, skip, data):
    src = TARDIS_FILES[which]
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / src.name
        p.write_bytes(data.draw(mutated(src.read_bytes())))
        import_and_check("tardis", [str(p)], Path(d), skip)


LOBSTER_FILES = sorted(LOBSTER.glob("*.csv"))


@FUZZ
@given(which=st.integers(0, 1), skip=st.booleans(), data=st.data())
def test_lobster_import_fuzz(which, skip, data):
    with tempfile.TemporaryDirectory() as d:
        for f in LOBSTER_FILES:
            shutil.copy(f, Path(d) / f.name)
        target = Path(d) / LOBSTER_FILES[which].name
        target.write_bytes(data.draw(mutated(LOBSTER_FILES[which].read_bytes())))
        import_and_check("lobster", [str(target)], Path(d), skip)
