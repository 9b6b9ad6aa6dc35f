"""Differentiable backtest: smooth surrogates so ``jax.grad`` of Sharpe works.

No hard stops, no breaker, no integer logic: the target from
:func:`quantjax.backtest.strategies.smooth_model_signal` is held as a fraction of equity
over the next period and pays ``fee_rate * |change of target|``. The return earned by the
target decided at t is ``asset_returns[t]`` (use :func:`next_open_returns`: the engine fills
at the open of t+1 and the position is next changed at the open of t+2).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.backtest.strategies import StrategyParams, smooth_model_signal


def next_open_returns(open_: np.ndarray) -> np.ndarray:
    """``[..., T]``: ``open[t+2] / open[t+1] - 1`` (0 for the last two steps)."""
    o = np.asarray(open_, np.float64)
    out = np.zeros(o.shape)
    out[..., :-2] = o[..., 2:] / o[..., 1:-1] - 1.0
    return out


def soft_returns(params: StrategyParams, probs, pred_return, pred_vol, ewma_vol_prev,
                 asset_returns, fee_rate):
    """Per-period strategy returns ``[T]`` of one symbol (inputs ``[T]``, probs ``[T, 3]``)."""
    tgt = smooth_model_signal(params, probs, pred_return, pred_vol, ewma_vol_prev)
    prev = jnp.concatenate([jnp.zeros_like(tgt[:1]), tgt[:-1]])
    return tgt * asset_returns - fee_rate * jnp.abs(tgt - prev)


def soft_sharpe(params: StrategyParams, probs, pred_return, pred_vol, ewma_vol_prev,
                asset_returns, fee_rate=0.0, periods_per_year=252.0):
    """Annualized Sharpe (ddof=1) of the equal-weight average of per-symbol soft returns.

    Inputs are ``[S, T]`` (``probs`` ``[S, T, 3]``) or ``[T]`` for one symbol.
    """
    fn = jax.vmap(soft_returns, in_axes=(None, 0, 0, 0, 0, 0, None))
    probs = jnp.asarray(probs)
    if probs.ndim == 2:
        r = soft_returns(params, probs, pred_return, pred_vol, ewma_vol_prev, asset_returns,
                         fee_rate)
    else:
        r = fn(params, probs, pred_return, pred_vol, ewma_vol_prev, asset_returns,
               fee_rate).mean(axis=0)
    return jnp.mean(r) / (jnp.std(r, ddof=1) + 1e-12) * jnp.sqrt(periods_per_year)
