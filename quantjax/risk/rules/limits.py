"""Limits: the order limits applied at the fill, the day roll and the loss limits.

- **Order limits** (used by :mod:`~quantjax.risk.rules.fill` when it sizes an order):
  ``|target| <= max_position``; gross exposure ``<= max_leverage * equity`` and ``|net| <=
  max_net * equity`` (portfolio mode scales the ordering symbols' targets uniformly; the
  positions of symbols without orders count against the caps); ``|order value| <= max_order
  * equity`` (closing is exempt); orders below ``rebalance_band * equity`` are skipped
  (closing orders always go).
- **Day roll** (first rule of the chain): when ``market.day`` changes, the daily-loss
  reference equity resets to the previous mark and a daily halt is lifted.
- **Loss limits** (after the mark): a drawdown from peak equity beyond ``max_drawdown`` trips
  the circuit breaker (flatten at t+1, halt until :func:`reset_breaker`); a loss beyond
  ``daily_loss_limit`` of the day's starting equity flattens and halts until the next day.

Owns ``peak_equity, day, day_start_equity, halted_day, breaker``; record: ``breaker``.
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param
from quantjax.risk.state import RiskState, equity

PARAMS = (
    Param("max_position", 1.0, "max |position value| / equity per symbol", gt=0),
    Param("max_order", 1.0, "max |order value| / equity (closing orders are exempt)", gt=0),
    Param("max_leverage", 1.0, "max gross exposure / equity per book", gt=0),
    Param("max_net", 1.0, "max |net exposure| / equity per book", ge=0),
    Param("daily_loss_limit", 0.0,
          "flatten and halt for the day below (1 - x) * day start equity; 0 off", ge=0, lt=1),
    Param("max_drawdown", 0.05,
          "circuit breaker below (1 - x) * peak equity (spec monitor: -5%); 0 off", ge=0, lt=1),
    Param("rebalance_band", 0.01, "skip orders below band * equity (closing orders always go)",
          ge=0),
)


# ----------------------------------------------------------------------------- order limits
def clip_target(p, target):
    """Target fractions ``[]``/``[S]`` clipped to ``+/- max_position``."""
    return jnp.clip(target, -p.max_position, p.max_position)


def cap_exposure(p, tgt_val, cur_val, has_order, eq):
    """Target values ``[]``/``[S]`` within the gross/net limits of equity ``eq`` ``[]``.

    ``cur_val``: current position values; ``has_order``: the symbols that order (the others
    keep their positions, which count against the caps).
    """
    zero = jnp.zeros((), tgt_val.dtype)
    if tgt_val.ndim == 0:
        # one-symbol book (static shape): gross/net limits reduce to a clip of the target
        bound = jnp.maximum(jnp.minimum(p.max_leverage, p.max_net) * eq, zero)
        return jnp.clip(tgt_val, -bound, bound)
    # gross / net limits: scale the ordering symbols' targets uniformly
    keep_val = jnp.where(has_order, zero, cur_val)
    ord_val = jnp.where(has_order, tgt_val, zero)
    cap_g = p.max_leverage * eq - jnp.sum(jnp.abs(keep_val))
    sum_abs = jnp.sum(jnp.abs(ord_val))
    k_g = jnp.where(sum_abs > 0, cap_g / jnp.where(sum_abs > 0, sum_abs, 1.0), 1.0)
    a_net, b_net = jnp.sum(keep_val), jnp.sum(ord_val)
    cap_n = p.max_net * eq - jnp.sign(b_net) * a_net
    k_n = jnp.where(b_net != 0, cap_n / jnp.where(b_net != 0, jnp.abs(b_net), 1.0), 1.0)
    k = jnp.clip(jnp.minimum(k_g, k_n), 0.0, 1.0)
    return tgt_val * k


def cap_order(p, dq, tgt_units, eq, price):
    """Order units ``dq`` within ``max_order * eq`` of value at ``price`` (closing exempt)."""
    max_q = p.max_order * jnp.maximum(eq, jnp.zeros((), eq.dtype)) / price
    return jnp.where(tgt_units == 0, dq, jnp.clip(dq, -max_q, max_q))


def above_band(p, dq, price, eq):
    """Whether orders ``dq`` are worth more than ``rebalance_band * eq`` at ``price``."""
    return jnp.abs(dq) * price > p.rebalance_band * eq


# ----------------------------------------------------------------------------- day roll
def day_roll(p, s, rec, m, signal):
    """New UTC day: the daily reference equity is the last mark, a daily halt is lifted."""
    new_day = m.day != s.day
    eq_prev = equity(s.cash, s.position, s.last_price)
    s = s._replace(day=m.day.astype(jnp.int32),
                   day_start_equity=jnp.where(new_day, eq_prev, s.day_start_equity),
                   halted_day=s.halted_day & ~new_day)
    return s, rec


# ----------------------------------------------------------------------------- loss limits
def loss_limits(p, s, rec, m, signal):
    """Breaker and daily halt from the equity marked by ``mark`` (``rec.equity``)."""
    eq = rec.equity
    peak = jnp.maximum(s.peak_equity, eq)
    breaker = s.breaker | ((p.max_drawdown > 0) & (eq < peak * (1.0 - p.max_drawdown)))
    halted_day = s.halted_day | ((p.daily_loss_limit > 0)
                                 & (eq < s.day_start_equity * (1.0 - p.daily_loss_limit)))
    s = s._replace(peak_equity=peak, breaker=breaker, halted_day=halted_day)
    return s, rec._replace(breaker=breaker)


def reset_breaker(state: RiskState) -> RiskState:
    """Manual reset after a breaker trip: resume trading, peak = current equity."""
    eq = state.cash + jnp.sum(state.position * jnp.nan_to_num(state.last_price))
    return state._replace(breaker=jnp.zeros_like(state.breaker), peak_equity=eq)


DAY_ROLL = Rule("day_roll", (), day_roll)
LIMITS = Rule("limits", PARAMS, loss_limits)
