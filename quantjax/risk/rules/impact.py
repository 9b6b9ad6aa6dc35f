"""Impact: the square-root market impact of market orders, from causal estimates.

A market order of ``q`` units fills at the quote (plus slippage) moved adversely by the
fraction ``impact_k * sigma * sqrt(q / V)``, where ``sigma`` is the volatility of one-step
returns and ``V`` the volume per step, both exponentially weighted averages over the
symbol's valid steps *before* the fill (half-life ``impact_halflife`` steps); no estimate
yet (the symbol's first valid steps) means no impact. The fill rule applies it
(:func:`moved_price`); this module's rule updates the estimates after the step's fills,
before the mark. Limit orders and stop exits pay no impact.

Owns ``execution.est_var, execution.est_volume`` (``execution.impact_paid`` is written by
the fill rule).
"""

from __future__ import annotations

import jax.numpy as jnp

from quantjax.risk.chain import Rule
from quantjax.risk.params import Param

PARAMS = (
    Param("impact_k", 0.0, "market impact k in k * sigma * sqrt(q / V) (fraction of price); "
          "0 off", ge=0),
    Param("impact_halflife", 100.0, "half-life of the impact estimates sigma and V, in steps",
          gt=0),
)


def moved_price(p, ex, price, side, qty):
    """``price`` ``P`` moved by the impact of ``qty`` units on ``side`` (+1 buy, -1 sell)."""
    ok = (p.impact_k > 0) & jnp.isfinite(ex.est_var) & (ex.est_volume > 0)
    vol = jnp.sqrt(jnp.where(ok, ex.est_var, 0.0))
    frac = p.impact_k * vol * jnp.sqrt(qty / jnp.where(ok, ex.est_volume, 1.0))
    return jnp.where(ok, price * (1.0 + side * frac), price)


def estimate(p, s, rec, m, signal):
    """EWMA of squared close-to-close returns and of volume over valid steps."""
    ex = s.execution
    if ex is None:
        return s, rec
    lam = jnp.exp2(-1.0 / p.impact_halflife)
    last = s.last_price
    has_ret = m.valid & jnp.isfinite(last) & (last > 0)
    ret = jnp.where(has_ret, m.close / jnp.where(has_ret, last, 1.0) - 1.0, 0.0)
    var = jnp.where(jnp.isnan(ex.est_var), ret * ret, lam * ex.est_var + (1.0 - lam) * ret * ret)
    vol_ok = m.valid & jnp.isfinite(m.volume)
    volume = jnp.where(vol_ok, m.volume, 0.0)
    est_v = jnp.where(jnp.isnan(ex.est_volume), volume,
                      lam * ex.est_volume + (1.0 - lam) * volume)
    ex = ex._replace(est_var=jnp.where(has_ret, var, ex.est_var),
                     est_volume=jnp.where(vol_ok, est_v, ex.est_volume))
    return s._replace(execution=ex), rec


ESTIMATE = Rule("impact", PARAMS, estimate)
