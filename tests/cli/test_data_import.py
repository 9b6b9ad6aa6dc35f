"""``quantjax data import`` end to end and ``data validate``'s one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from quantjax.cli.main import main
from quantjax.data.market_io import load_market

from support.feeds import BINANCE_RECORDING, basic_feed, write_feed


def test_shared_binance_recording_end_to_end(tmp_path, capsys):
    out = tmp_path / "imp"
    assert main(["data", "import", "binance", str(BINANCE_RECORDING), "--out", str(out),
                 "--bar", "1s", "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "imported 41249 lines" in text and "9757 trades" in text
    m = json.loads((out / "metrics.json").read_text())
    assert m["lines_by_stream"] == {"btcusdt@bookTicker": 28040, "btcusdt@depth@100ms": 3451,
                                    "btcusdt@trade": 9757, "depth snapshot": 1}
    assert (m["n_trades"], m["n_quotes"], m["n_bad_lines"]) == (9757, 28040, 0)
    assert (out / "config.yaml").read_text().startswith("source: binance")
    market, report = load_market(out / "bars.parquet")
    assert market.symbols == ("BTCUSDT",) and market.has_quotes
    assert report.n_steps == m["n_bars"] and report.n_missing == 0
    assert market.field("volume").sum() == pytest.approx(sum_trade_sizes(out), rel=1e-12)
    assert main(["data", "validate", str(out / "bars.parquet")]) == 0


def sum_trade_sizes(out) -> float:
    import pandas as pd

    ticks = pd.read_parquet(out / "ticks.parquet")
    bars_start = pd.read_parquet(out / "bars.parquet")["timestamp"].iloc[0] - pd.Timedelta("1s")
    return float(ticks.loc[(ticks["kind"] == "trade") & (ticks["timestamp"] >= bars_start),
                           "size"].sum())


def test_bad_line_exit_2_one_line_and_skip(tmp_path, capsys):
    lines = basic_feed()
    lines.insert(2, "garbage")
    feed = write_feed(tmp_path / "f.jsonl", lines)
    r = subprocess.run([sys.executable, "-m", "quantjax.cli.main", "data", "import", "binance",
                        str(feed), "--out", str(tmp_path / "o")], capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines() == [
        f"quantjax: error: {feed}: line 3: expected '<receive time ns> <JSON message>' "
        "(use --skip-bad-lines to skip malformed lines)"]
    assert main(["data", "import", "binance", str(feed), "--out", str(tmp_path / "o"),
                 "--skip-bad-lines"]) == 0
    assert "bad lines: 1" in capsys.readouterr().out


@pytest.mark.parametrize("args,needle", [
    (["--bar", "3x"], "bar: '3x' is not a bar length"),
    (["--bar", "0s"], "bar: '0s' is not a bar length"),
])
def test_bad_flags_exit_2(tmp_path, capsys, args, needle):
    feed = write_feed(tmp_path / "f.jsonl", basic_feed())
    assert main(["data", "import", "binance", str(feed), "--out", str(tmp_path / "o"),
                 *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and needle in err[0]


def test_missing_file_and_no_ticks(tmp_path, capsys):
    assert main(["data", "import", "tardis", str(tmp_path / "none.csv"), "--out",
                 str(tmp_path / "o")]) == 2
    assert "file not found" in capsys.readouterr().err
    empty = write_feed(tmp_path / "e.jsonl", [basic_feed()[0].split(" ")[0] + ' {"lastUpdateId'
                                              '": 1, "bids": [], "asks": []}'])
    assert main(["data", "import", "binance", str(empty), "--out", str(tmp_path / "o")]) == 2
    assert "no trades or quotes found" in capsys.readouterr().err


def test_validate_non_utf8_and_plain_numbers(tmp_path):
    body = "timestamp,symbol,open,high,low,close,volume\n2024-01-02,AAA,1,2,0.5,1,3\n"
    cases = {
        "latin1.csv": (body + "2024-01-03,AA\xe9,1,2,0.5,1,3\n").encode("latin-1"),
        "header.csv": body.replace("close", "cl\xe9se").encode("latin-1"),
        "hilo.csv": (body + "2024-01-03,AAA,1,1233.910034,1300,1,3\n").encode(),
    }
    expect = {
        "latin1.csv": "row 2 (line 3): not UTF-8 text (byte 0xe9)",
        "header.csv": "header: not UTF-8 text (byte 0xe9)",
        "hilo.csv": "column 'high': high 1233.910034 < low 1300.0",
    }
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        r = subprocess.run([sys.executable, "-m", "quantjax.cli.main", "data", "validate",
                            str(p)], capture_output=True, text=True)
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and expect[name] in lines[0] and "np." not in lines[0]
