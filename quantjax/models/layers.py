"""Shared building blocks: traced-rate dropout, a fast (bi)LSTM, multi-head self-attention.

All modules take the dropout rate as a call argument so it can be a traced value
(a sweep vmaps over it); ``flax.linen.Dropout`` needs a Python float.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import linen as nn

from quantjax.platform import fusion_barrier

xavier = nn.initializers.xavier_uniform()
zeros = nn.initializers.zeros


def _householder_q(z: jax.Array) -> jax.Array:
    """``Q[M, N]`` of the QR factorization of ``z[M, N]`` (M >= N) with ``diag(R) >= 0``.

    Householder reflections in plain ``jnp`` (a ``fori_loop`` over the N columns) instead of
    LAPACK: on CPU, two LAPACK QR calls running at once (independent QRs in one program, or
    one per device) can deadlock in OpenBLAS. Equals ``jnp.linalg.qr`` with the signs fixed
    to rounding.
    """
    M, N = z.shape
    rows = jnp.arange(M)

    def body(k, carry):
        r, q = carry
        x = jnp.where(rows >= k, jax.lax.dynamic_index_in_dim(r, k, 1, keepdims=False), 0.0)
        alpha = -jnp.where(x[k] >= 0, 1.0, -1.0) * jnp.linalg.norm(x)  # the new R[k, k]
        v = x.at[k].add(-alpha)
        norm_v = jnp.linalg.norm(v)
        v = v / jnp.where(norm_v > 0, norm_v, 1.0)
        return r - 2.0 * jnp.outer(v, v @ r), q - 2.0 * jnp.outer(q @ v, v)

    r, q = jax.lax.fori_loop(0, N, body, (z, jnp.eye(M, dtype=z.dtype)))
    return q[:, :N] * jnp.sign(jnp.diagonal(r))


def orthogonal(key: jax.Array, shape: tuple[int, int], dtype=jnp.float32) -> jax.Array:
    """Haar-random matrix ``[n, m]`` with orthonormal rows or columns (whichever side is
    smaller): the same draw and values as ``flax.linen.initializers.orthogonal()`` (to
    rounding), computed without LAPACK (see :func:`_householder_q`)."""
    n, m = shape
    z = jax.random.normal(key, (max(n, m), min(n, m)), dtype)
    q = _householder_q(z)
    return q.T if n < m else q


def dropout(x: jax.Array, rate: jax.Array | float, rng: jax.Array | None) -> jax.Array:
    """Inverted dropout with a (possibly traced) ``rate`` in [0, 1); ``rng=None`` is identity."""
    if rng is None:
        return x
    keep = 1.0 - jnp.asarray(rate, x.dtype)
    mask = jax.random.bernoulli(rng, keep, x.shape)
    return jnp.where(mask, x / keep, jnp.zeros_like(x))


def _lstm_cell(gates: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
    """One LSTM update from pre-activations ``gates[..., 4H]`` (order i, f, g, o)."""
    i, f, g, o = jnp.split(gates, 4, axis=-1)
    c = jax.nn.sigmoid(f) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
    h = jax.nn.sigmoid(o) * jnp.tanh(c)
    return h, c


def _activations(pre: jax.Array) -> tuple[jax.Array, ...]:
    """Gate activations ``i, f, g, o[..., H]`` from pre-activations ``pre[..., 4H]``."""
    i, f, g, o = jnp.split(pre, 4, axis=-1)
    return jax.nn.sigmoid(i), jax.nn.sigmoid(f), jnp.tanh(g), jax.nn.sigmoid(o)


def _step_times(s, L: int, nd: int) -> tuple:
    """Time index of each direction at scan step ``s``: forward ``s``, backward ``L - 1 - s``."""
    return (s, L - 1 - s)[:nd]


def _read_rows(a: jax.Array, s, nd: int) -> jax.Array:
    L, B, _, X = a.shape
    return jnp.concatenate([jax.lax.dynamic_slice(a, (t, 0, d, 0), (1, B, 1, X)).reshape(1, B, X)
                            for d, t in enumerate(_step_times(s, L, nd))], axis=0)


def _read(a: jax.Array, s, nd: int) -> jax.Array:
    """``[nd, B, X]``: row ``a[t_d, :, d]`` of each direction ``d`` at step ``s`` (``a[L, B, nd, X]``)."""
    return fusion_barrier(lambda s: _read_rows(a, s, nd), s)


def _write(buf: jax.Array, v: jax.Array, s, nd: int) -> jax.Array:
    """``buf[L, B, nd, X]`` with ``v[d]`` written at each direction's time of step ``s``."""
    for d, t in enumerate(_step_times(s, buf.shape[0], nd)):
        buf = jax.lax.dynamic_update_slice(buf, v[d][None, :, None, :], (t, 0, d, 0))
    return buf


@functools.cache
def lstm_recurrence(unroll: int | bool = 1):
    """``hs[L, B, nd, H] = rec(proj[L, B, nd, 4H], w_hh[nd, H, 4H])``: ``nd`` (1 or 2) LSTM
    recurrences (zero initial state) over time-major input pre-activations ``proj`` (input
    projection and bias already added; gate order i, f, g, o). Direction 0 runs forward in
    time, direction 1 backward; both advance in ONE scan with one batched
    ``[nd, B, H] x [nd, H, 4H]`` product per step. ``proj`` and ``hs`` are in time order and in
    the layout of the input projection's matmul (``[L, B, nd * 4H]`` reshaped): each step reads
    and writes its rows in place, so no transposed or time-reversed copy of either is made.

    Hand-written VJP (``jax.custom_vjp``): the forward scan keeps ``c`` and the gate
    activations; the reverse scan carries only ``dh, dc`` (one ``[nd, B, 4H] x [nd, 4H, H]``
    product per step) and writes the gate gradients ``dproj`` in the same layout; the
    recurrent weight gradient is then one matmul over all steps (``sum_t h_prev_t^T dproj_t``)
    instead of a small matmul and an accumulator update in every reverse step, as autodiff of
    the scan does. Equal to autodiff of the scan to float rounding (tests/models/test_lstm_attention.py).
    """

    def forward(proj, w_hh, residuals: bool):
        L, B, nd, G = proj.shape
        z = jnp.zeros((nd, B, G // 4), proj.dtype)

        def step(carry, s):
            h, c, out = carry
            i, f, g, o = _activations(_read(proj, s, nd) + jnp.einsum("dbh,dhg->dbg", h, w_hh))
            c = f * c + i * g
            h = o * jnp.tanh(c)
            res = (c, jnp.concatenate([i, f, g, o], axis=-1)) if residuals else None
            return (h, c, _write(out, h, s, nd)), res

        out0 = jnp.zeros((L, B, nd, G // 4), proj.dtype)
        (_, _, out), res = jax.lax.scan(step, (z, z, out0), jnp.arange(L), unroll=unroll)
        return out, res

    @jax.custom_vjp
    def rec(proj, w_hh):
        return forward(proj, w_hh, False)[0]

    def rec_fwd(proj, w_hh):
        out, (cs, acts) = forward(proj, w_hh, True)
        return out, (out, cs, acts, w_hh)

    def rec_bwd(res, dout):
        out, cs, acts, w_hh = res  # cs, acts in step order: [L, nd, B, H], [L, nd, B, 4H]
        L, B, nd, H = out.shape
        zero = jnp.zeros((nd, B, H), out.dtype)
        c_prev = jnp.concatenate([zero[None], cs[:-1]], axis=0)
        w_t = jnp.swapaxes(w_hh, 1, 2)  # [nd, 4H, H]

        def step(carry, s):
            dh_next, dc_next, dproj = carry
            c, cp, a = fusion_barrier(lambda s: (cs[s], c_prev[s], acts[s]), s)
            i, f, g, o = jnp.split(a, 4, axis=-1)
            dh = _read(dout, s, nd) + dh_next
            tc = jnp.tanh(c)
            dc = dh * o * (1.0 - tc * tc) + dc_next
            da = jnp.concatenate([dc * g * i * (1.0 - i), dc * cp * f * (1.0 - f),
                                  dc * i * (1.0 - g * g), dh * tc * o * (1.0 - o)], axis=-1)
            return (jnp.einsum("dbg,dgh->dbh", da, w_t), dc * f, _write(dproj, da, s, nd)), None

        dproj0 = jnp.zeros((L, B, nd, 4 * H), out.dtype)
        (_, _, dproj), _ = jax.lax.scan(step, (zero, zero, dproj0), jnp.arange(L),
                                        reverse=True, unroll=unroll)
        # h before each step, in time layout: forward h(t-1), backward h(t+1), zero at the start
        pad = jnp.zeros((1, B, 1, H), out.dtype)
        h_prev = [jnp.concatenate([pad, out[:-1, :, :1]], axis=0)]
        if nd == 2:
            h_prev.append(jnp.concatenate([out[1:, :, 1:], pad], axis=0))
        h_prev = jnp.concatenate(h_prev, axis=2).reshape(L, B, nd * H)
        # one plain matmul [nd H, nd 4H], keeping the diagonal blocks: twice the FLOPs of the
        # per-direction products for nd = 2, but no transposed copy of dproj; measured as fast as
        # the batched einsum "lbdh,lbdg->dhg" (an A/B of training throughput, stop 13). Time and
        # batch stay separate contracting dims (not one [L * B] dim): with the batch split over
        # devices (data parallel) each device contracts its own rows and the partitioner adds
        # one all-reduce, instead of all-gathering both operands over the batch
        full = jnp.einsum("lbi,lbj->ij", h_prev, dproj.reshape(L, B, nd * 4 * H))
        dw = jnp.stack([full[d * H:(d + 1) * H, d * 4 * H:(d + 1) * 4 * H] for d in range(nd)])
        return dproj, dw

    rec.defvjp(rec_fwd, rec_bwd)
    return rec


class LSTMLayer(nn.Module):
    """One (bi)directional LSTM layer, time-major.

    Input ``x[L, B, D]`` -> output ``[L, B, n_dir * H]`` (forward then backward features).
    The input projection of every time step and both directions is ONE matmul outside
    the recurrence; the scan carries ``h, c[n_dir, B, H]`` and does one batched
    ``[n_dir, B, H] x [n_dir, H, 4H]`` product per step (directions fused:
    :func:`lstm_recurrence`, with a hand-written VJP) or runs one scan per direction
    (``fuse=False``, autodiff).
    """

    hidden_size: int
    bidirectional: bool = True
    unroll: int | bool = 1
    fuse: bool = True

    @nn.compact
    def __call__(self, x: jax.Array, unroll: int | bool | None = None) -> jax.Array:
        unroll = self.unroll if unroll is None else unroll
        H = self.hidden_size
        nd = 2 if self.bidirectional else 1
        L, B, D = x.shape
        w_ih = self.param("w_ih", lambda k, s: jax.vmap(lambda kk: orthogonal(kk, s[1:]))(
            jax.random.split(k, s[0])), (nd, D, 4 * H))
        w_hh = self.param("w_hh", lambda k, s: jax.vmap(lambda kk: orthogonal(kk, s[1:]))(
            jax.random.split(k, s[0])), (nd, H, 4 * H))
        bias = self.param("bias", nn.initializers.normal(1.0), (nd, 4 * H))
        # [L, B, nd*4H] in one matmul, viewed as [L, B, nd, 4H]
        proj = x @ w_ih.transpose(1, 0, 2).reshape(D, nd * 4 * H) + bias.reshape(-1)
        proj = proj.reshape(L, B, nd, 4 * H)
        if self.fuse or nd == 1:
            return lstm_recurrence(unroll)(proj, w_hh).reshape(L, B, nd * H)
        # one scan per direction (autodiff): [L, B, 4H] each, the backward one time reversed
        outs = []
        for d in range(nd):
            def step_d(carry, g_t, d=d):
                h, c = carry
                h, c = _lstm_cell(g_t + h @ w_hh[d], c)
                return (h, c), h

            p_d = proj[:, :, d] if d == 0 else proj[::-1, :, d]
            z = jnp.zeros((B, H), x.dtype)
            _, h_d = jax.lax.scan(step_d, (z, z), p_d, unroll=unroll)
            outs.append(h_d if d == 0 else h_d[::-1])
        return jnp.concatenate(outs, axis=-1)

    def cell(self, x: jax.Array, h: jax.Array, c: jax.Array) -> tuple[jax.Array, jax.Array]:
        """One step of the forward direction (streaming): ``x[D]``, ``h, c[H]`` -> ``(h, c)``."""
        p = self.variables["params"]
        return _lstm_cell(x @ p["w_ih"][0] + p["bias"][0] + h @ p["w_hh"][0], c)


class SelfAttention(nn.Module):
    """Spec ``AttentionMechanism``: Q/K/V/output projections over ``width``, ``heads`` heads.

    ``x[L, B, E]`` (time-major). With ``last_only`` only the last position's query is
    computed (all that the HFT heads read) and the result is ``[B, E]``; otherwise
    ``[L, B, E]``. Returns ``(out, probs)``; ``probs[B, heads, Lq, L]``.
    :meth:`cached_step` is one query over a ring buffer of cached keys/values (streaming).
    """

    width: int
    heads: int
    causal: bool = False

    def setup(self) -> None:
        dense = lambda: nn.Dense(self.width, kernel_init=xavier, bias_init=zeros)  # noqa: E731
        self.query, self.key, self.value, self.output = dense(), dense(), dense(), dense()

    def __call__(self, x: jax.Array, *, last_only: bool, attn_rate, rng) -> tuple:
        L, B, E = x.shape
        hd = E // self.heads
        q_in = x[-1:] if last_only else x
        q = self.query(q_in).reshape(q_in.shape[0], B, self.heads, hd)
        k = self.key(x).reshape(L, B, self.heads, hd)
        v = self.value(x).reshape(L, B, self.heads, hd)
        scores = jnp.einsum("qbhd,kbhd->bhqk", q, k) / jnp.sqrt(jnp.asarray(hd, x.dtype))
        if self.causal and not last_only:
            mask = jnp.tril(jnp.ones((L, L), bool))
            scores = jnp.where(mask, scores, jnp.asarray(-1e9, scores.dtype))
        probs = jax.nn.softmax(scores, axis=-1)
        probs_d = dropout(probs, attn_rate, rng)
        ctx = jnp.einsum("bhqk,kbhd->qbhd", probs_d, v).reshape(q_in.shape[0], B, E)
        out = self.output(ctx)
        return (out[0] if last_only else out), probs

    def cached_step(self, x: jax.Array, k: jax.Array, v: jax.Array, ok: jax.Array, pos):
        """Attention of one new position ``x[E]`` over a ring of cached keys/values
        ``k, v[L, E]`` (``ok[L]``: slot filled); the new key/value are written at slot ``pos``.
        Returns ``(out[E], k, v, ok)``."""
        L, E = k.shape
        hd = E // self.heads
        q = self.query(x).reshape(self.heads, hd)
        k = k.at[pos].set(self.key(x))
        v = v.at[pos].set(self.value(x))
        ok = ok.at[pos].set(True)
        scores = jnp.einsum("hd,khd->hk", q, k.reshape(L, self.heads, hd)) / jnp.sqrt(
            jnp.asarray(hd, jnp.float32))
        probs = jax.nn.softmax(jnp.where(ok[None], scores, -jnp.inf), axis=-1)
        ctx = jnp.einsum("hk,khd->hd", probs, v.reshape(L, self.heads, hd)).reshape(E)
        return self.output(ctx), k, v, ok


class Head(nn.Module):
    """Dense(H) - ReLU - Dropout - Dense(out)."""

    hidden: int
    out: int

    @nn.compact
    def __call__(self, x, rate, rng):
        x = nn.relu(nn.Dense(self.hidden, kernel_init=xavier, bias_init=zeros)(x))
        x = dropout(x, rate, rng)
        return nn.Dense(self.out, kernel_init=xavier, bias_init=zeros)(x)




def hft_outputs(final: jax.Array, heads: tuple, rate, rng) -> dict:
    """The HFT model contract from the final features ``final[..., E]`` and the three heads
    ``(price, direction, volatility)``: ``price[...]``, ``direction[..., 3]`` logits,
    ``volatility[...]`` (softplus, > 0) and ``hidden`` (= ``final``). ``rng()`` gives each
    head's dropout key (``None``: eval mode)."""
    price_head, direction_head, volatility_head = heads
    price = price_head(final, rate, rng())[..., 0]
    direction = direction_head(final, rate, rng())
    vol = volatility_head(final, rate, rng())[..., 0]
    return {"price": price, "direction": direction, "volatility": jax.nn.softplus(vol),
            "hidden": final}
