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
import numpy as np
from jax import lax

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


class CausalStreamReference:
    """The per-symbol :func:`make_step` jitted and vmapped (many state/param leaves, per-symbol
    ring slots): the readable reference of :class:`CausalStream` and the baseline of
    ``scripts/bench_inference.py``."""

    def __init__(self, params, model_cfg: dict, extra: dict | None = None):
        extra = extra or {}
        _check_causal(model_cfg)
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


def _check_causal(model_cfg: dict) -> None:
    if not model_cfg.get("causal", False):
        from quantjax.errors import UserError

        raise UserError("stream.model=causal needs a model trained with model.causal=true "
                        "(this one is bidirectional); use stream.model=window")


# ------------------------------------------------------------------ packed fast path
class PackedState(NamedTuple):
    """State of S symbols in 4 arrays: ``hc[S, 2, n_layers, H]`` (LSTM h and c),
    ``kv[S, L, 2E]`` (cached keys | values), ``ok[S, L]`` (slot holds a key since the symbol's
    last reset), ``pos`` (int32, the ring slot written next, shared by all symbols)."""

    hc: jax.Array
    kv: jax.Array
    ok: jax.Array
    pos: jax.Array


OUTPUTS = ("p_down", "p_flat", "p_up", "price", "volatility")


def pack_params(params) -> tuple:
    """Fused float32 weights: per LSTM layer ``[w_ih; w_hh]`` (one matmul per layer, the
    embedding folded into layer 0's input weights, products in float64), one
    query|key|value matmul, the three heads' first layers side by side and their second
    layers block-diagonal (one matmul each, output ``[3 logits, price, vol]``).
    Returns ``((n_features,), lstm, qkv, attention output, layer norm, heads_1, heads_2)``."""
    p = jax.device_get(_p(params))
    f = np.float32
    n_layers = sum(1 for k in p if k.startswith("lstm_"))
    lstm = tuple((np.concatenate([p[f"lstm_{i}"]["w_ih"][0], p[f"lstm_{i}"]["w_hh"][0]], 0)
                  .astype(f), np.asarray(p[f"lstm_{i}"]["bias"][0], f)) for i in range(n_layers))
    a = p["attention"]
    qkv_w = np.concatenate([a[n]["kernel"] for n in ("query", "key", "value")], 1).astype(f)
    qkv_b = np.concatenate([a[n]["bias"] for n in ("query", "key", "value")]).astype(f)
    heads = [p["direction_head"], p["price_head"], p["volatility_head"]]
    h1_w = np.concatenate([h["Dense_0"]["kernel"] for h in heads], 1).astype(f)
    h1_b = np.concatenate([h["Dense_0"]["bias"] for h in heads]).astype(f)
    sizes = [h["Dense_0"]["kernel"].shape[1] for h in heads]
    outs = [h["Dense_1"]["kernel"].shape[1] for h in heads]
    h2_w = np.zeros((sum(sizes), sum(outs)), f)
    r = c = 0
    for h, n, o in zip(heads, sizes, outs, strict=True):
        h2_w[r:r + n, c:c + o] = h["Dense_1"]["kernel"]
        r, c = r + n, c + o
    h2_b = np.concatenate([h["Dense_1"]["bias"] for h in heads]).astype(f)
    # the embedding is folded into layer 0: [x, h] @ [[W_emb w_ih]; w_hh] + (b_emb w_ih + b)
    emb_w = np.asarray(p["embedding"]["kernel"], np.float64)
    emb_b = np.asarray(p["embedding"]["bias"], np.float64)
    w_ih0 = np.asarray(p["lstm_0"]["w_ih"][0], np.float64)
    emb = (emb_w.shape[0],)
    lstm = ((np.concatenate([emb_w @ w_ih0, p["lstm_0"]["w_hh"][0]], 0).astype(f),
             (emb_b @ w_ih0 + p["lstm_0"]["bias"][0]).astype(f)), *lstm[1:])
    att_out = (np.asarray(a["output"]["kernel"], f), np.asarray(a["output"]["bias"], f))
    ln = (np.asarray(p["layer_norm"]["scale"], f), np.asarray(p["layer_norm"]["bias"], f))
    return (emb, lstm, (qkv_w, qkv_b), att_out, ln, (h1_w, h1_b), (h2_w, h2_b))


def make_packed_step(heads: int, price_scale: float = 1.0, vol_scale: float = 1.0):
    """``step(P, state, x[S, F], reset[S]) -> (state, out[S, 5])`` for all symbols at once
    (batched matmuls, no vmap); ``out`` columns :data:`OUTPUTS` in real units. Same
    semantics as :func:`make_step`; the ring slot is shared (attention is order-free over the
    valid slots, and every symbol consumes one row per call)."""

    def step(P, st: PackedState, x, reset):
        lstm, (qkv_w, qkv_b), (o_w, o_b), ln, (h1_w, h1_b), (h2_w, h2_b) = P
        S = x.shape[0]
        L = st.kv.shape[1]
        keep = ~reset
        hc = jnp.where(keep[:, None, None, None], st.hc, 0.0)
        ok = st.ok & keep[:, None]
        e = x
        hs, cs = [], []
        for i, (w, b) in enumerate(lstm):
            g = jnp.concatenate([e, hc[:, 0, i]], axis=-1) @ w + b
            gi, gf, gg, go = jnp.split(g, 4, axis=-1)
            c = jax.nn.sigmoid(gf) * hc[:, 1, i] + jax.nn.sigmoid(gi) * jnp.tanh(gg)
            e = jax.nn.sigmoid(go) * jnp.tanh(c)
            hs.append(e)
            cs.append(c)
        E = qkv_w.shape[1] // 3
        hd = E // heads
        qkv = e @ qkv_w + qkv_b
        q = qkv[:, :E].reshape(S, heads, hd)
        kv = lax.dynamic_update_slice(st.kv, qkv[:, None, E:], (0, st.pos, 0))
        ok = lax.dynamic_update_slice(ok, jnp.ones((S, 1), bool), (0, st.pos))
        k = kv[..., :E].reshape(S, L, heads, hd)
        v = kv[..., E:].reshape(S, L, heads, hd)
        scores = jnp.einsum("shd,slhd->shl", q, k) / np.sqrt(np.float32(hd))
        scores = jnp.where(ok[:, None, :], scores, -jnp.inf)
        probs = jax.nn.softmax(scores, axis=-1)
        ctx = jnp.einsum("shl,slhd->shd", probs, v).reshape(S, E)
        final = _layer_norm({"scale": ln[0], "bias": ln[1]}, ctx @ o_w + o_b)
        raw = jax.nn.relu(final @ h1_w + h1_b) @ h2_w + h2_b
        out = jnp.concatenate([jax.nn.softmax(raw[:, :3], axis=-1),
                               raw[:, 3:4] * price_scale,
                               jax.nn.softplus(raw[:, 4:5]) * vol_scale], axis=-1)
        hc = jnp.stack([jnp.stack(hs, 1), jnp.stack(cs, 1)], 1)
        return PackedState(hc, kv, ok, (st.pos + 1) % L), out

    return step


class CausalStream:
    """O(1)-per-tick causal update for S symbols: ``state, out = stream.step(state, x[S, F],
    reset[S])`` (``out``: dict of host arrays ``direction_probs[S, 3]``, ``price[S]``,
    ``volatility[S]``), or :meth:`step_packed` (``out[S, 5]`` device array, :data:`OUTPUTS`).

    Fast path: fused weights (:func:`pack_params`), a 4-array state (:class:`PackedState`)
    donated to an AOT-compiled executable per number of symbols (compiled and warmed up on
    first use, or ahead with :meth:`compile`), so a tick is one executable call (no retracing,
    few leaves to flatten) and the key/value cache is updated in place. ``params`` flat or nested;
    ``model_cfg`` needs ``attention_heads``, ``sequence_length`` and ``causal``.
    A state passed to :meth:`step` is consumed (donated): use the returned one.
    """

    def __init__(self, params, model_cfg: dict, extra: dict | None = None):
        extra = extra or {}
        _check_causal(model_cfg)
        self.seq_len = int(model_cfg["sequence_length"])
        packed = pack_params(params)
        self.n_features = int(packed[0][0])
        self.packed = jax.device_put(packed[1:])
        self._fn = make_packed_step(int(model_cfg["attention_heads"]),
                                    float(extra.get("price_scale", 1.0)),
                                    float(extra.get("vol_scale", 1.0)))
        self.n_layers = len(self.packed[0])
        self.hidden = int(self.packed[0][0][0].shape[1] // 4)
        self.embed = int(self.packed[1][0].shape[1] // 3)
        self._compiled: dict[int, object] = {}

    def init(self, n_symbols: int) -> PackedState:
        S, L = n_symbols, self.seq_len
        return PackedState(jnp.zeros((S, 2, self.n_layers, self.hidden), jnp.float32),
                           jnp.zeros((S, L, 2 * self.embed), jnp.float32),
                           jnp.zeros((S, L), bool), jnp.zeros((), jnp.int32))

    def compile(self, n_symbols: int, warmup: int = 2):
        """AOT-compile (and warm up) the update for ``n_symbols`` symbols."""
        if n_symbols not in self._compiled:
            st = self.init(n_symbols)
            x = jnp.zeros((n_symbols, self.n_features), jnp.float32)
            r = jnp.ones(n_symbols, bool)
            exe = jax.jit(self._fn, donate_argnums=1).lower(self.packed, st, x, r).compile()
            self._compiled[n_symbols] = exe
            for _ in range(warmup):
                st, out = exe(self.packed, st, x, r)
            jax.block_until_ready(out)
        return self._compiled[n_symbols]

    def step_packed(self, state: PackedState, x, reset):
        """``(state, out[S, 5])`` without leaving the device."""
        exe = self._compiled.get(x.shape[0]) or self.compile(x.shape[0])
        if getattr(x, "dtype", None) != np.float32:
            x = np.asarray(x, np.float32)
        if getattr(reset, "dtype", None) != np.bool_:
            reset = np.asarray(reset, bool)
        return exe(self.packed, state, x, reset)

    def step(self, state: PackedState, x, reset):
        state, out = self.step_packed(state, x, reset)
        return state, unpack_outputs(out)


def unpack_outputs(out) -> dict:
    """``out[S, 5]`` -> ``{"direction_probs": [S, 3], "price": [S], "volatility": [S]}``
    (host numpy)."""
    o = np.asarray(out)
    return {"direction_probs": o[:, :3], "price": o[:, 3], "volatility": o[:, 4]}
