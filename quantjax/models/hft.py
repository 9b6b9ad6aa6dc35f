"""The spec's ``LSTMAttentionModel`` in Flax linen (pure ``init`` / ``apply``).

embedding Dense(H) -> L-layer (bi)LSTM (dropout between layers) -> multi-head self-attention
over 2H -> LayerNorm -> last time step -> three heads Dense(H)-ReLU-Dropout-Dense:
price (1), direction (3 logits: down, flat, up), volatility (1, softplus > 0).

Usage::

    model = LSTMAttentionModel(cfg.model)
    params = model.init(key, x)                       # x[B, L, F]
    out = model.apply(params, x)                      # eval mode
    out = model.apply(params, x, train=True, dropout_rate=0.2, rngs={"dropout": key})
    out = model.apply(params, x, return_attention=True)   # adds out["attention"][B, h, L, L]
    out = model.apply(params, x, unroll=True)         # latency path: time scans fully unrolled

``unroll`` (int, or ``True`` = the whole window) overrides ``cfg.unroll`` for this call. It
changes only the compiled program (longer compile, lower batch-1 latency), never the outputs
or the parameters. When attention weights are not requested only the last query row of the
attention is computed (the heads read only the last step); keys and values still cover all
steps, so the outputs equal the full attention's last row.

Outputs (``dict``): ``price[B]``, ``direction[B, 3]`` logits, ``volatility[B]`` (> 0),
``hidden[B, 2H]``. Price and volatility are in the units the training task scales them to
(see :mod:`quantjax.train.hft_task`).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import linen as nn

from quantjax.config.hft import HFTModelConfig
from quantjax.models.layers import LSTMLayer, SelfAttention, dropout, xavier, zeros

DIRECTION_CLASSES = ("down", "flat", "up")


class Head(nn.Module):
    """Dense(H) - ReLU - Dropout - Dense(out)."""

    hidden: int
    out: int

    @nn.compact
    def __call__(self, x, rate, rng):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=xavier, bias_init=zeros)(x))
        x = dropout(x, rate, rng)
        return nn.Dense(self.out, kernel_init=xavier, bias_init=zeros)(x)


class LSTMAttentionModel(nn.Module):
    """See module docstring. ``x[B, L, F]`` float32."""

    cfg: HFTModelConfig

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False, dropout_rate=None,
                 return_attention: bool = False, unroll: int | bool | None = None) -> dict:
        cfg = self.cfg
        rate = cfg.dropout if dropout_rate is None else dropout_rate
        rng = (lambda: self.make_rng("dropout")) if train else (lambda: None)
        h = nn.Dense(cfg.hidden_size, kernel_init=xavier, bias_init=zeros, name="embedding")(x)
        h = h.transpose(1, 0, 2)  # time-major [L, B, H]
        unroll = cfg.unroll if unroll is None else unroll
        for i in range(cfg.num_layers):
            if i > 0:
                h = dropout(h, rate, rng())
            h = LSTMLayer(cfg.hidden_size, bidirectional=not cfg.causal, unroll=unroll,
                          fuse=cfg.fuse_directions, name=f"lstm_{i}")(h)
        att, probs = SelfAttention(cfg.output_size, cfg.attention_heads, causal=cfg.causal,
                                   name="attention")(
            h, last_only=not return_attention, attn_rate=cfg.attention_dropout, rng=rng())
        last = att if not return_attention else att[-1]
        final = nn.LayerNorm(name="layer_norm")(last)  # [B, 2H]
        price = Head(cfg.hidden_size, 1, name="price_head")(final, rate, rng())[:, 0]
        direction = Head(cfg.hidden_size, 3, name="direction_head")(final, rate, rng())
        vol = Head(cfg.hidden_size, 1, name="volatility_head")(final, rate, rng())[:, 0]
        out = {"price": price, "direction": direction, "volatility": jax.nn.softplus(vol),
               "hidden": final}
        if return_attention:
            out["attention"] = probs
        return out


def init_params(cfg: HFTModelConfig, n_features: int, key: jax.Array) -> dict:
    """Initialize parameters for inputs with ``n_features`` features."""
    x = jnp.zeros((1, cfg.sequence_length, n_features), jnp.float32)
    return LSTMAttentionModel(cfg).init(key, x)
