"""Stops: stop-loss, take-profit and trailing stop on the position held after the fill.

Checked against the bar's range (valid bars only): a gap through a stop fills at the open;
if stop-loss and take-profit are both touched in one bar the stop-loss fills (conservative).
Trailing stops use the extreme price reached *before* this bar (the extreme is updated after
the check). Exits pay the slippage and fees of :mod:`~quantjax.risk.rules.fill`. Levels are
compared in ``sign * price`` units, so long and short are symmetric.

Writes the book (``cash, position, entry_price, realized_pnl, fees_paid, n_trades``), owns
``extreme_price``; record: ``exit_qty, exit_price, exit_fee, exit_reason``.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param
from quantjax.risk.state import NONE, STOP_LOSS, TAKE_PROFIT, TRAILING

PARAMS = (
    Param("stop_loss", 0.02, "stop-loss distance from entry, fraction of price (spec: 2%); 0 off",
          ge=0, lt=1),
    Param("take_profit", 0.01,
          "take-profit distance from entry, fraction of price (spec: 1%); 0 off", ge=0),
    Param("trailing_stop", 0.0, "trailing stop distance from the best price since entry; 0 off",
          ge=0, lt=1),
)


def stops(p, s, rec, m, signal):
    """Exit ``s.position`` at a touched stop or take-profit (shapes ``[]`` or ``[S]``)."""
    dt = s.cash.dtype
    zero = jnp.zeros((), dt)
    inf = jnp.asarray(jnp.inf, dt)
    slip = p.slippage_bps * 1e-4
    valid, pos1, entry, extreme = m.valid, s.position, s.entry_price, s.extreme_price
    s1 = jnp.sign(pos1)
    adverse = jnp.where(s1 > 0, m.low, m.high)
    favor = jnp.where(s1 > 0, m.high, m.low)
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
    realized = s.realized_pnl + jnp.where(hit, pos1 * (x_px - entry), zero)
    cash = s.cash - jnp.sum(x_qty * x_px + x_fee)
    pos2 = pos1 + x_qty
    extreme = jnp.where(valid & (pos2 != 0),
                        jnp.where(s1 > 0, jnp.maximum(extreme, m.high),
                                  jnp.minimum(extreme, m.low)),
                        jnp.where(pos2 != 0, extreme, zero))
    s = s._replace(cash=cash, position=pos2, entry_price=jnp.where(hit, zero, entry),
                   extreme_price=extreme, realized_pnl=realized,
                   n_trades=s.n_trades + hit.astype(jnp.int32), fees_paid=s.fees_paid + x_fee)
    rec = rec._replace(exit_qty=x_qty, exit_price=x_px, exit_fee=x_fee,
                       exit_reason=x_reason.astype(jnp.int32))
    return s, rec


STOPS = Rule("stops", PARAMS, stops)
