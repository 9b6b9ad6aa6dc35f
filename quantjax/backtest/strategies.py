"""Strategies: map model outputs or market data to target positions in [-1, 1].

The target at t uses data <= t only; the engine fills it at t+1.

Model outputs follow the HFT model's convention: ``probs[..., 3]`` are the probabilities of
the classes ``(down, flat, up)``; ``pred_return`` and ``pred_vol`` are per-bar forecasts.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.risk.params import Param, traced_params

#: the model strategy's parameters, declared once: :class:`StrategyParams` (traced, sweepable),
#: :data:`STRATEGY_DEFAULTS` and the ``strategy`` config section
#: (``quantjax.backtest.config.StrategyConfig``) derive from them
MODEL_PARAMS = (
    Param("confidence", 0.7, "model strategy: trade only when max(prob) >= this (spec 0.7)",
          ge=0, le=1),
    Param("kelly_fraction", 0.5, "model strategy: fraction of the Kelly bet", ge=0, le=1),
    Param("avg_win", 0.005, "model strategy: average win of the Kelly size (spec 0.5%)", gt=0),
    Param("avg_loss", 0.003, "model strategy: average loss of the Kelly size (spec 0.3%)", ge=0),
    Param("vol_target", 0.01, "model strategy: per-bar volatility target of one position", gt=0),
    Param("vol_floor", 1e-6, "model strategy: lower bound of the volatility estimate", gt=0),
    Param("pred_vol_weight", 0.0, "model strategy: vol = sqrt((1-w) ewma^2 + w pred_vol^2)",
          ge=0, le=1),
    Param("min_position", 0.0, "model strategy: smallest non-zero |target| (spec minimum size)",
          ge=0, le=1),
    Param("max_position", 1.0, "model strategy: largest |target|", gt=0, le=1),
    Param("min_edge", 0.0, "model strategy: require |pred_return| >= this in the direction traded",
          ge=0),
    Param("temperature", 0.02, "smooth (differentiable) mode only: width of the soft threshold",
          gt=0),
)
STRATEGY_DEFAULTS = {p.name: p.default for p in MODEL_PARAMS}

#: traced scalars of :func:`model_signal`, one per :data:`MODEL_PARAMS` entry (each ``[]``)
StrategyParams = NamedTuple("StrategyParams", [(p.name, jax.Array) for p in MODEL_PARAMS])


def make_strategy_params(dtype=jnp.float32, **overrides) -> StrategyParams:
    """StrategyParams from the defaults updated by ``overrides`` (unknown keys raise)."""
    return traced_params(StrategyParams, STRATEGY_DEFAULTS, dtype, "strategy", overrides)


def _kelly_size(params: StrategyParams, conf, pred_vol, ewma_vol_prev):
    win, loss = params.avg_win, params.avg_loss
    kelly = (conf * win - (1.0 - conf) * loss) / win  # the spec's Kelly fraction
    vol2 = (1.0 - params.pred_vol_weight) * ewma_vol_prev**2 + params.pred_vol_weight * pred_vol**2
    vol = jnp.maximum(jnp.sqrt(jnp.maximum(vol2, 0.0)), params.vol_floor)
    return params.kelly_fraction * kelly * (params.vol_target / vol)


def model_signal(params: StrategyParams, probs, pred_return, pred_vol, ewma_vol_prev):
    """Target position from one bar's model outputs (elementwise; vmap for batches).

    ``probs[3]`` = P(down, flat, up); direction = argmax (flat -> 0). Trades only when the
    winning probability >= ``confidence``, the Kelly fraction > 0 and ``pred_return`` agrees
    with the direction by at least ``min_edge``. Size = ``kelly_fraction * kelly *
    vol_target / vol`` clipped to ``[min_position, max_position]``, where ``vol`` blends the
    EWMA volatility known at t-1 and the predicted volatility. NaN inputs give NaN (no decision).
    """
    conf = jnp.max(probs, axis=-1)
    cls = jnp.argmax(probs, axis=-1)
    direction = jnp.where(cls == 2, 1.0, jnp.where(cls == 0, -1.0, 0.0))
    size = _kelly_size(params, conf, pred_vol, ewma_vol_prev)
    ok = (conf >= params.confidence) & (size > 0) & (direction * pred_return >= params.min_edge)
    size = jnp.clip(size, params.min_position, params.max_position)
    target = jnp.where(ok, direction * size, 0.0)
    bad = jnp.isnan(conf) | jnp.isnan(pred_return) | jnp.isnan(ewma_vol_prev)
    return jnp.where(bad, jnp.nan, target)


def smooth_model_signal(params: StrategyParams, probs, pred_return, pred_vol, ewma_vol_prev):
    """Differentiable surrogate of :func:`model_signal` (soft threshold, soft clip).

    Direction = P(up) - P(down); the confidence gate is a sigmoid of width ``temperature``;
    the size is squashed by ``max_position * tanh(size / max_position)``.
    """
    conf = jnp.max(probs, axis=-1)
    direction = probs[..., 2] - probs[..., 0]
    gate = jax.nn.sigmoid((conf - params.confidence) / params.temperature)
    size = jax.nn.softplus(_kelly_size(params, conf, pred_vol, ewma_vol_prev) * 50.0) / 50.0
    size = params.max_position * jnp.tanh(size / params.max_position)
    return gate * direction * size


def ewma_vol(returns: np.ndarray, halflife: float = 20.0) -> np.ndarray:
    """Causal EWMA volatility ``[..., T]`` of ``returns[..., T]`` known at t-1.

    ``out[t]`` uses returns up to t-1 (``out[0]`` and leading values are NaN); NaN returns
    are skipped (the estimate is carried).
    """
    r = np.asarray(returns, np.float64)
    lam = 0.5 ** (1.0 / halflife)
    out = np.full(r.shape, np.nan)
    var = np.full(r.shape[:-1], np.nan)
    for t in range(r.shape[-1]):
        out[..., t] = np.sqrt(var)
        x = r[..., t]
        ok = np.isfinite(x)
        new = np.where(np.isnan(var), x * x, lam * var + (1 - lam) * x * x)
        var = np.where(ok, new, var)
    return out


def momentum_signal(close: np.ndarray, lookback: int = 20, long_only: bool = False,
                    size: float = 1.0) -> np.ndarray:
    """``[S, T]`` target: ``size * sign(close_t / close_{t-lookback} - 1)`` (NaN at warm-up).

    Missing closes (NaN) give NaN targets (no decision)."""
    c = np.asarray(close, np.float64)
    out = np.full(c.shape, np.nan)
    if c.shape[-1] > lookback:
        mom = c[..., lookback:] / c[..., :-lookback] - 1.0
        out[..., lookback:] = size * np.sign(mom)
    if long_only:
        out = np.where(out < 0, 0.0, out)
    return out


def ofi_signal(bid_volume: np.ndarray, ask_volume: np.ndarray, threshold: float = 0.2,
               long_only: bool = False, size: float = 1.0) -> np.ndarray:
    """``[S, T]`` target from the order-flow imbalance of the quotes at t.

    ``ofi = (bid_volume - ask_volume) / (bid_volume + ask_volume)``; target = ``+size`` if
    ``ofi > threshold``, ``-size`` if ``ofi < -threshold``, else 0. NaN quotes -> NaN.
    """
    b = np.asarray(bid_volume, np.float64)
    a = np.asarray(ask_volume, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        ofi = (b - a) / (b + a)
    out = np.where(ofi > threshold, size, np.where(ofi < -threshold, -size, 0.0))
    if long_only:
        out = np.where(out < 0, 0.0, out)
    return np.where(np.isfinite(ofi), out, np.nan)


def entries_exits_to_target(entry: np.ndarray, exit_: np.ndarray) -> np.ndarray:
    """Long-only target ``[S, T]`` from boolean entry/exit arrays.

    An entry sets the target to 1, an exit to 0 (exit wins when both are set); between
    events the target is NaN (no new decision: the engine keeps the position)."""
    e = np.asarray(entry, bool)
    x = np.asarray(exit_, bool)
    return np.where(x, 0.0, np.where(e, 1.0, np.nan))
