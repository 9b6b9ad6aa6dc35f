"""The state-passing risk engine: ``init`` and one pure ``step`` per time step.

A *book* owns one cash balance and the positions of one or more symbols. ``step`` is
written for one book; its per-symbol arrays have shape ``[]`` (one symbol) or ``[S]``
(several symbols sharing cash: the portfolio mode). Independent per-symbol books are
``jax.vmap(step, in_axes=(None, 0, MarketStep(0,...,day=None), 0))``.

Timeline of one ``step`` at bar t (all of it uses data <= t only):

1. Day roll: when ``market.day`` changes, the daily-loss reference equity resets to the
   previous mark and a daily halt is lifted.
2. Fill the pending order decided at t-1 (valid bars only; on a masked bar the order
   waits for the symbol's next valid bar). Fill at the open, or at the ask/bid
   (mid +/- half spread) when quotes exist, then slippage; proportional + fixed fee.
   Sizing happens at the fill: ``target * equity / (fill_price * (1 + fee_rate))`` units,
   clipped by ``max_position``, ``max_order``, the gross/net limits and the volume cap.
3. Stops on the position held after the fill, checked against the bar's range:
   a gap through a stop fills at the open; if stop-loss and take-profit are both touched
   in one bar the stop-loss fills (conservative). Trailing stops use the extreme price
   reached *before* this bar (the extreme is updated after the check).
4. Mark to market at the close (masked bars keep the last valid close).
5. Limits: a drawdown from peak equity beyond ``max_drawdown`` trips the circuit breaker
   (flatten at t+1, halt until :func:`reset_breaker`); a loss beyond ``daily_loss_limit``
   of the day's starting equity flattens and halts until the next day.
6. Decide: a finite ``signal_t`` (target fraction of equity in [-1, 1]) on a valid bar
   becomes the pending order for t+1; NaN means "no new decision".
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

# Reason codes used in records and trade logs.
NONE, SIGNAL, STOP_LOSS, TAKE_PROFIT, TRAILING, BREAKER, DAILY_LIMIT, END = range(8)
REASONS = ("none", "signal", "stop_loss", "take_profit", "trailing", "breaker", "daily_limit", "end")

# Defaults: the spec's HFTTradingSystem (stop-loss 2%, take-profit 1%) and its
# PerformanceMonitor (max drawdown -5% -> breaker).
DEFAULTS = dict(
    initial_cash=100_000.0,
    fee_rate=0.0005,  # proportional fee, fraction of traded value
    fee_fixed=0.0,  # fixed fee per fill, in cash
    slippage_bps=1.0,  # adverse price move per fill, basis points
    max_volume_frac=0.0,  # cap |order| <= frac * bar volume; 0 disables
    stop_loss=0.02,  # fraction of entry price; 0 disables
    take_profit=0.01,  # fraction of entry price; 0 disables
    trailing_stop=0.0,  # fraction below the best price since entry; 0 disables
    max_position=1.0,  # |position value| <= max_position * equity, per symbol
    max_order=1.0,  # |order value| <= max_order * equity
    max_leverage=1.0,  # gross exposure <= max_leverage * equity (per book)
    max_net=1.0,  # |net exposure| <= max_net * equity (per book)
    daily_loss_limit=0.0,  # halt for the day below (1 - x) * day start equity; 0 disables
    max_drawdown=0.05,  # breaker below (1 - x) * peak equity; 0 disables
    rebalance_band=0.01,  # skip orders smaller than band * equity (except closing to 0)
)


class RiskParams(NamedTuple):
    """Every field is a traced scalar (vmappable, sweepable). See :data:`DEFAULTS`."""

    initial_cash: jax.Array
    fee_rate: jax.Array
    fee_fixed: jax.Array
    slippage_bps: jax.Array
    max_volume_frac: jax.Array
    stop_loss: jax.Array
    take_profit: jax.Array
    trailing_stop: jax.Array
    max_position: jax.Array
    max_order: jax.Array
    max_leverage: jax.Array
    max_net: jax.Array
    daily_loss_limit: jax.Array
    max_drawdown: jax.Array
    rebalance_band: jax.Array


def traced_params(cls, defaults: dict, dtype, what: str, overrides: dict):
    """NamedTuple ``cls`` of scalar arrays from ``defaults`` updated by ``overrides``.

    Every field becomes a traced-able ``jnp`` scalar of ``dtype``; unknown keys raise.
    """
    unknown = set(overrides) - set(defaults)
    if unknown:
        raise TypeError(f"unknown {what} parameter {sorted(unknown)[0]!r}")
    vals = {**defaults, **overrides}
    return cls(**{k: jnp.asarray(vals[k], dtype) for k in cls._fields})


def make_params(dtype=jnp.float32, **overrides) -> RiskParams:
    """RiskParams from :data:`DEFAULTS` updated by ``overrides`` (unknown keys raise)."""
    return traced_params(RiskParams, DEFAULTS, dtype, "risk", overrides)


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

    cash: jax.Array  # []
    position: jax.Array  # P units (signed)
    entry_price: jax.Array  # P average entry price of the open position
    extreme_price: jax.Array  # P best price since entry (for the trailing stop)
    last_price: jax.Array  # P last valid close (mark price)
    realized_pnl: jax.Array  # P realized PnL before fees
    fees_paid: jax.Array  # P cumulated fees
    n_trades: jax.Array  # P int32 number of fills
    pending: jax.Array  # P target fraction for the next valid bar; NaN = no order
    pending_reason: jax.Array  # P int32 reason code of the pending order
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


def init(params: RiskParams, n_symbols: int | None = None, first_day: int = 0) -> RiskState:
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


def reset_breaker(state: RiskState) -> RiskState:
    """Manual reset after a breaker trip: resume trading, peak = current equity."""
    eq = state.cash + jnp.sum(state.position * jnp.nan_to_num(state.last_price))
    return state._replace(breaker=jnp.zeros_like(state.breaker), peak_equity=eq)


def _equity(cash, position, price):
    return cash + jnp.sum(jnp.where(position != 0, position * price, 0.0))


def step(params: RiskParams, state: RiskState, m: MarketStep, signal):
    """Advance one book by one bar. Returns ``(new_state, StepRecord)``."""
    p = params
    dt = state.cash.dtype
    zero = jnp.zeros((), dt)
    slip = p.slippage_bps * 1e-4
    valid = m.valid
    pos0 = state.position

    # 1. day roll
    new_day = m.day != state.day
    eq_prev = _equity(state.cash, pos0, state.last_price)
    day_start = jnp.where(new_day, eq_prev, state.day_start_equity)
    halted_day = state.halted_day & ~new_day

    # 2. fill the pending order at this bar's open / quotes
    if m.bid is not None:
        has_q = jnp.isfinite(m.bid) & jnp.isfinite(m.ask) & (m.ask >= m.bid)
        mid = jnp.where(has_q, 0.5 * (m.bid + m.ask), m.open)
        half = jnp.where(has_q, 0.5 * (m.ask - m.bid), zero)
    else:
        mid, half = m.open, zero
    ref = jnp.where(valid, mid, state.last_price)
    eq_fill = _equity(state.cash, pos0, ref)
    has_order = valid & ~jnp.isnan(state.pending)
    tgt = jnp.clip(jnp.where(has_order, state.pending, zero), -p.max_position, p.max_position)
    cur_val = jnp.where(pos0 != 0, pos0 * ref, zero)
    tgt_val = tgt * (eq_fill - p.fee_fixed)
    if pos0.ndim == 0:
        # one-symbol book (static shape): gross/net limits reduce to a clip of the target
        bound = jnp.maximum(jnp.minimum(p.max_leverage, p.max_net) * eq_fill, zero)
        tgt_val = jnp.clip(tgt_val, -bound, bound)
    else:
        # gross / net limits: scale the ordering symbols' targets uniformly
        keep_val = jnp.where(has_order, zero, cur_val)
        ord_val = jnp.where(has_order, tgt_val, zero)
        cap_g = p.max_leverage * eq_fill - jnp.sum(jnp.abs(keep_val))
        sum_abs = jnp.sum(jnp.abs(ord_val))
        k_g = jnp.where(sum_abs > 0, cap_g / jnp.where(sum_abs > 0, sum_abs, 1.0), 1.0)
        a_net, b_net = jnp.sum(keep_val), jnp.sum(ord_val)
        cap_n = p.max_net * eq_fill - jnp.sign(b_net) * a_net
        k_n = jnp.where(b_net != 0, cap_n / jnp.where(b_net != 0, jnp.abs(b_net), 1.0), 1.0)
        k = jnp.clip(jnp.minimum(k_g, k_n), 0.0, 1.0)
        tgt_val = tgt_val * k
    side = jnp.sign(tgt_val - cur_val)
    px_fill = (mid + side * half) * (1.0 + side * slip)
    px_safe = jnp.where(has_order & (px_fill > 0), px_fill, 1.0)
    tgt_units = tgt_val / (px_safe * (1.0 + p.fee_rate))
    dq = tgt_units - pos0
    # max order size and volume cap
    max_q = p.max_order * jnp.maximum(eq_fill, zero) / px_safe
    dq = jnp.where(tgt_units == 0, dq, jnp.clip(dq, -max_q, max_q))  # closing is exempt
    vcap = jnp.where((p.max_volume_frac > 0) & jnp.isfinite(m.volume),
                     p.max_volume_frac * m.volume, jnp.inf)
    dq = jnp.clip(dq, -vcap, vcap)
    big = jnp.abs(dq) * px_safe > p.rebalance_band * eq_fill
    closing = (tgt_units == 0) & (pos0 != 0)
    trade = has_order & (dq != 0) & (big | closing)
    dq = jnp.where(trade, dq, zero)
    o_fee = jnp.where(trade, jnp.abs(dq) * px_safe * p.fee_rate + p.fee_fixed, zero)
    pos1 = pos0 + dq
    # entry price / realized pnl
    s0 = jnp.sign(pos0)
    reducing = trade & (s0 != 0) & (jnp.sign(dq) != s0)
    closed = jnp.where(reducing, jnp.minimum(jnp.abs(dq), jnp.abs(pos0)), zero)
    realized = state.realized_pnl + closed * (px_safe - state.entry_price) * s0
    opened = trade & (jnp.sign(pos1) != s0) & (pos1 != 0)
    adding = trade & (s0 != 0) & (jnp.sign(dq) == s0)
    pos1_safe = jnp.where(pos1 != 0, pos1, 1.0)
    entry = jnp.where(opened, px_safe,
                      jnp.where(adding, (pos0 * state.entry_price + dq * px_safe) / pos1_safe,
                                state.entry_price))
    entry = jnp.where(pos1 == 0, zero, entry)
    extreme = jnp.where(opened, px_safe, state.extreme_price)
    cash = state.cash - jnp.sum(dq * px_safe + o_fee)
    pending = jnp.where(has_order, jnp.nan, state.pending).astype(dt)
    o_reason = jnp.where(trade, state.pending_reason, NONE)

    # 3. stops on the position held after the fill (s * price: long/short symmetric)
    s1 = jnp.sign(pos1)
    adverse = jnp.where(s1 > 0, m.low, m.high)
    favor = jnp.where(s1 > 0, m.high, m.low)
    inf = jnp.asarray(jnp.inf, dt)
    sl_lvl = jnp.where(p.stop_loss > 0, s1 * entry * (1.0 - s1 * p.stop_loss), -inf)
    tr_lvl = jnp.where(p.trailing_stop > 0, s1 * extreme * (1.0 - s1 * p.trailing_stop), -inf)
    stop_lvl = jnp.maximum(sl_lvl, tr_lvl)  # in s*price units
    tp_lvl = jnp.where(p.take_profit > 0, s1 * entry * (1.0 + s1 * p.take_profit), inf)
    s_open = s1 * m.open
    hit_sl = valid & (s1 != 0) & (s1 * adverse <= stop_lvl)
    hit_tp = valid & (s1 != 0) & (s1 * favor >= tp_lvl) & ~hit_sl
    stop_px = s1 * jnp.minimum(stop_lvl, s_open)  # gap through the stop: the open
    tp_px = s1 * jnp.maximum(tp_lvl, s_open)
    hit = hit_sl | hit_tp
    x_raw = jnp.where(hit_sl, stop_px, tp_px)
    x_px = jnp.where(hit, x_raw * (1.0 - s1 * slip), zero)
    x_qty = jnp.where(hit, -pos1, zero)
    x_fee = jnp.where(hit, jnp.abs(x_qty) * x_px * p.fee_rate + p.fee_fixed, zero)
    x_reason = jnp.where(hit_tp, TAKE_PROFIT,
                         jnp.where(hit_sl, jnp.where(tr_lvl > sl_lvl, TRAILING, STOP_LOSS), NONE))
    realized = realized + jnp.where(hit, pos1 * (x_px - entry), zero)
    cash = cash - jnp.sum(x_qty * x_px + x_fee)
    pos2 = pos1 + x_qty
    entry = jnp.where(hit, zero, entry)
    extreme = jnp.where(valid & (pos2 != 0),
                        jnp.where(s1 > 0, jnp.maximum(extreme, m.high),
                                  jnp.minimum(extreme, m.low)),
                        jnp.where(pos2 != 0, extreme, zero))

    # 4. mark to market
    last = jnp.where(valid, m.close, state.last_price)
    equity = _equity(cash, pos2, last)

    # 5. limits
    peak = jnp.maximum(state.peak_equity, equity)
    breaker = state.breaker | ((p.max_drawdown > 0) & (equity < peak * (1.0 - p.max_drawdown)))
    halted_day = halted_day | ((p.daily_loss_limit > 0)
                               & (equity < day_start * (1.0 - p.daily_loss_limit)))
    halted = breaker | halted_day

    # 6. decide the order for t+1
    sig = jnp.asarray(signal, dt)
    decide = valid & jnp.isfinite(sig)
    pending = jnp.where(decide, sig, pending)
    p_reason = jnp.where(decide, SIGNAL, state.pending_reason)
    flat = jnp.where(pos2 != 0, zero, jnp.nan).astype(dt)
    pending = jnp.where(halted, flat, pending)
    p_reason = jnp.where(halted, jnp.where(breaker, BREAKER, DAILY_LIMIT), p_reason)

    n_trades = state.n_trades + trade.astype(jnp.int32) + hit.astype(jnp.int32)
    fees = state.fees_paid + o_fee + x_fee
    new = RiskState(
        cash=cash, position=pos2, entry_price=entry, extreme_price=extreme, last_price=last,
        realized_pnl=realized, fees_paid=fees, n_trades=n_trades, pending=pending,
        pending_reason=p_reason.astype(jnp.int32), peak_equity=peak, day=m.day.astype(jnp.int32),
        day_start_equity=day_start, halted_day=halted_day, breaker=breaker,
    )
    rec = StepRecord(
        equity=equity, cash=cash, position=pos2, price=last,
        order_qty=dq, order_price=jnp.where(trade, px_safe, zero), order_fee=o_fee,
        order_reason=o_reason.astype(jnp.int32),
        exit_qty=x_qty, exit_price=x_px, exit_fee=x_fee, exit_reason=x_reason.astype(jnp.int32),
        breaker=breaker,
    )
    return new, rec
