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

    Execution fields (all optional, static presence): ``elapsed`` (float ``[]``, seconds since
    the previous step: carry accrues over it; ``None``: no carry), and on tick data (one step
    per trade, quote or bar close, :mod:`quantjax.backtest.tick_series`) ``elapsed_us``
    (int32 ``[]``, microseconds since the previous step: its presence makes the step a *tick
    step*, whose latency and expiry are in milliseconds and whose limit orders may use the
    queue model) and ``bid_volume``/``ask_volume`` (the displayed sizes at the touch).
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
    bid_volume: jax.Array | None = None
    ask_volume: jax.Array | None = None
    elapsed: jax.Array | None = None  # [] float seconds since the previous step
    elapsed_us: jax.Array | None = None  # [] int32 microseconds (tick steps only)


#: In-flight orders kept per symbol (decisions sent but not yet at the market); a decision
#: sent while this many are in flight replaces the oldest (counted in ``n_dropped``).
IN_FLIGHT = 8
#: Saturation of the int32 order clocks (steps or microseconds): 2**30 us is 17.9 minutes.
AGE_MAX = 2**30


class ExecutionState(NamedTuple):
    """State of the execution rules (:mod:`quantjax.risk.rules.latency`, ``limit``,
    ``impact``, ``carry``). ``P`` is ``[]`` or ``[S]``; ``P, K``: ``K`` = :data:`IN_FLIGHT`
    in-flight slots, newest first. Ages count steps on bars and microseconds on tick steps.
    """

    # latency: decisions on their way to the market
    flight_target: jax.Array  # P, K target fraction; NaN = empty slot
    flight_reason: jax.Array  # P, K int32 reason code
    flight_age: jax.Array  # P, K int32 age since the decision
    # limit: the working (resting) limit order
    work_qty: jax.Array  # P signed units still to fill; 0 = none
    work_price: jax.Array  # P limit price
    work_age: jax.Array  # P int32 age since the order reached the market
    work_reason: jax.Array  # P int32
    queue_ahead: jax.Array  # P units ahead of the order at its price (NaN: unknown)
    queue_level: jax.Array  # P last displayed size of the order's price level (NaN: unknown)
    queue_traded: jax.Array  # P units traded at the order's price since that display
    # impact: causal estimates (EWMA over valid steps)
    est_var: jax.Array  # P squared one-step return (NaN: none yet)
    est_volume: jax.Array  # P volume per step (NaN: none yet)
    # counters
    carry_paid: jax.Array  # P cumulated carry (cash, positive = paid)
    impact_paid: jax.Array  # P cumulated impact cost (cash)
    n_sent: jax.Array  # P int32 decisions sent to the market
    n_dropped: jax.Array  # P int32 decisions replaced in flight (more than IN_FLIGHT)
    n_limit_orders: jax.Array  # P int32 limit orders that reached the market
    n_limit_fills: jax.Array  # P int32 limit fills (partial fills count each)
    n_expired: jax.Array  # P int32 limit orders expired with a remainder


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
    # the execution rules (None: not tracked, see ``init``)
    execution: ExecutionState | None = None


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
    carry: jax.Array  # P carry charged at this step (cash; positive = paid)


#: The parameters that switch an execution rule on, with their "off" value.
EXECUTION_SWITCHES = ("latency", "limit_orders", "impact_k", "borrow_rate", "funding_rate")


def execution_needed(params) -> bool:
    """Whether a book with ``params`` needs the execution state: True when any
    :data:`EXECUTION_SWITCHES` parameter is non-zero or traced (a sweep may vary it)."""
    for name in EXECUTION_SWITCHES:
        v = getattr(params, name)
        if isinstance(v, jax.core.Tracer) or bool(jnp.any(jnp.asarray(v) != 0)):
            return True
    return False


def init_execution(shape: tuple[int, ...], dt) -> ExecutionState:
    """Empty execution state: nothing in flight, no working order, no estimates."""
    z = jnp.zeros(shape, dt)
    nan = jnp.full(shape, jnp.nan, dt)
    zi = jnp.zeros(shape, jnp.int32)
    slots = shape + (IN_FLIGHT,)
    return ExecutionState(
        flight_target=jnp.full(slots, jnp.nan, dt), flight_reason=jnp.zeros(slots, jnp.int32),
        flight_age=jnp.zeros(slots, jnp.int32),
        work_qty=z, work_price=z, work_age=zi, work_reason=zi,
        queue_ahead=nan, queue_level=nan, queue_traded=z,
        est_var=nan, est_volume=nan, carry_paid=z, impact_paid=z,
        n_sent=zi, n_dropped=zi, n_limit_orders=zi, n_limit_fills=zi, n_expired=zi,
    )


def init(params, n_symbols: int | None = None, first_day: int = 0,
         execution: bool | None = None) -> RiskState:
    """Flat book with ``params.initial_cash``; symbol fields ``[n_symbols]`` or ``[]``.

    ``execution``: track the state of the execution rules (latency, limit orders, impact,
    carry). ``None`` (default): when :func:`execution_needed`. Without it those rules are
    skipped at trace time; with every switch at 0 both give bitwise identical results (the
    execution rules then change nothing), so the choice only saves their cost.
    """
    dt = params.initial_cash.dtype
    shape = () if n_symbols is None else (n_symbols,)
    z = jnp.zeros(shape, dt)
    cash = params.initial_cash
    if execution is None:
        execution = execution_needed(params)
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
        execution=init_execution(shape, dt) if execution else None,
    )


def equity(cash, position, price):
    """Book equity ``[]``: ``cash`` plus the value of the non-zero positions ``P`` at ``price``."""
    return cash + jnp.sum(jnp.where(position != 0, position * price, 0.0))
