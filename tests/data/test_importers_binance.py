"""Binance recordings -> ticks and bars: values, and every data rule on hand-written feeds."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from quantjax.data.importers.config import ImportConfig
from quantjax.data.importers.pipeline import run_import
from quantjax.data.market_io import load_market
from quantjax.data.ticks import read_ticks
from quantjax.errors import DataError

from support.feeds import T0, basic_feed, book, depth, line, trade, write_feed

S = 10**9


def run(tmp_path, lines, bar="1s", skip=False, gz=False, name="feed.jsonl"):
    path = write_feed(tmp_path / (name + (".gz" if gz else "")), lines, gz=gz)
    cfg = ImportConfig(source="binance", files=(str(path),), bar=bar, skip_bad_lines=skip)
    out = tmp_path / "out"
    metrics = run_import(cfg, out)
    assert json.loads((out / "metrics.json").read_text()) == json.loads(json.dumps(metrics))
    return metrics, out


def bars_of(out) -> pd.DataFrame:
    return pd.read_parquet(out / "bars.parquet")


def test_bars_values_and_empty_interval(tmp_path):
    m, out = run(tmp_path, basic_feed(), gz=True)
    assert (m["n_lines"], m["n_trades"], m["n_quotes"], m["n_bars"]) == (8, 4, 4, 3)
    b = bars_of(out)
    ends = pd.to_datetime([T0 + S, T0 + 2 * S, T0 + 3 * S], utc=True)
    assert list(b["timestamp"]) == list(ends)
    first, empty, last = b.iloc[0], b.iloc[1], b.iloc[2]
    assert (first.open, first.high, first.low, first.close) == (100.5, 100.5, 100.0, 100.5)
    assert first.volume == pytest.approx(0.7) and first.trade_count == 3
    assert first.buy_volume == pytest.approx(0.6) and first.sell_volume == pytest.approx(0.1)
    assert first.signed_volume == pytest.approx(0.5)
    assert (first.bid, first.ask, first.bid_volume, first.ask_volume) == (100.1, 100.5, 2.5, 0.6)
    assert first.ofi == pytest.approx(2.9) and first.quote_count == 2 and not first.carried
    # no trade in the second interval: the close is carried, nothing is invented
    assert empty.carried and empty.volume == 0 and empty.trade_count == 0
    assert (empty.open, empty.high, empty.low, empty.close) == (100.5,) * 4
    assert (empty.bid, empty.ask) == (100.2, 100.6) and empty.ofi == pytest.approx(1.6)
    assert last.close == 100.2 and last.sell_volume == 1.0 and last.ofi == pytest.approx(-3.0)
    assert m["n_carried_bars"] == 1
    market, report = load_market(out / "bars.parquet")
    assert market.has_quotes and report.rows == 3 and report.n_missing == 0


def test_ticks_carry_the_prevailing_quote(tmp_path):
    _, out = run(tmp_path, basic_feed())
    ticks = read_ticks(out / "ticks.parquet")
    assert ticks.symbols == ("BTCUSDT",)
    assert np.all(np.diff(ticks.timestamp) >= 0)
    trades = np.flatnonzero(ticks.is_trade)
    assert list(ticks.price[trades]) == [100.5, 100.0, 100.5, 100.2]
    assert list(ticks.side[trades]) == [1, -1, 1, -1]
    assert list(ticks.bid[trades]) == [100.0, 100.0, 100.1, 100.2]
    assert list(ticks.trade_id[trades]) == [1, 2, 3, 4]
    # exchange time of trades is T (5 ms before receive here); spot bookTicker has none
    assert ticks.exchange_time[trades[0]] == T0 + 20 * 10**6 - 5 * 10**6
    table = pd.read_parquet(out / "ticks.parquet")
    assert table["exchange_time"][table["kind"] == "quote"].isna().all()
    assert table["receive_time"].notna().all()


def test_trade_before_first_quote_has_no_quote_and_no_bar(tmp_path):
    lines = [trade(100, 1, "100.0", "1.0"), book(1200, 1, "99.9", "1", "100.1", "1"),
             trade(1300, 2, "100.1", "1.0")]
    m, out = run(tmp_path, lines)
    table = pd.read_parquet(out / "ticks.parquet")
    assert np.isnan(table["bid"].iloc[0]) and table["bid"].iloc[2] == 99.9
    b = bars_of(out)  # bars start once a quote exists
    assert len(b) == 1 and b["open"].iloc[0] == 100.1


def test_out_of_order_lines_are_counted_and_sorted(tmp_path):
    lines = basic_feed()
    lines[1], lines[2] = lines[2], lines[1]  # trade 2 received before trade 1 in the file
    lines[4], lines[5] = lines[5], lines[4]
    m, out = run(tmp_path, lines)
    assert m["n_out_of_order"] == 2
    ticks = read_ticks(out / "ticks.parquet")
    assert np.all(np.diff(ticks.timestamp) >= 0)
    assert list(ticks.trade_id[ticks.is_trade]) == [1, 2, 3, 4]


def test_equal_timestamps_keep_the_file_order(tmp_path):
    lines = [book(10, 1, "100.0", "2.0", "100.5", "1.0"), trade(20, 7, "100.5", "0.1"),
             trade(20, 5, "100.5", "0.2"), trade(20, 6, "100.5", "0.3")]
    _, out = run(tmp_path, lines)
    ticks = read_ticks(out / "ticks.parquet")
    assert list(ticks.trade_id[ticks.is_trade]) == [7, 5, 6]


def test_duplicates_are_dropped_and_counted(tmp_path):
    lines = basic_feed()
    lines.insert(3, lines[1].replace(f"{T0 + 20 * 10**6} ", f"{T0 + 350 * 10**6} "))
    lines.append(lines[0].replace(f"{T0 + 10 * 10**6} ", f"{T0 + 2300 * 10**6} "))
    m, out = run(tmp_path, lines)
    assert (m["n_duplicate_trades"], m["n_duplicate_quotes"]) == (1, 1)
    assert m["n_trades"] == 4 and m["n_quotes"] == 4
    assert bars_of(out)["volume"].sum() == pytest.approx(1.7)


def test_crossed_zero_size_and_unchanged_quotes(tmp_path):
    lines = basic_feed() + [
        book(2300, 5, "100.5", "1.0", "100.4", "1.0"),  # crossed
        book(2400, 6, "100.4", "1.0", "100.4", "1.0"),  # locked
        book(2500, 7, "100.0", "0.0", "100.4", "1.0"),  # zero size
        book(2600, 8, "100.0", "1.0", "100.4", "2.0"),  # same as update 4: unchanged
        trade(2700, 5, "100.4", "0.0"),  # zero-size trade
    ]
    m, out = run(tmp_path, lines)
    assert (m["n_crossed_quotes"], m["n_zero_size_quotes"], m["n_unchanged_quotes"],
            m["n_zero_size_trades"]) == (2, 1, 1, 1)
    ticks = read_ticks(out / "ticks.parquet")
    assert np.all(ticks.bid[~ticks.is_trade] < ticks.ask[~ticks.is_trade])
    assert np.all(ticks.size[ticks.is_trade] > 0)


@pytest.mark.parametrize("bad,reason", [
    ("1723161254500000000 {\"stream\":\"btcusdt@trade\",\"data\":{\"p\":", "invalid JSON"),
    ("hello world", "expected '<receive time ns> <JSON message>'"),
    ("1723161254500000000 [1, 2]", "expected a JSON object"),
    ("1723161254500000000 " + json.dumps({"stream": "btcusdt@trade", "data": {
        "s": "BTCUSDT", "t": 9, "p": "abc", "q": "1", "m": False}}), "field 'p': not a number"),
    ("1723161254500000000 " + json.dumps({"stream": "btcusdt@bookTicker", "data": {
        "s": "BTCUSDT", "u": 9, "b": "1", "B": "1", "a": "2"}}), "missing field 'A'"),
    ("1723161254500000000 " + json.dumps({"stream": "btcusdt@trade", "data": {
        "s": "BTCUSDT", "t": 9, "p": "-5", "q": "1", "m": False}}), "price must be finite"),
    ("17231612 " + json.dumps({"stream": "x@trade", "data": {}}), "not epoch nanoseconds"),
    ("1723161254500000000 {\"hello\": 1}", "unrecognised message"),
])
def test_malformed_line_error_names_file_and_line(tmp_path, bad, reason):
    lines = basic_feed()
    lines.insert(4, bad)
    with pytest.raises(DataError) as e:
        run(tmp_path, lines)
    msg = str(e.value)
    assert "\n" not in msg and "feed.jsonl: line 5: " in msg and reason in msg
    assert "--skip-bad-lines" in msg
    m, out = run(tmp_path, lines, skip=True)
    assert m["n_bad_lines"] == 1 and "line 5" in m["bad_line_examples"][0]
    assert m["n_trades"] == 4 and m["n_bars"] == 3


def test_non_utf8_and_blank_lines(tmp_path):
    path = tmp_path / "feed.jsonl"
    lines = [s.encode() for s in basic_feed()]
    lines.insert(2, b"1723161254500000000 {\"stream\":\"btcusdt@trade\",\"data\":\xff}")
    lines.insert(5, b"")
    path.write_bytes(b"\n".join(lines) + b"\n")
    cfg = ImportConfig(source="binance", files=(str(path),))
    with pytest.raises(DataError, match=r"feed.jsonl: line 3: not UTF-8 text \(byte 0xff\)"):
        run_import(cfg, tmp_path / "out")
    m = run_import(dataclasses.replace(cfg, skip_bad_lines=True), tmp_path / "out")
    assert (m["n_bad_lines"], m["n_blank_lines"], m["n_trades"]) == (1, 1, 4)


def test_depth_snapshot_and_other_streams_are_checked_and_counted(tmp_path):
    snapshot = f"{T0 + 5 * 10**6} " + json.dumps({"lastUpdateId": 1, "bids": [["1", "1"]],
                                                   "asks": [["2", "1"]]})
    lines = [snapshot, depth(6, 1, 2)] + basic_feed() + [
        line(T0 + 2500 * 10**6, "btcusdt@kline_1m", {"k": {}})]
    m, _ = run(tmp_path, lines)
    assert m["n_snapshots"] == 1
    assert m["lines_by_stream"] == {"btcusdt@bookTicker": 4, "btcusdt@depth@100ms": 1,
                                    "btcusdt@kline_1m": 1, "btcusdt@trade": 4,
                                    "depth snapshot": 1}
    bad_depth = depth(7, 2, 3)[:-3]  # truncated JSON in a stream the importer does not use
    with pytest.raises(DataError, match="line 2: invalid JSON"):
        run(tmp_path, [snapshot, bad_depth] + basic_feed())


def test_futures_streams_raw_messages_and_numbers(tmp_path):
    """coin-M/USD-M names, extra fields, non-market trades, aggTrade, raw (unwrapped)
    messages, numbers instead of decimal text, key order and spaces all import."""
    sym = "BTCUSD_PERP"
    lines = [
        book(10, 1, "100.0", "2", "100.5", "1", symbol=sym, stream="btcusd_perp@bookTicker",
             e="bookTicker", E=1723161254010, T=1723161254009, ps="BTCUSD"),
        trade(20, 1, "100.5", "3", symbol=sym, stream="btcusd_perp@trade", X="MARKET"),
        trade(30, 2, "100.4", "1", symbol=sym, stream="btcusd_perp@trade", X="INSURANCE_FUND"),
        depth(40, 1, 5, stream="btcusd_perp@depth@0ms"),
        f"{T0 + 50 * 10**6} " + json.dumps({"data": {"s": sym, "a": 77, "p": 100.5, "q": 2,
                                                      "m": True, "T": 1723161254049},
                                             "stream": "btcusd_perp@aggTrade"}, indent=1)
        .replace("\n", ""),
        f"{T0 + 60 * 10**6} " + json.dumps({"e": "trade", "E": 1723161254060, "s": "ETHUSDT",
                                             "t": 5, "p": "2600", "q": "1", "m": False}),
        f"{T0 + 70 * 10**6} " + json.dumps({"u": 3, "s": "ETHUSDT", "b": "2599", "B": "1",
                                             "a": "2601", "A": "1"}),
        trade(1100, 6, "2600.5", "1", symbol="ETHUSDT", stream="ethusdt@trade"),
    ]
    m, out = run(tmp_path, lines)
    assert m["symbols"] == ["BTCUSD_PERP", "ETHUSDT"]
    assert m["n_non_market_trades"] == 1
    ticks = pd.read_parquet(out / "ticks.parquet")
    perp = ticks[(ticks["symbol"] == sym) & (ticks["kind"] == "trade")]
    assert list(perp["price"]) == [100.5, 100.5] and list(perp["trade_id"]) == [1, 77]
    quote = ticks[(ticks["symbol"] == sym) & (ticks["kind"] == "quote")].iloc[0]
    assert quote["exchange_time"] == pd.Timestamp(1723161254009, unit="ms", tz="UTC")
    b = bars_of(out)
    assert set(b["symbol"]) == {sym, "ETHUSDT"}
    load_market(out / "bars.parquet")


def test_multiple_files_and_bar_lengths(tmp_path):
    first = write_feed(tmp_path / "a.jsonl", basic_feed()[:4])
    second = write_feed(tmp_path / "b.jsonl.gz", basic_feed()[4:], gz=True)
    cfg = ImportConfig(source="binance", files=(str(first), str(second)), bar="500ms")
    m = run_import(cfg, tmp_path / "out")
    assert (m["n_lines"], m["n_trades"], m["n_quotes"]) == (8, 4, 4)
    b = bars_of(tmp_path / "out")
    assert (b["timestamp"].diff().dropna() == pd.Timedelta("500ms")).all()
    assert b["volume"].sum() == pytest.approx(1.7) and b["trade_count"].sum() == 4
