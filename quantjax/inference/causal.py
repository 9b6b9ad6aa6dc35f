"""O(1)-per-tick streaming update of the causal HFT model (``model.causal: true``).

The causal model (unidirectional LSTM + attention whose last query reads the window's keys)
is evaluated incrementally: the state keeps the LSTM ``h, c`` of every layer and a ring
buffer of the attention keys/values of the last L positions. One tick costs one LSTM cell
per layer, one query/key/value projection and one attention read over L cached keys — the
LSTM no longer re-runs over the window.

Semantics: after a reset (stream start, or an invalid feature row), the output at the n-th
valid row (n <= L) equals ``LSTMAttentionModel.apply`` on those n rows exactly. Beyond L rows
the LSTM state carries the whole history since the reset (a window model restarts its LSTM
at the window start) while the attention still reads the last L positions; this is the
stateful variant whose accuracy is reported beside the window model (docs/inference.md).

Works on the flat or nested param dict of :class:`quantjax.models.hft.LSTMAttentionModel`
(same layout, no model class needed): ``params["params"]["lstm_0"]["w_ih"][0]`` etc.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from quantjax.inference.model_fn import unflatten_params


class CausalState(NamedTuple):
    """One symbol: LSTM ``h, c[n_layers, H]``, key/value ring ``k, v[L, E]``, ``kv_ok[L]``."""

    h: jax.Array
    c: jax.Array
    k: jax.Array
    v: jax.Array
    kv_ok: jax.Array
    pos: jax.Array  # int32 next ring slot


def _p(params):
    params = unflatten_params(params) if any("/" in k for k in params) else params
    return params["params"]


def init_state(params, seq_len: int) -> CausalState:
    """Zero state for one symbol."""
    p = _p(params)
    n_layers = sum(1 for k in p if k.startswith("lstm_"))
    H = p["lstm_0"]["w_hh"].shape[-2]
    E = p["attention"]["key"]["kernel"].shape[-1]
    return CausalState(jnp.zeros((n_layers, H), jnp.float32), jnp.zeros((n_layers, H), jnp.float32),
                       jnp.zeros((seq_len, E), jnp.float32), jnp.zeros((seq_len, E), jnp.float32),
                       jnp.zeros(seq_len, bool), jnp.zeros((), jnp.int32))


def _dense(d, x):
    return x @ d["kernel"] + d["bias"]


def _layer_norm(d, x, eps=1e-6):
    mean = jnp.mean(x, -1, keepdims=True)
    var = jnp.mean(jnp.square(x - mean), -1, keepdims=True)
    return (x - mean) * jax.lax.rsqrt(var + eps) * d["scale"] + d["bias"]


def _head(d, x):
    return _dense(d["Dense_1"], jax.nn.relu(_dense(d["Dense_0"], x)))


def make_step(heads: int, price_scale: float = 1.0, vol_scale: float = 1.0):
    """``step(params, state, x[F], reset) -> (state, outputs)`` for one symbol.

    ``reset`` (bool) clears the state before consuming ``x``. Outputs: ``direction_probs[3]``,
    ``price``, ``volatility`` (real units, as :func:`quantjax.inference.model_fn.hft_fn`).
    """

    def step(params, st: CausalState, x, reset):
        p = _p(params)
        zero = jax.tree.map(jnp.zeros_like, st)
        st = jax.tree.map(lambda z, s: jnp.where(reset, z, s), zero, st)
        e = _dense(p["embedding"], x)
        hs, cs = [], []
        for i in range(st.h.shape[0]):
            lp = p[f"lstm_{i}"]
            g = e @ lp["w_ih"][0] + lp["bias"][0] + st.h[i] @ lp["w_hh"][0]
            gi, gf, gg, go = jnp.split(g, 4, axis=-1)
            c = jax.nn.sigmoid(gf) * st.c[i] + jax.nn.sigmoid(gi) * jnp.tanh(gg)
            h = jax.nn.sigmoid(go) * jnp.tanh(c)
            hs.append(h)
            cs.append(c)
            e = h
        a = p["attention"]
        E = st.k.shape[-1]
        hd = E // heads
        q = _dense(a["query"], e).reshape(heads, hd)
        k = st.k.at[st.pos].set(_dense(a["key"], e))
        v = st.v.at[st.pos].set(_dense(a["value"], e))
        ok = st.kv_ok.at[st.pos].set(True)
        L = k.shape[0]
        scores = jnp.einsum("hd,khd->hk", q, k.reshape(L, heads, hd)) / jnp.sqrt(
            jnp.asarray(hd, jnp.float32))
        scores = jnp.where(ok[None], scores, -jnp.inf)
        probs = jax.nn.softmax(scores, axis=-1)
        ctx = jnp.einsum("hk,khd->hd", probs, v.reshape(L, heads, hd)).reshape(E)
        final = _layer_norm(p["layer_norm"], _dense(a["output"], ctx))
        out = {"direction_probs": jax.nn.softmax(_head(p["direction_head"], final)),
               "price": _head(p["price_head"], final)[0] * price_scale,
               "volatility": jax.nn.softplus(_head(p["volatility_head"], final)[0]) * vol_scale}
        st = CausalState(jnp.stack(hs), jnp.stack(cs), k, v, ok, (st.pos + 1) % L)
        return st, out

    return step


class CausalStream:
    """Jitted, vmapped causal update for S symbols: ``state, out = stream.step(state, x[S, F],
    reset[S])``. ``params`` flat or nested; ``model_cfg`` needs ``attention_heads``,
    ``sequence_length`` and ``causal``."""

    def __init__(self, params, model_cfg: dict, extra: dict | None = None):
        extra = extra or {}
        if not model_cfg.get("causal", False):
            from quantjax.errors import UserError

            raise UserError("stream.model=causal needs a model trained with model.causal=true "
                            "(this one is bidirectional); use stream.model=window")
        self.params = jax.device_put(params)
        self.seq_len = int(model_cfg["sequence_length"])
        one = make_step(int(model_cfg["attention_heads"]), float(extra.get("price_scale", 1.0)),
                        float(extra.get("vol_scale", 1.0)))
        self._step = jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0)))

    def init(self, n_symbols: int) -> CausalState:
        one = init_state(self.params, self.seq_len)
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n_symbols, *a.shape)), one)

    def step(self, state: CausalState, x, reset):
        return self._step(self.params, state, x, reset)
