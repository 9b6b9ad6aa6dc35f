"""The dense, aligned market array contract shared by every downstream package.

Long-format input (``timestamp, symbol, open, high, low, close, volume`` and optional
``bid, ask, bid_volume, ask_volume``) is loaded into :class:`MarketArrays`:

- ``values``: float64 ``[S, T, F]``; ``values[s, t, f]`` is field ``fields[f]`` of
  symbol ``symbols[s]`` at ``timestamps[t]``. Missing bars hold NaN and are masked.
- ``mask``: bool ``[S, T]``; True where the symbol has a real bar at that timestamp.
- ``timestamps``: int64 ``[T]``, nanoseconds since the Unix epoch (UTC), strictly
  increasing; the union of all symbols' timestamps.
- ``symbols``: tuple of S symbol names, sorted.
- ``fields``: tuple of F field names in :data:`FIELDS` order; the optional quote
  fields appear only when the input has them (they are never invented).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

REQUIRED_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
OPTIONAL_FIELDS: tuple[str, ...] = ("bid", "ask", "bid_volume", "ask_volume")
FIELDS: tuple[str, ...] = REQUIRED_FIELDS + OPTIONAL_FIELDS
PRICE_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "bid", "ask")
VOLUME_FIELDS: tuple[str, ...] = ("volume", "bid_volume", "ask_volume")


class MarketArrays(NamedTuple):
    """Dense market data ``[symbol, time, field]`` with a validity mask."""

    values: np.ndarray  # [S, T, F] float64, NaN where mask is False
    mask: np.ndarray  # [S, T] bool
    timestamps: np.ndarray  # [T] int64 ns since epoch, UTC
    symbols: tuple[str, ...]
    fields: tuple[str, ...]

    @property
    def n_symbols(self) -> int:
        return len(self.symbols)

    @property
    def n_steps(self) -> int:
        return int(self.timestamps.shape[0])

    def has(self, field: str) -> bool:
        """True if ``field`` is present in the data."""
        return field in self.fields

    @property
    def has_quotes(self) -> bool:
        """True if all four quote fields (bid, ask, bid_volume, ask_volume) are present."""
        return all(f in self.fields for f in OPTIONAL_FIELDS)

    def field(self, name: str) -> np.ndarray:
        """The ``[S, T]`` array of one field; raises KeyError if absent."""
        return self.values[:, :, self.fields.index(name)]

    def select(self, symbols: list[str] | tuple[str, ...]) -> MarketArrays:
        """A view restricted to ``symbols`` (in the given order)."""
        idx = [self.symbols.index(s) for s in symbols]
        return self._replace(values=self.values[idx], mask=self.mask[idx], symbols=tuple(symbols))
