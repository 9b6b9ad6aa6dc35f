"""A small, fast HFT baseline: a causal (unidirectional) GRU with the three HFT heads,
registered as HFT model ``gru`` (:mod:`quantjax.models.registry`).

embedding Dense(H) -> ``num_layers`` GRU layers (Flax ``nn.RNN(nn.GRUCell)``, dropout between
layers) -> LayerNorm of the last step -> the heads of :func:`quantjax.models.layers.hft_outputs`
(price, direction logits, volatility). Same call contract as
:class:`quantjax.models.lstm_attention.LSTMAttentionModel`: ``apply(params, x[B, L, F],
train=..., dropout_rate=..., unroll=...) -> {"price"[B], "direction"[B, 3], "volatility"[B],
"hidden"[B, H]}``. It has no attention maps (``return_attention`` is refused) and no O(1)
streaming step: the causal streaming path refuses it by name.
"""

from __future__ import annotations

import dataclasses

import jax
from flax import linen as nn

from quantjax.config.base import spec
from quantjax.models.layers import Head, dropout, hft_outputs, orthogonal, xavier, zeros


@dataclasses.dataclass(frozen=True)
class GRUConfig:
    """Architecture of :class:`GRUModel`."""

    name: str = spec("gru", choices=("gru",), doc="model (registry name)")
    sequence_length: int = spec(60, ge=2, doc="window length L (time steps per sample)")
    hidden_size: int = spec(64, ge=1, doc="H: embedding size and GRU units")
    num_layers: int = spec(1, ge=1, doc="stacked GRU layers")
    dropout: float = spec(0.1, ge=0, lt=1, doc="dropout between GRU layers and in the heads")
    unroll: int = spec(1, ge=1, doc="lax.scan unroll factor of the recurrence")


class GRUModel(nn.Module):
    """See module docstring. ``x[B, L, F]`` float32."""

    cfg: GRUConfig

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool = False, dropout_rate=None,
                 return_attention: bool = False, unroll: int | bool | None = None) -> dict:
        if return_attention:
            raise ValueError("model 'gru' has no attention maps")
        cfg = self.cfg
        rate = cfg.dropout if dropout_rate is None else dropout_rate
        rng = (lambda: self.make_rng("dropout")) if train else (lambda: None)
        unroll = cfg.unroll if unroll is None else unroll
        steps = x.shape[1] if unroll is True else int(unroll)
        h = nn.Dense(cfg.hidden_size, kernel_init=xavier, bias_init=zeros, name="embedding")(x)
        for i in range(cfg.num_layers):
            if i > 0:
                h = dropout(h, rate, rng())
            cell = nn.GRUCell(cfg.hidden_size, kernel_init=xavier,
                              recurrent_kernel_init=orthogonal, bias_init=zeros)
            h = nn.RNN(cell, unroll=steps, name=f"gru_{i}")(h)  # [B, L, H]
        final = nn.LayerNorm(name="layer_norm")(h[:, -1])
        heads = (Head(cfg.hidden_size, 1, name="price_head"),
                 Head(cfg.hidden_size, 3, name="direction_head"),
                 Head(cfg.hidden_size, 1, name="volatility_head"))
        return hft_outputs(final, heads, rate, rng)
