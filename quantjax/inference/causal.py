"""O(1)-per-tick streaming update of a causal HFT model (``model.causal: true``).

The model's own :meth:`~quantjax.models.lstm_attention.LSTMAttentionModel.stream_step` is the
forward pass one tick at a time: the state keeps the LSTM ``h, c`` of every layer and a ring
buffer of the attention keys/values of the last L positions. One tick costs one LSTM cell
per layer, one query/key/value projection and one attention read over L cached keys — the
LSTM no longer re-runs over the window. Only models registered with ``streaming=True``
(:mod:`quantjax.models.registry`) have it; the others are refused by name.

Semantics: after a reset (stream start, or an invalid feature row), the output at the n-th
valid row (n <= L) equals the model's ``apply`` on those n rows exactly. Beyond L rows the
LSTM state carries the whole history since the reset (a window model restarts its LSTM at the
window start) while the attention still reads the last L positions; this is the stateful
variant whose accuracy is reported beside the window model (docs/inference.md).

- :class:`CausalStreamReference`: ``stream_step`` jitted and vmapped over symbols (the readable
  reference and the baseline of ``scripts/bench_inference.py``);
- :class:`CausalStream`: the fast path, the same step with its weights fused on the host
  (:func:`pack_params`), a 5-array state and one AOT-compiled executable per symbol count;
  tested equal to the reference (tests/inference/test_causal_packed.py).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from jax import lax
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from quantjax.config import from_dict
from quantjax.errors import UserError
from quantjax.hft.predict import to_real_units
from quantjax.inference.model_fn import unflatten_params
from quantjax.models.registry import build, get


def model_config(model_cfg: dict):
    """The registered model config of a ``model:`` mapping (a run's resolved config section),
    after the streaming checks: the model must have a causal streaming step."""
    name = model_cfg.get("name", "lstm_attention")
    spec = get(name, "hft")
    if not spec.streaming:
        raise UserError(f"stream.model=causal: model '{name}' has no causal streaming step "
                        f"(models with one: lstm_attention); use stream.model=window")
    if not model_cfg.get("causal", False):
        raise UserError("stream.model=causal needs a model trained with model.causal=true "
                        "(this one is bidirectional); use stream.model=window")
    return from_dict(spec.config, dict(model_cfg), prefix="model.")


def _nested(params) -> dict:
    """Nested ``{"params": ...}`` variables from a flat or nested param dict."""
    return unflatten_params(params) if any("/" in k for k in params) else params


def make_step(cfg, price_scale: float = 1.0, vol_scale: float = 1.0):
    """``step(params, state, x[F], reset) -> (state, outputs)`` for one symbol: the model's
    ``stream_step`` with real-unit outputs ``direction_probs[3]``, ``price``, ``volatility``
    (:func:`quantjax.hft.predict.to_real_units`). ``params`` flat or nested."""
    model = build(cfg)

    def step(params, st, x, reset):
        st, out = model.apply(_nested(params), st, x, reset, method=model.stream_step)
        return st, to_real_units(out, price_scale, vol_scale)

    return step


def init_state(cfg, params, seq_len: int):
    """Zero streaming state of one symbol (the model's ``stream_init``)."""
    model = build(cfg)
    return model.apply(_nested(params), seq_len, method=model.stream_init)


class CausalStreamReference:
    """The per-symbol :func:`make_step` jitted and vmapped (many state/param leaves, per-symbol
    ring slots): the readable reference of :class:`CausalStream` and the baseline of
    ``scripts/bench_inference.py``."""

    def __init__(self, params, model_cfg: dict, extra: dict | None = None):
        extra = extra or {}
        self.cfg = model_config(model_cfg)
        self.params = jax.device_put(params)
        self.seq_len = int(self.cfg.sequence_length)
        one = make_step(self.cfg, float(extra.get("price_scale", 1.0)),
                        float(extra.get("vol_scale", 1.0)))
        self._step = jax.jit(jax.vmap(one, in_axes=(None, 0, 0, 0)))

    def init(self, n_symbols: int):
        one = init_state(self.cfg, self.params, self.seq_len)
        return jax.tree.map(lambda a: jnp.broadcast_to(a, (n_symbols, *a.shape)), one)

    def step(self, state, x, reset):
        return self._step(self.params, state, x, reset)


# ------------------------------------------------------------------ packed fast path
class PackedState(NamedTuple):
    """State of S symbols in 5 arrays: ``hc[S, n_layers, 2H]`` (LSTM ``h | c``), the key and
    value caches ``k, v[S * heads, L, head_dim]`` (one batch dimension, as the attention's
    batched dots read them: no transpose or copy of the cache per tick), ``ok[S, L]``
    (slot holds a key since the symbol's last reset), ``pos`` (int32, the ring slot written next,
    shared by all symbols)."""

    hc: jax.Array
    k: jax.Array
    v: jax.Array
    ok: jax.Array
    pos: jax.Array


OUTPUTS = ("p_down", "p_flat", "p_up", "price", "volatility")


class Packed(NamedTuple):
    """Fused float32 weights of the causal update (:func:`pack_params`), ``n_layers + 5``
    arrays, so the executable takes few arguments: ``lstm[i][in_i + H, 4H]`` (``[w_ih; w_hh]``; layer 0's input
    weights have the embedding folded in), ``qkv[H, 3E]``, ``out[E, E]`` (attention output),
    ``heads_1[E, 3 H1]`` (the three heads' first layers side by side), ``heads_2[3 H1, 5]``
    (their second layers, block-diagonal: ``[3 logits, price, vol]``) and ``vec`` (every bias and
    the layer-norm scale/bias, concatenated in the order :func:`make_packed_step` reads them)."""

    lstm: tuple
    qkv: jax.Array
    out: jax.Array
    heads_1: jax.Array
    heads_2: jax.Array
    vec: jax.Array


def pack_params(cfg, params) -> tuple[int, Packed]:
    """``(n_features, Packed)`` from the model's params (flat or nested), read through the
    model's :meth:`~quantjax.models.lstm_attention.LSTMAttentionModel.stream_weights`.

    Per LSTM layer one ``[w_ih; w_hh]`` matmul (the embedding folded into layer 0's input
    weights, products in float64; gate columns reordered from flax's ``i, f, g, o`` to
    ``i, f, o, g`` so one sigmoid covers three gates), one query|key|value matmul, the three
    heads' first layers side by side and their second layers block-diagonal. All biases and the
    layer norm's scale and bias go in one vector ``vec``: layer biases ``[4H] x n_layers``,
    ``qkv [3E]``, attention output ``[E]``, layer-norm scale ``[E]`` and bias ``[E]``,
    ``heads_1 [3 H1]``, ``heads_2 [5]``."""
    model = build(cfg)
    p = jax.device_get(model.apply(_nested(params), method=model.stream_weights))
    f = np.float32
    layers = p["lstm"]
    w = [np.concatenate([lay["w_ih"], lay["w_hh"]], 0) for lay in layers]
    b = [np.asarray(lay["bias"], np.float64) for lay in layers]
    # the embedding is folded into layer 0: [x, h] @ [[W_emb w_ih]; w_hh] + (b_emb w_ih + b)
    emb_w = np.asarray(p["embedding"]["kernel"], np.float64)
    emb_b = np.asarray(p["embedding"]["bias"], np.float64)
    w_ih0 = np.asarray(layers[0]["w_ih"], np.float64)
    w[0] = np.concatenate([emb_w @ w_ih0, layers[0]["w_hh"]], 0)
    b[0] = emb_b @ w_ih0 + b[0]
    H = w[0].shape[1] // 4
    ifog = np.r_[0:2 * H, 3 * H:4 * H, 2 * H:3 * H]
    lstm = tuple(np.asarray(wi[:, ifog], f) for wi in w)
    a = p["attention"]
    qkv_w = np.concatenate([a[n]["kernel"] for n in ("query", "key", "value")], 1).astype(f)
    qkv_b = np.concatenate([a[n]["bias"] for n in ("query", "key", "value")])
    heads = [p["heads"][n] for n in ("direction", "price", "volatility")]
    h1_w = np.concatenate([h[0]["kernel"] for h in heads], 1).astype(f)
    h1_b = np.concatenate([h[0]["bias"] for h in heads])
    sizes = [h[0]["kernel"].shape[1] for h in heads]
    outs = [h[1]["kernel"].shape[1] for h in heads]
    h2_w = np.zeros((sum(sizes), sum(outs)), f)
    r = c = 0
    for h, n, o in zip(heads, sizes, outs, strict=True):
        h2_w[r:r + n, c:c + o] = h[1]["kernel"]
        r, c = r + n, c + o
    h2_b = np.concatenate([h[1]["bias"] for h in heads])
    vec = np.concatenate([bi.astype(f)[ifog] for bi in b]
                         + [np.asarray(v, f) for v in (qkv_b, a["output"]["bias"],
                                                       p["layer_norm"]["scale"],
                                                       p["layer_norm"]["bias"], h1_b, h2_b)])
    return int(emb_w.shape[0]), Packed(lstm, qkv_w, np.asarray(a["output"]["kernel"], f),
                                       h1_w, h2_w, vec)


def make_packed_step(heads: int, price_scale: float = 1.0, vol_scale: float = 1.0):
    """``step(P: Packed, state, x[S, F], reset[S]) -> (state, out[S, 5])`` for all symbols at
    once (batched matmuls, no vmap); ``out`` columns :data:`OUTPUTS` in real units. Same
    semantics as :func:`make_step`; the ring slot is shared (attention is order-free over the
    valid slots, and every symbol consumes one row per call)."""

    def step(P: Packed, st: PackedState, x, reset):
        at = [0]

        def take(n):  # the next n entries of P.vec (see pack_params for the order)
            at[0] += n
            return P.vec[at[0] - n:at[0]]

        S = x.shape[0]
        L = st.ok.shape[1]
        keep = ~reset
        hc = jnp.where(keep[:, None, None], st.hc, 0.0)
        ok = st.ok & keep[:, None]
        e = x
        layers = []
        for i, w in enumerate(P.lstm):
            H = w.shape[1] // 4
            g = jnp.concatenate([e, hc[:, i, :H]], axis=-1) @ w + take(4 * H)
            s = jax.nn.sigmoid(g[:, :3 * H])  # gates i, f, o (see pack_params)
            c = s[:, H:2 * H] * hc[:, i, H:] + s[:, :H] * jnp.tanh(g[:, 3 * H:])
            e = s[:, 2 * H:] * jnp.tanh(c)
            layers.append(jnp.concatenate([e, c], axis=-1))
        E = P.qkv.shape[1] // 3
        hd = E // heads
        qkv = e @ P.qkv + take(3 * E)
        q = qkv[:, :E].reshape(S * heads, hd)
        k = lax.dynamic_update_slice(st.k, qkv[:, E:2 * E].reshape(S * heads, 1, hd),
                                     (0, st.pos, 0))
        v = lax.dynamic_update_slice(st.v, qkv[:, 2 * E:].reshape(S * heads, 1, hd),
                                     (0, st.pos, 0))
        ok = lax.dynamic_update_slice(ok, jnp.ones((S, 1), bool), (0, st.pos))
        scores = jnp.einsum("bd,bld->bl", q, k).reshape(S, heads, L) / np.sqrt(np.float32(hd))
        scores = jnp.where(ok[:, None, :], scores, -jnp.inf)
        probs = jax.nn.softmax(scores, axis=-1).reshape(S * heads, L)
        ctx = jnp.einsum("bl,bld->bd", probs, v).reshape(S, E)
        y = ctx @ P.out + take(E)
        final = nn.LayerNorm().apply({"params": {"scale": take(E), "bias": take(E)}}, y)
        raw = (jax.nn.relu(final @ P.heads_1 + take(P.heads_1.shape[1])) @ P.heads_2
               + take(P.heads_2.shape[1]))
        real = to_real_units({"direction": raw[:, :3], "price": raw[:, 3],
                              "volatility": jax.nn.softplus(raw[:, 4])}, price_scale, vol_scale)
        out = jnp.concatenate([real["direction_probs"], real["price"][:, None],
                               real["volatility"][:, None]], axis=-1)
        return PackedState(jnp.stack(layers, 1), k, v, ok, (st.pos + 1) % L), out

    return step


def _flat_args(step):
    """``step`` with the state as 5 separate arguments ``(P, hc, k, v, ok, pos, x, reset)``, so
    the executable can donate the four arrays but not ``pos``: donating the scalar would make
    XLA copy it before the ring write reads it (one more thunk per tick)."""

    def flat(P, hc, k, v, ok, pos, x, reset):
        return step(P, PackedState(hc, k, v, ok, pos), x, reset)

    return flat


class CausalStream:
    """O(1)-per-tick causal update for S symbols: ``state, out = stream.step(state, x[S, F],
    reset[S])`` (``out``: dict of host arrays ``direction_probs[S, 3]``, ``price[S]``,
    ``volatility[S]``), or :meth:`step_packed` (``out[S, 5]`` device array, :data:`OUTPUTS`).

    Fast path: fused weights (:func:`pack_params`, 8 arrays for 3 layers), a 5-array state
    (:class:`PackedState`; its four arrays donated) and an AOT-compiled executable per number of
    symbols (compiled and warmed up on first use, or ahead with :meth:`compile`), so a tick is
    one executable call ``exe(stream.packed, *state, x, reset) -> (state, out)`` with 15 argument
    buffers (no retracing) and the key/value caches are updated in place. ``params`` flat or nested;
    ``model_cfg`` is the run's ``model:`` mapping (a registered streaming model, causal).
    A state passed to :meth:`step` is consumed (donated): use the returned one.

    ``mesh`` (optional, one axis, e.g. :func:`symbol_mesh`): updates of S symbols with S
    divisible by the mesh size run as one SPMD program with the symbol axis of the state, the
    features and the outputs split over the devices (params replicated; symbols are independent,
    so there is no communication). On a multi-core CPU exposed as several devices this runs the
    blocks on separate cores; other symbol counts run on one device.
    """

    def __init__(self, params, model_cfg: dict, extra: dict | None = None, mesh=None):
        extra = extra or {}
        cfg = model_config(model_cfg)
        self.seq_len = int(cfg.sequence_length)
        self.n_features, packed = pack_params(cfg, params)
        self.mesh = mesh if mesh is not None and mesh.size > 1 else None
        if self.mesh is not None:
            if len(self.mesh.axis_names) != 1:
                raise ValueError(f"CausalStream: mesh needs one axis, got {self.mesh.axis_names}")

            self._rows = NamedSharding(self.mesh, PartitionSpec(self.mesh.axis_names[0]))
            self._replicated = NamedSharding(self.mesh, PartitionSpec())
            self.packed = jax.device_put(packed, self._replicated)
        else:
            self.packed = jax.device_put(packed)
        self._fn = make_packed_step(int(cfg.attention_heads),
                                    float(extra.get("price_scale", 1.0)),
                                    float(extra.get("vol_scale", 1.0)))
        self.n_layers = len(packed.lstm)
        self.hidden = int(packed.lstm[0].shape[1] // 4)
        self.embed = int(packed.qkv.shape[1] // 3)
        self.heads = int(cfg.attention_heads)
        self._compiled: dict[int, object] = {}
        self._no_reset: dict[int, jax.Array] = {}

    def sharded(self, n_symbols: int) -> bool:
        """Whether the update of ``n_symbols`` runs sharded over :attr:`mesh` (symbol axis split
        in equal blocks, one per device; needs ``n_symbols`` divisible by the mesh size)."""
        return self.mesh is not None and n_symbols % self.mesh.size == 0

    def _shardings(self, n_symbols: int):
        rows, rep = self._rows, self._replicated
        return PackedState(rows, rows, rows, rows, rep), rows

    def put_rows(self, a):
        """Put a per-symbol array ``a[S, ...]`` on the device(s) the update of S symbols reads it
        from (split over :attr:`mesh` when sharded), so the step needs no transfer for it."""
        if self.sharded(np.shape(a)[0]):
            return jax.device_put(a, self._rows)
        return jax.device_put(a)

    def init(self, n_symbols: int) -> PackedState:
        S, L, B, hd = n_symbols, self.seq_len, n_symbols * self.heads, self.embed // self.heads
        st = PackedState(jnp.zeros((S, self.n_layers, 2 * self.hidden), jnp.float32),
                         jnp.zeros((B, L, hd), jnp.float32), jnp.zeros((B, L, hd), jnp.float32),
                         jnp.zeros((S, L), bool), jnp.zeros((), jnp.int32))
        if self.sharded(S):
            st = jax.device_put(st, self._shardings(S)[0])
        return st

    def compile(self, n_symbols: int, warmup: int = 2):
        """AOT-compile (and warm up) the update for ``n_symbols`` symbols."""
        if n_symbols not in self._compiled:
            S = n_symbols
            st = self.init(S)
            x = jnp.zeros((S, self.n_features), jnp.float32)
            r = jnp.ones(S, bool)
            no_reset = jnp.zeros(S, bool)
            if self.sharded(S):
                st_sh, rows = self._shardings(S)
                x, r, no_reset = (jax.device_put(a, rows) for a in (x, r, no_reset))
                jitted = jax.jit(_flat_args(self._fn), donate_argnums=(1, 2, 3, 4),
                                 out_shardings=(st_sh, rows))
            else:
                jitted = jax.jit(_flat_args(self._fn), donate_argnums=(1, 2, 3, 4))
            exe = jitted.lower(self.packed, *st, x, r).compile()
            self._compiled[S] = exe
            self._no_reset[S] = no_reset
            for _ in range(warmup):
                st, out = exe(self.packed, *st, x, r)
                jax.block_until_ready(out)
        return self._compiled[n_symbols]

    def step_packed(self, state: PackedState, x, reset=None):
        """``(state, out[S, 5])`` without leaving the device. ``reset[S]`` (bool; ``None`` = no
        symbol resets): a host ``reset`` with no True entry is replaced by a device constant,
        which saves its host-to-device copy on the common tick."""
        S = x.shape[0]
        exe = self._compiled.get(S) or self.compile(S)
        if getattr(x, "dtype", None) != np.float32:
            x = np.asarray(x, np.float32)
        if reset is None or (isinstance(reset, np.ndarray) and not reset.any()):
            reset = self._no_reset[S]
        elif getattr(reset, "dtype", None) != np.bool_:
            reset = np.asarray(reset, bool)
        return exe(self.packed, *state, x, reset)

    def step(self, state: PackedState, x, reset=None):
        state, out = self.step_packed(state, x, reset)
        return state, unpack_outputs(out)


def symbol_mesh(n_devices: int | None = None, axis: str = "symbols"):
    """A one-axis :class:`jax.sharding.Mesh` over the first ``n_devices`` local devices (all by
    default) for ``CausalStream(..., mesh=...)``. On CPU, expose several devices (e.g. one per
    core) with ``jax.config.update("jax_num_cpu_devices", n)`` before JAX starts."""

    devs = jax.local_devices()
    n = len(devs) if n_devices is None else int(n_devices)
    if not 1 <= n <= len(devs):
        raise ValueError(f"symbol_mesh: n_devices must be in [1, {len(devs)}], got {n}")
    return Mesh(np.array(devs[:n]), (axis,))


def unpack_outputs(out) -> dict:
    """``out[S, 5]`` -> ``{"direction_probs": [S, 3], "price": [S], "volatility": [S]}``
    (host numpy)."""
    o = np.asarray(out)
    return {"direction_probs": o[:, :3], "price": o[:, 3], "volatility": o[:, 4]}
