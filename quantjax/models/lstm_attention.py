"""The spec's ``LSTMAttentionModel`` in Flax linen (pure ``init`` / ``apply``), registered as
HFT model ``lstm_attention`` (:mod:`quantjax.models.registry`).

embedding Dense(H) -> L-layer (bi)LSTM (dropout between layers) -> multi-head self-attention
over 2H -> LayerNorm -> last time step -> three heads Dense(H)-ReLU-Dropout-Dense:
price (1), direction (3 logits: down, flat, up), volatility (1, softplus > 0).

Usage::

    model = LSTMAttentionModel(cfg)
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
(see :mod:`quantjax.hft.task`).

Streaming (``cfg.causal``): :meth:`LSTMAttentionModel.stream_step` is the same forward pass
one time step at a time (O(1) per tick), with the LSTM state and a ring buffer of attention
keys/values as explicit state (:class:`StreamState`); see :mod:`quantjax.inference.causal`.
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import linen as nn

from quantjax.config.base import spec
from quantjax.errors import ConfigError
from quantjax.models.layers import (
    Head,
    LSTMLayer,
    SelfAttention,
    dropout,
    hft_outputs,
    xavier,
    zeros,
)


@dataclasses.dataclass(frozen=True)
class LSTMAttentionConfig:
    """Architecture of :class:`LSTMAttentionModel` (spec ``ModelConfig``)."""

    name: str = spec("lstm_attention", choices=("lstm_attention",), doc="model (registry name)")
    sequence_length: int = spec(60, ge=2, doc="window length L (time steps per sample)")
    hidden_size: int = spec(128, ge=1, doc="H: embedding size and LSTM units per direction")
    num_layers: int = spec(3, ge=1, doc="stacked LSTM layers")
    dropout: float = spec(0.2, ge=0, lt=1, doc="dropout between LSTM layers and in the heads")
    attention_heads: int = spec(8, ge=1, doc="heads of the self-attention over 2H")
    attention_dropout: float = spec(0.1, ge=0, lt=1, doc="dropout on attention probabilities")
    causal: bool = spec(False, doc="unidirectional LSTM + causal attention (streamable)")
    unroll: int = spec(1, ge=1, doc="lax.scan unroll factor of the recurrence")
    fuse_directions: bool = spec(True, doc="run both LSTM directions in one scan")

    @property
    def output_size(self) -> int:
        """Width of the LSTM output / attention input (2H, or H when causal)."""
        return self.hidden_size if self.causal else 2 * self.hidden_size

    def validate(self) -> None:
        if self.output_size % self.attention_heads:
            raise ConfigError(
                f"model.attention_heads: {self.attention_heads} does not divide the attention "
                f"width {self.output_size} (2*hidden_size, or hidden_size when causal)"
            )


class StreamState(NamedTuple):
    """Streaming state of one symbol: LSTM ``h, c[n_layers, H]``, the key/value ring
    ``k, v[L, E]``, ``kv_ok[L]`` (slot holds a key since the last reset) and ``pos`` (int32,
    the ring slot written next)."""

    h: jax.Array
    c: jax.Array
    k: jax.Array
    v: jax.Array
    kv_ok: jax.Array
    pos: jax.Array


class LSTMAttentionModel(nn.Module):
    """See module docstring. ``x[B, L, F]`` float32."""

    cfg: LSTMAttentionConfig

    def setup(self) -> None:
        cfg = self.cfg
        self.embedding = nn.Dense(cfg.hidden_size, kernel_init=xavier, bias_init=zeros)
        self.lstm = [LSTMLayer(cfg.hidden_size, bidirectional=not cfg.causal,
                               fuse=cfg.fuse_directions) for _ in range(cfg.num_layers)]
        self.attention = SelfAttention(cfg.output_size, cfg.attention_heads, causal=cfg.causal)
        self.layer_norm = nn.LayerNorm()
        self.price_head = Head(cfg.hidden_size, 1)
        self.direction_head = Head(cfg.hidden_size, 3)
        self.volatility_head = Head(cfg.hidden_size, 1)

    def __call__(self, x: jax.Array, *, train: bool = False, dropout_rate=None,
                 return_attention: bool = False, unroll: int | bool | None = None) -> dict:
        cfg = self.cfg
        rate = cfg.dropout if dropout_rate is None else dropout_rate
        rng = (lambda: self.make_rng("dropout")) if train else (lambda: None)
        h = self.embedding(x).transpose(1, 0, 2)  # time-major [L, B, H]
        unroll = cfg.unroll if unroll is None else unroll
        for i, layer in enumerate(self.lstm):
            if i > 0:
                h = dropout(h, rate, rng())
            h = layer(h, unroll=unroll)
        att, probs = self.attention(h, last_only=not return_attention,
                                    attn_rate=cfg.attention_dropout, rng=rng())
        last = att if not return_attention else att[-1]
        final = self.layer_norm(last)  # [B, 2H]
        out = hft_outputs(final, (self.price_head, self.direction_head, self.volatility_head),
                          rate, rng)
        if return_attention:
            out["attention"] = probs
        return out

    def stream_init(self, seq_len: int) -> StreamState:
        """Zero :class:`StreamState` of one symbol (call with ``method=``)."""
        cfg = self.cfg
        n, H, E = cfg.num_layers, cfg.hidden_size, cfg.output_size
        z = jnp.zeros
        return StreamState(z((n, H), jnp.float32), z((n, H), jnp.float32),
                           z((seq_len, E), jnp.float32), z((seq_len, E), jnp.float32),
                           z(seq_len, bool), z((), jnp.int32))

    def stream_step(self, state: StreamState, x: jax.Array, reset) -> tuple[StreamState, dict]:
        """One causal time step of one symbol: ``x[F]`` -> ``(state, out)`` with ``out`` as
        :meth:`__call__` (eval mode; ``price``, ``direction`` logits, ``volatility``,
        ``hidden`` unbatched). ``reset`` (bool) clears the state before consuming ``x``.

        After a reset, the output at the n-th row (n <= L) equals :meth:`__call__` on those n
        rows; beyond L rows the LSTM carries the whole history since the reset while the
        attention reads the last L positions (``docs/inference.md``)."""
        if not self.cfg.causal:
            raise ValueError("stream_step needs a causal model (model.causal: true)")
        st = jax.tree.map(lambda s: jnp.where(reset, jnp.zeros_like(s), s), state)
        e = self.embedding(x)
        hs, cs = [], []
        for i, layer in enumerate(self.lstm):
            e, c = layer.cell(e, st.h[i], st.c[i])
            hs.append(e)
            cs.append(c)
        att, k, v, ok = self.attention.cached_step(e, st.k, st.v, st.kv_ok, st.pos)
        final = self.layer_norm(att)
        out = hft_outputs(final, (self.price_head, self.direction_head, self.volatility_head),
                          None, lambda: None)
        L = st.k.shape[0]
        return StreamState(jnp.stack(hs), jnp.stack(cs), k, v, ok, (st.pos + 1) % L), out

    def stream_weights(self) -> dict:
        """The weights :meth:`stream_step` reads, by role (host-side fusing of the streaming
        fast path, :func:`quantjax.inference.causal.pack_params`): ``embedding``,
        ``lstm`` (per layer ``w_ih[F_in, 4H]``, ``w_hh[H, 4H]``, ``bias[4H]``, forward
        direction, gate order i, f, g, o), ``attention`` (``query``/``key``/``value``/
        ``output`` Dense params), ``layer_norm`` and ``heads`` (``direction``, ``price``,
        ``volatility``: Dense params of their two layers)."""
        def dense(m):
            return dict(m.variables["params"])

        def head(m):
            v = m.variables["params"]
            return (dict(v["Dense_0"]), dict(v["Dense_1"]))

        lstm = []
        for layer in self.lstm:
            v = layer.variables["params"]
            lstm.append({"w_ih": v["w_ih"][0], "w_hh": v["w_hh"][0], "bias": v["bias"][0]})
        a = self.attention
        return {"embedding": dense(self.embedding), "lstm": lstm,
                "attention": {n: dense(getattr(a, n))
                              for n in ("query", "key", "value", "output")},
                "layer_norm": dense(self.layer_norm),
                "heads": {"direction": head(self.direction_head),
                          "price": head(self.price_head),
                          "volatility": head(self.volatility_head)}}

