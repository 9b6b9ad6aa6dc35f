"""Limit orders: signal orders rest at the touch (or behind it) and fill passively.

With ``limit_orders`` on (1), a signal order that reaches the market
(:mod:`~quantjax.risk.rules.latency`) becomes the symbol's *working order*: a buy at the
bid, a sell at the ask (the open when the data has no quotes), moved ``limit_offset_ticks``
ticks of ``tick_size`` away from the other side. It is sized like a market order filled at
its limit price (target fraction of equity, order limits, rebalance band) and it fills only
at its limit price, possibly in parts, never for more than the volume traded on the step
(times ``max_volume_frac`` when that cap is on); fees are paid on each part
(``fee_fixed`` per part). Its fills are recorded like market fills (``order_*``).

When it fills (``queue_model``):

- **trade-through** (0, the default; the only model on bars): only when the market trades
  *beyond* the limit (below a buy, above a sell, by at least half a tick): on bars, the
  bar's low / high; on tick steps, a trade's price. A trade at the limit price does not
  fill it: the queue ahead is assumed never to clear.
- **probabilistic queue** (1, tick steps with quotes): the order joins the back of the
  displayed size at its price when it rests at the touch (unknown when behind it, until its
  price becomes the touch). Trades at its price consume the queue ahead first and then fill
  the order; a drop of the displayed size that trades do not explain is a cancellation,
  ahead of the order with probability ``f(ahead) / (f(ahead) + f(behind))``, ``f(x) =
  x ** queue_power`` (hftbacktest's ``ProbQueueModel`` with ``PowerProbQueueFunc``); the
  queue ahead never exceeds the displayed size. When the touch moves past the limit the
  level is empty: the order is at the front. Trade-throughs fill it too.

A working order expires ``limit_expiry`` bars (tick steps: milliseconds) after it reached
the market (0: never); it is replaced by the next order that arrives, and cancelled at once
by a stop exit or a halt.

Owns ``execution.work_*``, ``execution.queue_*`` and the counters ``n_limit_orders,
n_limit_fills, n_expired``; writes the book (``cash, position, ...``) and the record's
``order_*`` on its fills.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param
from quantjax.risk.rules import fill

PARAMS = (
    Param("limit_orders", 0.0, "1: signal orders are limit orders at the touch; 0: market "
          "orders", ge=0, le=1),
    Param("limit_offset_ticks", 0.0, "limit price this many ticks behind the touch", ge=0),
    Param("tick_size", 0.01, "price tick of the limit offset and of price-level matching",
          gt=0),
    Param("limit_expiry", 0.0, "a working limit order expires after this many bars "
          "(milliseconds on tick data); 0 never", ge=0),
    Param("queue_model", 0.0, "limit fills: 0 trade-through; 1 probabilistic queue (tick "
          "data)", ge=0, le=1),
    Param("queue_power", 3.0, "probabilistic queue: f(x) = x ** queue_power", gt=0),
)


def limit_price(p, side, mid, half):
    """The limit price ``P`` on ``side``: the touch (bid for a buy, ask for a sell) moved
    ``limit_offset_ticks`` ticks away from the spread."""
    return (mid - side * half) - side * (p.limit_offset_ticks * p.tick_size)


def _touch(m, buy):
    """``(price, displayed size)`` of the book side a working order rests on (NaN: none)."""
    if m.bid is None or m.bid_volume is None:
        nan = jnp.full(jnp.shape(buy), jnp.nan, m.close.dtype)
        return nan, nan
    return jnp.where(buy, m.bid, m.ask), jnp.where(buy, m.bid_volume, m.ask_volume)


def place(p, s, m, new, target, reason):
    """Make ``target`` the working limit order where ``new`` (after an arrival)."""
    ex = s.execution
    dt = s.cash.dtype
    zero = jnp.zeros((), dt)
    sized = s._replace(pending=jnp.where(new, target, jnp.nan).astype(dt))
    dq, px, ok = fill.size_order(p, sized, m, new, zero, price=limit_price)
    ok = new & ok
    price, shown = _touch(m, dq > 0)
    at_touch = ok & (jnp.abs(px - price) <= 0.5 * p.tick_size) & jnp.isfinite(shown)
    queue = jnp.where(at_touch, shown, jnp.nan)
    ex = ex._replace(
        work_qty=jnp.where(ok, dq, ex.work_qty).astype(dt),
        work_price=jnp.where(ok, px, ex.work_price).astype(dt),
        work_age=jnp.where(new, 0, ex.work_age).astype(jnp.int32),
        work_reason=jnp.where(ok, reason, ex.work_reason).astype(jnp.int32),
        queue_ahead=jnp.where(ok, queue, ex.queue_ahead).astype(dt),
        queue_level=jnp.where(ok, queue, ex.queue_level).astype(dt),
        queue_traded=jnp.where(ok, zero, ex.queue_traded).astype(dt),
        n_limit_orders=ex.n_limit_orders + ok.astype(jnp.int32))
    return s._replace(execution=ex)


def _queue(p, ex, m, has, buy, traded, volume, dt):
    """Probabilistic queue on a tick step: ``(ahead, level, traded_since, fillable)``."""
    tol = 0.5 * p.tick_size
    lim = ex.work_price
    ahead = ex.queue_ahead
    # a trade at the order's price consumes the queue ahead, then fills the order
    at_price = has & traded & (jnp.abs(m.close - lim) <= tol)
    v = jnp.where(at_price, volume, 0.0)
    known = ~jnp.isnan(ahead)
    after = jnp.where(at_price & known, ahead - v, ahead)
    fillable = jnp.where(at_price & known, jnp.maximum(-after, 0.0), 0.0)
    ahead = jnp.where(known, jnp.maximum(after, 0.0), ahead)
    since = ex.queue_traded + v
    # a new displayed size at the order's price (it is the touch): cancellations
    price, shown = _touch(m, buy)
    level = ex.queue_level
    visible = has & m.valid & (jnp.abs(price - lim) <= tol) & jnp.isfinite(shown)
    changed = visible & ~(shown == level)
    chg = level - shown - since
    front = ahead
    back = jnp.maximum(level - front, 0.0)
    f_front = jnp.power(jnp.maximum(front, 0.0), p.queue_power)
    f_back = jnp.power(back, p.queue_power)
    total = f_front + f_back
    prob = jnp.where(total > 0, f_back / jnp.where(total > 0, total, 1.0), 1.0)
    est = front - (1.0 - prob) * chg + jnp.minimum(back - prob * chg, 0.0)
    moved = jnp.where(chg < 0, jnp.minimum(front, shown), jnp.minimum(est, shown))
    moved = jnp.where(jnp.isnan(front) | jnp.isnan(level), shown, moved)
    ahead = jnp.where(changed, jnp.maximum(moved, 0.0), ahead)
    level = jnp.where(changed, shown, level)
    since = jnp.where(changed, 0.0, since)
    # the touch moved past the limit: the order's level is empty, the order is in front
    past = has & m.valid & jnp.where(buy, price < lim - tol, price > lim + tol)
    ahead = jnp.where(past, 0.0, ahead)
    return ahead.astype(dt), level.astype(dt), since.astype(dt), fillable


def work(p, s, rec, m, signal):
    """Expire, queue and fill the working limit orders (shapes ``[]`` or ``[S]``)."""
    ex = s.execution
    if ex is None:
        return s, rec
    dt = s.cash.dtype
    zero = jnp.zeros((), dt)
    tick = m.elapsed_us is not None
    span = p.limit_expiry * 1000.0 if tick else p.limit_expiry
    expired = (ex.work_qty != 0) & (p.limit_expiry > 0) & (ex.work_age.astype(dt) >= span)
    qty = jnp.where(expired, zero, ex.work_qty)
    has = qty != 0
    buy = qty > 0
    lim = ex.work_price
    volume = jnp.where(m.valid & jnp.isfinite(m.volume), m.volume, zero)
    traded = has & m.valid & (volume > 0)
    cap = volume * jnp.where(p.max_volume_frac > 0, p.max_volume_frac, 1.0)
    tol = 0.5 * p.tick_size
    beyond = jnp.where(buy, m.low < lim - tol, m.high > lim + tol)
    fillable = jnp.where(traded & beyond, cap, zero)
    if tick and m.bid is not None and m.bid_volume is not None:
        ahead, level, since, by_queue = _queue(p, ex._replace(work_qty=qty), m, has, buy,
                                               traded, volume, dt)
        queue_on = p.queue_model > 0.5
        fillable = jnp.maximum(fillable, jnp.where(queue_on, jnp.minimum(by_queue, cap), zero))
        ex = ex._replace(queue_ahead=ahead, queue_level=level, queue_traded=since)
    q = jnp.minimum(fillable, jnp.abs(qty))
    filled = q > 0
    dq = jnp.where(filled, jnp.sign(qty) * q, zero)
    fee = jnp.where(filled, q * lim * p.fee_rate + p.fee_fixed, zero)
    s = fill.book_fill(s, dq, lim, fee, filled, zero)
    ex = ex._replace(work_qty=(qty - dq).astype(dt),
                     n_expired=ex.n_expired + expired.astype(jnp.int32),
                     n_limit_fills=ex.n_limit_fills + filled.astype(jnp.int32))
    rec = rec._replace(order_qty=jnp.where(filled, dq, rec.order_qty),
                       order_price=jnp.where(filled, lim, rec.order_price),
                       order_fee=jnp.where(filled, fee, rec.order_fee),
                       order_reason=jnp.where(filled, ex.work_reason, rec.order_reason)
                       .astype(jnp.int32))
    return s._replace(execution=ex), rec


WORK = Rule("limit", PARAMS, work)
