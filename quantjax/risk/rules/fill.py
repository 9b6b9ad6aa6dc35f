"""Fill: the pending order decided at t-1 executes at this bar's open or quotes.

Valid bars only: on a masked bar the order waits for the symbol's next valid bar. The price
is the open, or the ask/bid (mid +/- half spread) when quotes exist, then slippage; the fee
is proportional plus fixed. Sizing happens at the fill: ``target * (equity - fee_fixed) /
(fill_price * (1 + fee_rate))`` units, within the order limits of
:mod:`~quantjax.risk.rules.limits` and the volume cap.

Writes the book (``cash, position, entry_price, extreme_price, realized_pnl, fees_paid,
n_trades``), consumes ``pending``; record: ``order_qty, order_price, order_fee,
order_reason``.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param
from quantjax.risk.rules import limits
from quantjax.risk.state import NONE, equity

PARAMS = (
    Param("fee_rate", 0.0005, "proportional fee, fraction of traded value", ge=0, lt=1),
    Param("fee_fixed", 0.0, "fixed fee per fill, in cash", ge=0),
    Param("slippage_bps", 1.0, "adverse price move per fill, basis points", ge=0),
    Param("max_volume_frac", 0.0, "cap |order| <= x * bar volume (units); 0 off", ge=0),
)


def quote_mid(m, zero):
    """``(mid, half_spread)`` per symbol: the quotes when valid, else ``(open, 0)``."""
    if m.bid is None:
        return m.open, zero
    has_q = jnp.isfinite(m.bid) & jnp.isfinite(m.ask) & (m.ask >= m.bid)
    mid = jnp.where(has_q, 0.5 * (m.bid + m.ask), m.open)
    half = jnp.where(has_q, 0.5 * (m.ask - m.bid), zero)
    return mid, half


def size_order(p, s, m, has_order, zero):
    """``(dq, price, trade)``: units to trade at fill ``price`` for ``s.pending``, ``P`` each.

    Sizing at the fill: the target fraction of equity (marked at this bar's mid) becomes
    units at the fill price net of the proportional fee, within the order limits and the
    volume cap. ``trade`` is False where nothing fills (``dq`` is then 0).
    """
    slip = p.slippage_bps * 1e-4
    valid, pos0 = m.valid, s.position
    mid, half = quote_mid(m, zero)
    ref = jnp.where(valid, mid, s.last_price)
    eq_fill = equity(s.cash, pos0, ref)
    tgt = limits.clip_target(p, jnp.where(has_order, s.pending, zero))
    cur_val = jnp.where(pos0 != 0, pos0 * ref, zero)
    tgt_val = limits.cap_exposure(p, tgt * (eq_fill - p.fee_fixed), cur_val, has_order, eq_fill)
    side = jnp.sign(tgt_val - cur_val)
    px_fill = (mid + side * half) * (1.0 + side * slip)
    px_safe = jnp.where(has_order & (px_fill > 0), px_fill, 1.0)
    tgt_units = tgt_val / (px_safe * (1.0 + p.fee_rate))
    dq = limits.cap_order(p, tgt_units - pos0, tgt_units, eq_fill, px_safe)
    vcap = jnp.where((p.max_volume_frac > 0) & jnp.isfinite(m.volume),
                     p.max_volume_frac * m.volume, jnp.inf)
    dq = jnp.clip(dq, -vcap, vcap)
    closing = (tgt_units == 0) & (pos0 != 0)
    trade = has_order & (dq != 0) & (limits.above_band(p, dq, px_safe, eq_fill) | closing)
    return jnp.where(trade, dq, zero), px_safe, trade


def book_fill(s, dq, price, fee, trade, zero):
    """Book ``s`` after filling ``dq`` units at ``price`` (``P``): position, average entry,
    realized PnL (before fees), best price since entry, cash, fees and fill count."""
    pos0 = s.position
    pos1 = pos0 + dq
    s0 = jnp.sign(pos0)
    reducing = trade & (s0 != 0) & (jnp.sign(dq) != s0)
    closed = jnp.where(reducing, jnp.minimum(jnp.abs(dq), jnp.abs(pos0)), zero)
    realized = s.realized_pnl + closed * (price - s.entry_price) * s0
    opened = trade & (jnp.sign(pos1) != s0) & (pos1 != 0)
    adding = trade & (s0 != 0) & (jnp.sign(dq) == s0)
    pos1_safe = jnp.where(pos1 != 0, pos1, 1.0)
    entry = jnp.where(opened, price,
                      jnp.where(adding, (pos0 * s.entry_price + dq * price) / pos1_safe,
                                s.entry_price))
    entry = jnp.where(pos1 == 0, zero, entry)
    extreme = jnp.where(opened, price, s.extreme_price)
    cash = s.cash - jnp.sum(dq * price + fee)
    return s._replace(cash=cash, position=pos1, entry_price=entry, extreme_price=extreme,
                      realized_pnl=realized, n_trades=s.n_trades + trade.astype(jnp.int32),
                      fees_paid=s.fees_paid + fee)


def fill(p, s, rec, m, signal):
    """Execute ``s.pending`` on valid bars (shapes ``[]`` or ``[S]``). See the module doc."""
    dt = s.cash.dtype
    zero = jnp.zeros((), dt)
    has_order = m.valid & ~jnp.isnan(s.pending)
    dq, px, trade = size_order(p, s, m, has_order, zero)
    fee = jnp.where(trade, jnp.abs(dq) * px * p.fee_rate + p.fee_fixed, zero)
    reason = jnp.where(trade, s.pending_reason, NONE)
    s = book_fill(s, dq, px, fee, trade, zero)._replace(
        pending=jnp.where(has_order, jnp.nan, s.pending).astype(dt))
    rec = rec._replace(order_qty=dq, order_price=jnp.where(trade, px, zero), order_fee=fee,
                       order_reason=reason.astype(jnp.int32))
    return s, rec


FILL = Rule("fill", PARAMS, fill)
