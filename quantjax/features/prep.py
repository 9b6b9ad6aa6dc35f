"""Host-side (numpy, float64) preparation of :class:`MarketArrays` for the jnp features.

Prices become float32 pairs ``(hi, lo)`` with ``hi = float32(p)`` and ``lo = float32(p - hi)``
so float32 code can form price differences without losing the float64 precision.
Missing bars (``mask`` False) are filled causally so that every array is finite: prices with
the last observed value (1.0 before the first observation), volumes with 0. Filled values
never reach a valid output: every feature whose lookback touches a missing bar is invalid.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from quantjax.data.market import MarketArrays
from quantjax.errors import DataError

_NS_PER_S = 1_000_000_000
_NS_PER_DAY = 86_400 * _NS_PER_S


class SymbolInputs(NamedTuple):
    """Inputs of :func:`quantjax.features.batch.compute_symbol`; every leaf is ``[T]``
    for one symbol (``[S, T]`` batched). Price pairs: ``x = x_hi + x_lo``."""

    present: np.ndarray  # bool, the bar exists (MarketArrays.mask)
    quote_ok: np.ndarray  # bool, present and all four quote fields finite (False: no quotes)
    close_hi: np.ndarray
    close_lo: np.ndarray
    high_hi: np.ndarray
    high_lo: np.ndarray
    low_hi: np.ndarray
    low_lo: np.ndarray
    volume: np.ndarray
    bid_hi: np.ndarray  # zeros when the data has no quotes
    bid_lo: np.ndarray
    ask_hi: np.ndarray
    ask_lo: np.ndarray
    bid_volume: np.ndarray
    ask_volume: np.ndarray
    sod: np.ndarray  # int32 whole seconds since 00:00 UTC
    subsec: np.ndarray  # float32 fraction of the second


def ffill(x: np.ndarray, present: np.ndarray, first: float) -> np.ndarray:
    """Forward-fill ``x[..., T]`` along the last axis where ``present`` is False (causal);
    positions before the first observation get ``first``."""
    ok = present & np.isfinite(x)
    if ok.all():
        return x
    idx = np.where(ok, np.arange(x.shape[-1]), -1)
    np.maximum.accumulate(idx, axis=-1, out=idx)
    filled = np.take_along_axis(x, np.maximum(idx, 0), axis=-1)
    return np.where(idx >= 0, filled, first)


def split_hi_lo(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """float64 -> (hi, lo) float32 with ``hi + lo == x`` to ~1e-14 relative."""
    hi = x.astype(np.float32)
    lo = (x - hi.astype(np.float64)).astype(np.float32)
    return hi, lo


def label_price(market: MarketArrays) -> np.ndarray:
    """Label price ``[S, T]`` float64: mid ``(bid + ask) / 2`` when quotes exist, else close."""
    if market.has("bid") and market.has("ask"):
        return 0.5 * (market.field("bid") + market.field("ask"))
    return market.field("close")


def time_of_day(timestamps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(sod int32 [T], subsec float32 [T])``: seconds since 00:00 UTC and its fraction."""
    ns = np.mod(np.asarray(timestamps, dtype=np.int64), _NS_PER_DAY)
    sod = (ns // _NS_PER_S).astype(np.int32)
    subsec = ((ns % _NS_PER_S) / _NS_PER_S).astype(np.float32)
    return sod, subsec


def prepare(market: MarketArrays) -> SymbolInputs:
    """Batched inputs ``[S, T]`` for all symbols (host, numpy)."""
    if market.n_steps < 1 or market.n_symbols < 1:
        raise DataError("market: no bars to compute features on")
    present = np.asarray(market.mask, dtype=bool)
    S, T = present.shape

    def price(name: str) -> tuple[np.ndarray, np.ndarray]:
        return split_hi_lo(ffill(np.asarray(market.field(name), np.float64), present, 1.0))

    def vol(name: str) -> np.ndarray:
        v = np.asarray(market.field(name), np.float64)
        return np.where(present & np.isfinite(v), v, 0.0).astype(np.float32)

    zeros = np.zeros((S, T), np.float32)
    close = price("close")
    high = price("high")
    low = price("low")
    if market.has_quotes:
        bid, ask = price("bid"), price("ask")
        bid_v, ask_v = vol("bid_volume"), vol("ask_volume")
        quote_ok = present.copy()
        for name in ("bid", "ask", "bid_volume", "ask_volume"):
            quote_ok &= np.isfinite(market.field(name))
    else:
        bid = ask = (zeros, zeros)
        bid_v = ask_v = zeros
        quote_ok = np.zeros((S, T), bool)
    sod, subsec = time_of_day(market.timestamps)
    return SymbolInputs(
        present=present,
        quote_ok=quote_ok,
        close_hi=close[0], close_lo=close[1],
        high_hi=high[0], high_lo=high[1],
        low_hi=low[0], low_lo=low[1],
        volume=vol("volume"),
        bid_hi=bid[0], bid_lo=bid[1],
        ask_hi=ask[0], ask_lo=ask[1],
        bid_volume=bid_v, ask_volume=ask_v,
        sod=np.broadcast_to(sod, (S, T)).copy(),
        subsec=np.broadcast_to(subsec, (S, T)).copy(),
    )
