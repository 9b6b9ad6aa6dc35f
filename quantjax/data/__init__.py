"""Data layer: market and credit loaders, validation and synthetic generators.

The market contract is :class:`quantjax.data.market.MarketArrays`.
"""

from quantjax.data.market import FIELDS, OPTIONAL_FIELDS, REQUIRED_FIELDS, MarketArrays

__all__ = ["FIELDS", "OPTIONAL_FIELDS", "REQUIRED_FIELDS", "MarketArrays"]
