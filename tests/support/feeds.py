"""Hand-written Binance recorder lines for the importer tests (``<receive ns> <JSON>``)."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

from support.paths import ROOT

T0 = 1_723_161_254_000_000_000  # 2024-08-08T23:54:14Z in ns
#: the real Binance recording (MIT, from hftbacktest; see tests/support/data/README.md)
BINANCE_RECORDING = ROOT / "tests" / "support" / "data" / "binance_spot_btcusdt_20240808.jsonl.gz"
TARDIS = ROOT / "tests" / "support" / "tardis"
LOBSTER = ROOT / "tests" / "support" / "lobster"


def line(receive_ns: int, stream: str, data: dict) -> str:
    return f"{receive_ns} " + json.dumps({"stream": stream, "data": data},
                                         separators=(",", ":"))


def trade(ms: float, trade_id: int, price: str, qty: str, maker: bool = False,
          symbol: str = "BTCUSDT", stream: str = "btcusdt@trade", **extra) -> str:
    """A trade received ``ms`` milliseconds after T0 (exchange time 5 ms earlier)."""
    receive = T0 + int(ms * 1_000_000)
    data = {"e": "trade", "E": receive // 10**6 - 4, "s": symbol, "t": trade_id, "p": price,
            "q": qty, "T": receive // 10**6 - 5, "m": maker, "M": True, **extra}
    return line(receive, stream, data)


def book(ms: float, update_id: int, bid: str, bid_qty: str, ask: str, ask_qty: str,
         symbol: str = "BTCUSDT", stream: str = "btcusdt@bookTicker", **extra) -> str:
    receive = T0 + int(ms * 1_000_000)
    data = {"u": update_id, "s": symbol, "b": bid, "B": bid_qty, "a": ask, "A": ask_qty,
            **extra}
    return line(receive, stream, data)


def depth(ms: float, first: int, last: int, stream: str = "btcusdt@depth@100ms") -> str:
    receive = T0 + int(ms * 1_000_000)
    return line(receive, stream, {"e": "depthUpdate", "E": receive // 10**6, "s": "BTCUSDT",
                                  "U": first, "u": last, "b": [["61000.0", "0.0"]],
                                  "a": [["61001.0", "1.5"]]})


def write_feed(path: Path, lines: list[str], gz: bool = False) -> Path:
    text = "\n".join(lines) + "\n"
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


def basic_feed() -> list[str]:
    """Quotes and trades over 3 seconds, one second without trades."""
    return [
        book(10, 1, "100.0", "2.0", "100.5", "1.0"),
        trade(20, 1, "100.5", "0.4"),
        trade(30, 2, "100.0", "0.1", maker=True),
        book(400, 2, "100.1", "2.5", "100.5", "0.6"),
        trade(900, 3, "100.5", "0.2"),
        book(1500, 3, "100.2", "1.0", "100.6", "3.0"),
        trade(2100, 4, "100.2", "1.0", maker=True),
        book(2200, 4, "100.0", "1.0", "100.4", "2.0"),
    ]
