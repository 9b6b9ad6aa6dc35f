"""Small random tick tables (trades and top-of-book quotes on a price grid). Not a market model."""

from __future__ import annotations

import numpy as np

from quantjax.data.ticks import MISSING, Ticks

START_NS = 1_723_075_200 * 10**9  # 2024-08-08 00:00 UTC


def random_ticks(n_rows: int, n_symbols: int = 1, seed: int = 0, tick: float = 0.01,
                 p_trade: float = 0.5, max_gap_ms: int = 40) -> Ticks:
    """``n_rows`` ticks: each row a trade (at the bid, the ask or one tick beyond) or a quote
    update of a random symbol; the book moves by whole ticks, the spread is 1-3 ticks, sizes
    are 0.1-5 units; times step by 0-``max_gap_ms`` ms (ties happen)."""
    rng = np.random.default_rng(seed)
    bid = np.full(n_symbols, 100.0)
    spread = np.ones(n_symbols)
    bid_v = rng.uniform(0.1, 5.0, n_symbols)
    ask_v = rng.uniform(0.1, 5.0, n_symbols)
    gaps = rng.integers(0, max_gap_ms + 1, n_rows) * 1_000_000 + rng.integers(0, 1000, n_rows)
    ts = START_NS + np.cumsum(gaps).astype(np.int64)
    cols = {k: np.zeros(n_rows) for k in ("price", "size", "bid", "ask", "bid_volume",
                                          "ask_volume")}
    sym = rng.integers(0, n_symbols, n_rows).astype(np.int32)
    trade = rng.random(n_rows) < p_trade
    side = np.zeros(n_rows, np.int8)
    for i in range(n_rows):
        s = sym[i]
        if trade[i]:
            side[i] = rng.choice([-1, 1])
            beyond = rng.integers(0, 2)  # a sweep through the touch
            px = bid[s] - beyond * tick if side[i] < 0 else bid[s] + (spread[s] + beyond) * tick
            cols["price"][i], cols["size"][i] = round(px, 2), rng.uniform(0.1, 5.0)
        else:
            bid[s] = round(bid[s] + rng.integers(-1, 2) * tick, 2)
            spread[s] = rng.integers(1, 4)
            bid_v[s], ask_v[s] = rng.uniform(0.1, 5.0, 2)
            cols["price"][i] = cols["size"][i] = np.nan
        cols["bid"][i], cols["ask"][i] = bid[s], round(bid[s] + spread[s] * tick, 2)
        cols["bid_volume"][i], cols["ask_volume"][i] = bid_v[s], ask_v[s]
    missing = np.full(n_rows, MISSING, np.int64)
    return Ticks(timestamp=ts, exchange_time=ts, receive_time=missing, symbol=sym,
                 is_trade=trade, price=cols["price"], size=cols["size"], side=side,
                 trade_id=missing, bid=cols["bid"], ask=cols["ask"],
                 bid_volume=cols["bid_volume"], ask_volume=cols["ask_volume"],
                 symbols=tuple(f"S{k}" for k in range(n_symbols)))
