"""The book's data: reason codes, one bar, the state, the step record, ``init``.

A *book* owns one cash balance and the positions of one or more symbols. Per-symbol arrays
have shape ``[]`` (one symbol) or ``[S]`` (several symbols sharing cash: the portfolio mode).
The state is one flat NamedTuple (readers use ``state.cash``, ``state.position``, ...); the
comments name the rule that owns each field (see :mod:`quantjax.risk.rules`).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from quantjax.risk.params import Param

# Reason codes used in records and trade logs.
NONE, SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING, BREAKER, DAILY_LIMIT, END = range(8)
REASONS = ("none", "signal", "stop_loss", "take_profit", "trailing", "breaker", "daily_limit", "end")

#: The book's own parameter (the rules declare theirs).
PARAMS = (Param("initial_cash", 100_000.0, "cash of each book", gt=0),)


class MarketStep(NamedTuple):
    """One bar for the symbols of a book; each field ``[]`` or ``[S]``.

    ``bid``/``ask`` are ``None`` when the data has no quotes (a static choice).
    ``day`` is an int32 scalar day index shared by the book (UTC day of the bar).
    """

    open: jax.Array
    high: jax.Array
    low: jax.Array
    close: jax.Array
    volume: jax.Array
    valid: jax.Array  # bool
    day: jax.Array  # int32 scalar
    bid: jax.Array | None = None
    ask: jax.Array | None = None


class RiskState(NamedTuple):
    """State of one book. ``[]``-shaped fields are per book, ``P``: per symbol."""

    # the book (written by fill, stops and mark)
    cash: jax.Array  # []
    position: jax.Array  # P units (signed)
    entry_price: jax.Array  # P average entry price of the open position
    extreme_price: jax.Array  # P best price since entry (stops: the trailing stop)
    last_price: jax.Array  # P last valid close (mark price)
    realized_pnl: jax.Array  # P realized PnL before fees
    fees_paid: jax.Array  # P cumulated fees
    n_trades: jax.Array  # P int32 number of fills
    # decide (consumed by fill)
    pending: jax.Array  # P target fraction for the next valid bar; NaN = no order
    pending_reason: jax.Array  # P int32 reason code of the pending order
    # limits (and the day roll)
    peak_equity: jax.Array  # []
    day: jax.Array  # [] int32 current day index
    day_start_equity: jax.Array  # []
    halted_day: jax.Array  # [] bool: daily loss limit hit
    breaker: jax.Array  # [] bool: drawdown circuit breaker tripped


class StepRecord(NamedTuple):
    """What ``step`` reports for bar t (shapes as in RiskState)."""

    equity: jax.Array  # [] book equity at the close mark
    cash: jax.Array  # []
    position: jax.Array  # P after the bar
    price: jax.Array  # P mark price
    order_qty: jax.Array  # P signed units filled at the open (0: none)
    order_price: jax.Array  # P
    order_fee: jax.Array  # P
    order_reason: jax.Array  # P int32
    exit_qty: jax.Array  # P signed units of a stop exit (0: none)
    exit_price: jax.Array  # P
    exit_fee: jax.Array  # P
    exit_reason: jax.Array  # P int32
    breaker: jax.Array  # [] bool


def init(params, n_symbols: int | None = None, first_day: int = 0) -> RiskState:
    """Flat book with ``params.initial_cash``; symbol fields ``[n_symbols]`` or ``[]``."""
    dt = params.initial_cash.dtype
    shape = () if n_symbols is None else (n_symbols,)
    z = jnp.zeros(shape, dt)
    cash = params.initial_cash
    return RiskState(
        cash=cash,
        position=z,
        entry_price=z,
        extreme_price=z,
        last_price=jnp.full(shape, jnp.nan, dt),
        realized_pnl=z,
        fees_paid=z,
        n_trades=jnp.zeros(shape, jnp.int32),
        pending=jnp.full(shape, jnp.nan, dt),
        pending_reason=jnp.zeros(shape, jnp.int32),
        peak_equity=cash,
        day=jnp.asarray(first_day, jnp.int32),
        day_start_equity=cash,
        halted_day=jnp.asarray(False),
        breaker=jnp.asarray(False),
    )


def equity(cash, position, price):
    """Book equity ``[]``: ``cash`` plus the value of the non-zero positions ``P`` at ``price``."""
    return cash + jnp.sum(jnp.where(position != 0, position * price, 0.0))
