"""Tardis CSVs and LOBSTER pairs -> ticks and bars, on the samples in tests/support."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from quantjax.data.importers.config import ImportConfig
from quantjax.data.importers.pipeline import run_import
from quantjax.data.market_io import load_market
from quantjax.data.ticks import read_ticks
from quantjax.errors import DataError

from support.feeds import LOBSTER, TARDIS

LOBSTER_MESSAGE = LOBSTER / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
LOBSTER_BOOK = LOBSTER / "AAPL_2012-06-21_34200000_57600000_orderbook_1.csv"


def tardis(tmp_path, *names, skip=False):
    files = tuple(str(TARDIS / n) for n in names) or tuple(
        str(p) for p in sorted(TARDIS.glob("*.csv")))
    return run_import(ImportConfig(source="tardis", files=files, skip_bad_lines=skip),
                      tmp_path / "out")


def test_tardis_samples(tmp_path):
    m = tardis(tmp_path)
    assert m["files_by_kind"] == {"book_snapshot": 1, "quotes": 1, "trades": 2}
    assert m["symbols"] == ["BTCUSDT", "ETHUSDT"] and m["clock"] == "receive"
    assert (m["n_duplicate_trades"], m["n_duplicate_quotes"], m["n_zero_size_trades"],
            m["n_zero_size_quotes"], m["n_crossed_quotes"], m["n_unchanged_quotes"]) == (
        1, 1, 1, 1, 1, 1)
    ticks = pd.read_parquet(tmp_path / "out" / "ticks.parquet")
    btc = ticks[(ticks["symbol"] == "BTCUSDT") & (ticks["kind"] == "trade")]
    assert list(btc["trade_id"]) == [3735683259, 3735683260, 3735683261, 3735683262,
                                     3735683263, 3735683265]
    assert list(btc["side"]) == [-1, -1, -1, 1, 1, -1]
    exact = read_ticks(tmp_path / "out" / "ticks.parquet")  # int64 ids (pandas: float)
    eth = exact.trade_id[exact.is_trade & (exact.symbol == 1)]
    assert len(set(eth)) == 2 and (eth >= 2**62).all()
    first = ticks.iloc[0]
    assert first["receive_time"] == pd.Timestamp(1723161254000000, unit="us", tz="UTC")
    assert first["exchange_time"] == pd.Timestamp(1723161255300000, unit="us", tz="UTC")
    market, _ = load_market(tmp_path / "out" / "bars.parquet")
    assert market.symbols == ("BTCUSDT", "ETHUSDT") and market.has_quotes


def test_tardis_trades_only_bars_have_no_quote_columns(tmp_path):
    m = tardis(tmp_path, "binance_trades_2024-08-08_BTCUSDT.csv")
    assert not m["bars_have_quotes"]
    market, _ = load_market(tmp_path / "out" / "bars.parquet")
    assert market.fields == ("open", "high", "low", "close", "volume")


@pytest.mark.parametrize("row,reason", [
    ("binance,BTCUSDT,1723161255342000,1723161254087896,1,sell,abc,0.02",
     "column 'price': not a number 'abc'"),
    ("binance,BTCUSDT,1723161255342000,1723161254087896,1,sideways,1.0,0.02",
     "column 'side': expected buy, sell or unknown"),
    ("binance,BTCUSDT,yesterday,1723161254087896,1,sell,1.0,0.02",
     "column 'timestamp': not an integer 'yesterday'"),
    ("binance,BTCUSDT,1723161255342000", "expected 8 fields, got 3"),
    ("binance,,1723161255342000,1723161254087896,1,sell,1.0,0.02",
     "column 'symbol': missing value"),
    ("binance,BTCUSDT,1723161255342000,1723161254087896,1,sell,-3,0.02",
     "column 'price': price must be finite and > 0"),
])
def test_tardis_bad_line(tmp_path, row, reason):
    src = (TARDIS / "binance_trades_2024-08-08_BTCUSDT.csv").read_text().splitlines()
    src.insert(3, row)
    path = tmp_path / "trades.csv"
    path.write_text("\n".join(src) + "\n")
    with pytest.raises(DataError) as e:
        run_import(ImportConfig(source="tardis", files=(str(path),)), tmp_path / "out")
    assert f"trades.csv: line 4: {reason}" in str(e.value)
    m = run_import(ImportConfig(source="tardis", files=(str(path),), skip_bad_lines=True),
                   tmp_path / "out")
    assert m["n_bad_lines"] == 1 and m["n_trades"] == 6


def test_tardis_unknown_file_kind(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("exchange,symbol,timestamp,local_timestamp,funding_rate\nb,X,1,2,0.1\n")
    with pytest.raises(DataError, match="not a Tardis trades, quotes or book_snapshot file"):
        run_import(ImportConfig(source="tardis", files=(str(path),)), tmp_path / "out")


def test_lobster_sample(tmp_path):
    m = run_import(ImportConfig(source="lobster", files=(str(LOBSTER_BOOK),), bar="100ms"),
                   tmp_path / "out")
    assert m["clock"] == "exchange" and m["symbols"] == ["AAPL"]
    assert (m["n_duplicate_messages"], m["n_halts"], m["n_lines"]) == (1, 1, 10)
    ticks = read_ticks(tmp_path / "out" / "ticks.parquet")
    t = ticks.is_trade
    assert list(ticks.price[t]) == [585.91, 585.6]
    assert list(ticks.side[t]) == [1, -1]  # a sell order executed: buyer-initiated
    assert list(ticks.size[t]) == [18.0, 50.0]
    # 09:30:00.005445980 New York = 13:30 UTC
    assert ticks.timestamp[0] == pd.Timestamp("2012-06-21T13:30:00.005445980Z").value
    assert np.all(ticks.receive_time == np.iinfo(np.int64).min)
    assert list(ticks.bid[~t]) == [585.33, 585.35, 585.35]
    market, _ = load_market(tmp_path / "out" / "bars.parquet")
    assert market.n_steps == m["n_bars"]


def test_lobster_errors(tmp_path):
    msg = tmp_path / LOBSTER_MESSAGE.name
    shutil.copy(LOBSTER_MESSAGE, msg)
    with pytest.raises(DataError, match="orderbook_1.csv: file not found"):
        run_import(ImportConfig(source="lobster", files=(str(msg),)), tmp_path / "out")
    with pytest.raises(DataError, match="not a LOBSTER file name"):
        run_import(ImportConfig(source="lobster", files=(str(TARDIS / "binance_trades_2024-08-08_BTCUSDT.csv"),)),
                   tmp_path / "out")
    book = tmp_path / LOBSTER_BOOK.name
    shutil.copy(LOBSTER_BOOK, book)
    lines = LOBSTER_MESSAGE.read_text().splitlines()
    lines[2] = "34200.1,9,1,1,1,1"
    msg.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match="line 3: column 'type': unknown message type 9"):
        run_import(ImportConfig(source="lobster", files=(str(msg),)), tmp_path / "out")
    m = run_import(ImportConfig(source="lobster", files=(str(msg),), skip_bad_lines=True),
                   tmp_path / "out")
    assert m["n_bad_lines"] == 1
    with pytest.raises(DataError, match="unknown time zone"):
        run_import(ImportConfig(source="lobster", files=(str(msg),), timezone="Mars/Base"),
                   tmp_path / "out")
