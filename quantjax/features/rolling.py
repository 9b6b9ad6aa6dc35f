"""O(T) causal rolling-window primitives over one symbol's ``[T]`` arrays (float32, jittable).

Window reductions use the van Herk / Gil-Werman block scheme: the padded series is cut into
blocks of W bars; a prefix scan and a suffix scan inside each block give every window
``[t-W+1, t]`` as ``suffix(block k-1) (+) prefix(block k)``. Work is O(T) for any W (two
scans of length W per block plus one combine), and every sum adds at most W terms, so float32
error does not grow with T the way a difference of global cumulative sums does.

Price levels are passed as float32 pairs ``(hi, lo)`` with ``hi + lo`` equal to the float64
price (see :mod:`quantjax.features.prep`); differences of prices are formed as
``(hi_a - hi_b) + (lo_a - lo_b)``, exact to float32 rounding of the difference. Window
statistics of price levels are taken relative to an *anchor* price inside the window (the
close at the first bar of block k), so sums of squares never cancel at the scale of the price.

The exception is :func:`count_below`, the rolling rank count behind ``volatility_regime``:
counting exactly needs Omega(T log W) comparisons (docs/features.md), so it costs
O(T * W) compares for W <= ``COUNT_BELOW_CROSSOVER`` (fastest in practice) and
O(T log W) above (same block layout: sort each block, Fenwick trees over ranks).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

_IDENT = {"sum": 0.0, "max": -jnp.inf, "min": jnp.inf}


def shift(x: jax.Array, n: int, fill: float = 0.0) -> jax.Array:
    """``x[t - n]`` along axis 0 (``fill`` for ``t < n``); ``n >= 0``."""
    if n == 0:
        return x
    T = x.shape[0]
    if n >= T:
        return jnp.full_like(x, fill)
    pad = jnp.full((n,) + x.shape[1:], fill, x.dtype)
    return jnp.concatenate([pad, x[:-n]], axis=0)


def to_blocks(x: jax.Array, W: int, fill) -> jax.Array:
    """Pad ``x[T]`` with ``W-1`` leading and some trailing ``fill`` values; shape [nb, W].
    Padded index ``u = t + W - 1``; block ``k`` holds padded indices ``[kW, kW + W)``."""
    T = x.shape[0]
    total = T + W - 1
    nb = -(-total // W)
    tail = nb * W - total
    xp = jnp.concatenate(
        [jnp.full((W - 1,), fill, x.dtype), x, jnp.full((tail,), fill, x.dtype)]
    )
    return xp.reshape(nb, W)


def unblock(b: jax.Array, T: int, W: int) -> jax.Array:
    """Inverse of :func:`to_blocks`: the ``[T]`` series back from ``[nb, W]``."""
    return b.reshape(-1)[W - 1 : W - 1 + T]


_OPS = {"sum": jnp.add, "max": jnp.maximum, "min": jnp.minimum}


def _scan(b: jax.Array, op: str, reverse: bool) -> jax.Array:
    """Inclusive scan of ``op`` along axis 1 of ``b[nb, W]``: a ``lax.scan`` over the W
    columns (W sequential vector ops of width nb, so O(nb*W) = O(T) work)."""
    init = jnp.full(b.shape[:1], _IDENT[op], b.dtype)
    if op == "sum":  # Kahan-compensated: error O(eps), not O(W * eps)

        def step_sum(carry, col):
            s, comp = carry
            y = col - comp
            t = s + y
            return (t, (t - s) - y), t

        _, out = lax.scan(step_sum, (init, jnp.zeros_like(init)), b.T, reverse=reverse)
        return out.T
    fn = _OPS[op]

    def step(c, col):
        c = fn(c, col)
        return c, c

    _, out = lax.scan(step, init, b.T, reverse=reverse)
    return out.T


def reduce_blocks(pre: jax.Array, suf: jax.Array, T: int, W: int, op: str = "sum") -> jax.Array:
    """Rolling ``op`` over ``[t-W+1, t]`` from block-layout inputs ``[nb, W]`` (see
    :func:`to_blocks`): the prefix part comes from ``pre``, the part in the previous block from
    ``suf``. Returns ``[T]``; positions ``t < W-1`` include padding (callers mask them)."""
    p = unblock(_scan(pre, op, reverse=False), T, W)  # prefix of the block of u = t + W - 1
    s = _scan(suf, op, reverse=True).reshape(-1)[:T]  # suffix from padded index t (= u-W+1)
    whole_block = (jnp.arange(T) + W - 1) % W == W - 1  # the window is exactly one block
    return jnp.where(whole_block, p, _OPS[op](s, p))


def window_reduce2(x_pre: jax.Array, x_suf: jax.Array, W: int, op: str = "sum") -> jax.Array:
    """Rolling ``op`` over ``[t-W+1, t]`` taking the prefix part from ``x_pre`` and the part
    in the previous block from ``x_suf`` (identical arrays for a plain rolling reduction).

    ``x_pre, x_suf``: ``[T]``; returns ``[T]``. O(T) work.
    """
    T = x_pre.shape[0]
    if W == 1:
        return x_pre
    fill = _IDENT[op]
    return reduce_blocks(to_blocks(x_pre, W, fill), to_blocks(x_suf, W, fill), T, W, op)


def window_reduce(x: jax.Array, W: int, op: str = "sum") -> jax.Array:
    """Rolling ``op`` (sum/max/min) over the W bars ``[t-W+1, t]``; O(T)."""
    return window_reduce2(x, x, W, op)


def strided_window_sum(x: jax.Array, W: int, m: int) -> jax.Array:
    """``sum_{j<W} x[t - j*m]`` for every t (a rolling sum over every m-th bar); O(T)."""
    if m == 1:
        return window_reduce(x, W)
    T = x.shape[0]
    rows = -(-T // m)
    xp = jnp.concatenate([x, jnp.zeros((rows * m - T,), x.dtype)]).reshape(rows, m)
    out = jax.vmap(lambda c: window_reduce(c, W), in_axes=1, out_axes=1)(xp)
    return out.reshape(-1)[:T]


def missing_count(missing_cumsum: jax.Array, lookback: int) -> jax.Array:
    """Missing bars in ``[t - lookback, t]`` from ``cumsum(missing)`` (int32, exact)."""
    return missing_cumsum - shift(missing_cumsum, lookback + 1, 0)


def linear_recurrence(a: float, b: jax.Array, block: int = 256) -> jax.Array:
    """``h_t = a * h_{t-1} + b_t`` with ``h_{-1} = 0``; O(T) work in two short scans:
    a sequential scan inside blocks of ``block`` bars (vectorized over blocks), then a scan
    over the block carries. Causal: ``h_t`` combines only ``b_0..b_t``."""
    T = b.shape[0]
    B = min(block, T)
    nb = -(-T // B)
    bp = jnp.concatenate([b, jnp.zeros((nb * B - T,), b.dtype)]).reshape(nb, B)

    def inner(c, col):
        c = a * c + col
        return c, c

    _, local = lax.scan(inner, jnp.zeros((nb,), b.dtype), bp.T)
    local = local.T  # [nb, B], recurrence restarted at every block start

    def outer(c, end):
        c = (a**B) * c + end
        return c, c

    _, carry = lax.scan(outer, jnp.zeros((), b.dtype), local[:, -1])
    prev = jnp.concatenate([jnp.zeros((1,), b.dtype), carry[:-1]])  # h at the previous block end
    powers = jnp.asarray(a, b.dtype) ** jnp.arange(1, B + 1, dtype=b.dtype)
    return (local + prev[:, None] * powers[None, :]).reshape(-1)[:T]


class AnchoredBlocks(NamedTuple):
    """Price ``x`` minus a per-block anchor (price ``a`` at the first padded index of the
    window's own block, which lies inside the window: causal), in block layout ``[nb, W]``.

    ``pre``: relative to the anchor of the element's own block (prefix part of a window);
    ``suf``: relative to the anchor of the next block (suffix part); ``out[t]`` (``[T]``):
    ``x_t`` minus the anchor of the window ending at t.
    """

    pre: jax.Array
    suf: jax.Array
    out: jax.Array


def anchored_blocks(
    x_hi: jax.Array, x_lo: jax.Array, a_hi: jax.Array, a_lo: jax.Array, W: int
) -> AnchoredBlocks:
    """Anchored differences ``x - anchor`` without gathers (prices as ``(hi, lo)`` pairs)."""
    T = x_hi.shape[0]
    xb_hi, xb_lo = to_blocks(x_hi, W, x_hi[0]), to_blocks(x_lo, W, x_lo[0])
    an_hi, an_lo = to_blocks(a_hi, W, a_hi[0])[:, 0], to_blocks(a_lo, W, a_lo[0])[:, 0]
    nx_hi = jnp.concatenate([an_hi[1:], an_hi[-1:]])
    nx_lo = jnp.concatenate([an_lo[1:], an_lo[-1:]])
    pre = (xb_hi - an_hi[:, None]) + (xb_lo - an_lo[:, None])
    suf = (xb_hi - nx_hi[:, None]) + (xb_lo - nx_lo[:, None])
    return AnchoredBlocks(pre, suf, unblock(pre, T, W))


def anchored_offset(T: int, W: int) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Positions relative to the anchor: ``(q_pre[1, W], q_suf[1, W], offset[T])`` where
    bar position in window ``i = q - offset[t]`` (``i = 0`` is the oldest bar)."""
    col = jnp.arange(W, dtype=jnp.float32)[None, :]
    t = jnp.arange(T)
    offset = (t - ((t + W - 1) // W) * W).astype(jnp.float32)
    return col, col - W, offset


class Moments(NamedTuple):
    """Count, mean and central moment sums ``M_p = sum (x - mean)^p`` of a set of values."""

    n: jax.Array
    mean: jax.Array
    m2: jax.Array
    m3: jax.Array
    m4: jax.Array


def _moments_add(st: Moments, x: jax.Array, n: jax.Array, inv_n1: jax.Array) -> Moments:
    """Welford/Pebay online update with one value; ``n`` values so far (a scalar, the same
    for every block), ``inv_n1 = 1 / (n + 1)``."""
    n1 = n + 1.0
    delta = x - st.mean
    dn = delta * inv_n1
    dn2 = dn * dn
    term1 = delta * dn * n
    return Moments(
        n=st.n,
        mean=st.mean + dn,
        m2=st.m2 + term1,
        m3=st.m3 + term1 * dn * (n1 - 2.0) - 3.0 * dn * st.m2,
        m4=st.m4 + term1 * dn2 * (n1 * n1 - 3.0 * n1 + 3.0) + 6.0 * dn2 * st.m2 - 4.0 * dn * st.m3,
    )


def _moments_merge(a: Moments, b: Moments) -> Moments:
    """Exact pairwise combination of two moment sets (Chan et al. / Pebay 2008)."""
    n = a.n + b.n
    ns = jnp.where(n > 0, n, 1.0)
    d = b.mean - a.mean
    nab = a.n * b.n
    return Moments(
        n=n,
        mean=a.mean + d * b.n / ns,
        m2=a.m2 + b.m2 + d * d * nab / ns,
        m3=a.m3 + b.m3 + d**3 * nab * (a.n - b.n) / ns**2 + 3.0 * d * (a.n * b.m2 - b.n * a.m2) / ns,
        m4=a.m4 + b.m4 + d**4 * nab * (a.n**2 - nab + b.n**2) / ns**3
        + 6.0 * d * d * (a.n**2 * b.m2 + b.n**2 * a.m2) / ns**2
        + 4.0 * d * (a.n * b.m3 - b.n * a.m3) / ns,
    )


def _merge2(a: Moments, b: Moments) -> Moments:
    """Like :func:`_moments_merge` for the mean and m2 only (m3, m4 stay 0)."""
    n = a.n + b.n
    d = b.mean - a.mean
    w = b.n / n
    return Moments(n, a.mean + d * w, a.m2 + b.m2 + d * d * a.n * w, a.m3, a.m4)


def rolling_moments(x: jax.Array, W: int, order: int = 4) -> Moments:
    """Mean and central moment sums of ``x`` over ``[t-W+1, t]``, numerically stable.

    Inside each block of W bars, prefix and suffix moments come from Welford/Pebay online
    updates (a ``lax.scan`` over the W columns, vectorized over blocks: O(T) work); each
    window merges one suffix and one prefix exactly (Chan et al. / Pebay). No raw power sums,
    so no cancellation on trending or jumpy windows. ``order=2``: mean and m2 only.
    Block padding only reaches windows that start before the first bar (callers mask them).
    """
    T = x.shape[0]
    blocks = to_blocks(x, W, 0.0)
    zero = jnp.zeros(blocks.shape[:1], x.dtype)
    k = 4 if order > 2 else 2  # state: mean, m2[, m3, m4]

    def step(st, col):
        xc, n = col
        full = Moments(zero, *st, *([zero] * (4 - k)))
        full = _moments_add(full, xc, n, 1.0 / (n + 1.0))
        st = tuple(full)[1 : 1 + k]
        return st, st

    def scan(reverse):
        n = jnp.arange(W, dtype=x.dtype)
        n = n[::-1] if reverse else n  # values already accumulated before this column
        _, out = lax.scan(step, (zero,) * k, (blocks.T, n), reverse=reverse)
        out = [a.T.reshape(-1) for a in out]
        return out + [jnp.zeros_like(out[0])] * (4 - k)

    t = jnp.arange(T)
    col = (t + W - 1) % W  # column of the window end in its block
    merge = _moments_merge if order > 2 else _merge2
    p = Moments((col + 1).astype(x.dtype), *(a[W - 1 : W - 1 + T] for a in scan(False)))
    s = Moments(jnp.maximum(W - 1 - col, 1).astype(x.dtype), *(a[:T] for a in scan(True)))
    merged = merge(s, p)
    whole_block = col == W - 1
    return Moments(*(jnp.where(whole_block, a, b) for a, b in zip(p, merged, strict=True)))


# Longest window for which count_below uses W vector compares per bar; longer windows take
# the O(log W) sort + Fenwick-tree path. Measured with `scripts/bench_features.py
# --count-below` (10 x 100,000 bars, process CPU seconds): direct ~0.43 ms x W; sorted 0.37 s
# at W=100, 0.57 s at 1,000, 0.69 s at 2,000, 0.97 s at 10,000: equal near W = 1,500.
COUNT_BELOW_CROSSOVER = 1500


def count_below(x: jax.Array, W: int) -> jax.Array:
    """``#{j in [t-W+1, t] : x_j < x_t}`` for every t (int32 ``[T]``), IEEE ``<`` (NaN
    compares false, ``-0 == 0``); bars before the start do not count. Picks
    :func:`count_below_direct` (O(T*W), fastest for short windows) when
    ``W <= COUNT_BELOW_CROSSOVER``, else :func:`count_below_sorted` (O(T log W)).
    Both are exact and causal, with identical results."""
    W = min(W, x.shape[0])  # a longer window only adds bars before the start
    if W <= COUNT_BELOW_CROSSOVER:
        return count_below_direct(x, W)
    return count_below_sorted(x, W)


def count_below_direct(x: jax.Array, W: int) -> jax.Array:
    """:func:`count_below` by W-1 shifted vector compares in a fori_loop: O(T*W) work,
    O(T) memory."""
    T = x.shape[0]
    xp = jnp.concatenate([jnp.full((W - 1,), jnp.inf, x.dtype), x])

    def body(j, c):
        xs = lax.dynamic_slice(xp, (W - 1 - j,), (T,))  # x[t - j]
        return c + (xs < x).astype(jnp.int32)

    return lax.fori_loop(1, W, body, jnp.zeros((T,), jnp.int32))


def _count_less(sv: jax.Array, q: jax.Array) -> jax.Array:
    """``#{i : sv[r, i] < q[r, k]}`` for every ``(r, k)``: a branchless binary search
    (``floor(log2 W) + 1`` gathers) in the ascending, NaN-free rows of ``sv[n, W]``.
    Gathers index the flattened rows (a row-wise ``take_along_axis`` copied ``sv`` under
    ``vmap`` at every step)."""
    n, W = sv.shape
    flat = sv.reshape(-1)
    base = (jnp.arange(n, dtype=jnp.int32) * W)[:, None]
    lo = jnp.zeros(q.shape, jnp.int32)
    step = 1 << (W.bit_length() - 1)
    while step:
        i = lo + step
        v = flat[base + jnp.minimum(i, W) - 1]
        lo = jnp.where((i <= W) & (v < q), i, lo)
        step >>= 1
    return lo


def _fenwick_scan(ins: jax.Array, qry: jax.Array, size: int) -> jax.Array:
    """One Fenwick (binary indexed) tree per row over ranks ``[0, size)``, one ``lax.scan``
    over the W columns of the ``[n, W]`` rank arrays: at column c, row r's tree first inserts
    ``ins[r, c]`` (a rank ``>= size`` inserts nothing), then ``out[r, c]`` = the number of
    inserted ranks ``< qry[r, c]``. O(log size) gathers/scatters per column, all rows at once.

    Insert-then-query keeps XLA's scatter in place (querying first made it copy the whole
    trees every step), and so does a single tree array (two carried trees were copied).
    Tree counts are int16 while they fit (less memory traffic), else int32."""
    n = ins.shape[0]
    levels = size.bit_length()
    rows = jnp.arange(n)
    dtype = jnp.int16 if size < 2**15 else jnp.int32  # a count is at most W <= size
    one = jnp.ones((), dtype)

    def step(tree, cols):
        r_ins, r_qry = cols
        p = r_ins + 1  # 1-based tree position
        for _ in range(levels):
            tree = tree.at[rows, p].add(one, mode="drop")
            p = p + (p & -p)
        s = jnp.zeros((n,), jnp.int32)
        for _ in range(levels):  # prefix sum over positions 1..r = ranks 0..r-1
            s = s + jnp.take_along_axis(tree, r_qry[:, None], axis=1)[:, 0].astype(jnp.int32)
            r_qry = r_qry & (r_qry - 1)
        return tree, s

    _, out = lax.scan(step, jnp.zeros((n, size + 1), dtype), (ins.T, qry.T))
    return out.T


def count_below_sorted(x: jax.Array, W: int) -> jax.Array:
    """:func:`count_below` in O(T log W) work and O(T) memory.

    In the block layout of :func:`to_blocks` (blocks of W bars), the window ending at column
    c of block k is columns ``> c`` of block k-1 plus columns ``<= c`` of block k. Values
    are replaced by their rank among the 2W values of blocks (k-1, k) (one sort per block,
    binary searches in the sorted neighbours; ``x_j < x_t`` iff rank_j < rank_t, ties share
    a rank). Two Fenwick trees per block then count, in one scan over the W columns: the
    prefix of block k (forward) and the suffix of block k-1 (backward)."""
    T = x.shape[0]
    if W == 1:
        return jnp.zeros((T,), jnp.int32)
    nan = jnp.isnan(x)
    # a NaN never counts: rank it as +inf (nothing is below it for a non-NaN query) and
    # zero its own count below; -0.0 -> +0.0 so that the sort agrees with IEEE equality
    xc = jnp.where(nan, jnp.inf, jnp.where(x == 0, jnp.zeros_like(x), x))
    xb = to_blocks(xc, W, jnp.inf)  # [nb, W]; padding (+inf) never counts
    sv = jnp.sort(xb, axis=1)
    inf_row = jnp.full((1, W), jnp.inf, x.dtype)
    own = _count_less(sv, xb)
    rank_q = own + _count_less(jnp.concatenate([inf_row, sv[:-1]]), xb)  # in pair (k-1, k)
    rank_e = own + _count_less(jnp.concatenate([sv[1:], inf_row]), xb)  # in pair (k, k+1)
    none = jnp.full((1, W), 2 * W, jnp.int32)
    prev = jnp.concatenate([none, rank_e[:-1]])  # block k-1 ranked in pair (k-1, k)
    # backward over columns: before the query of column c, insert block k-1's column c+1
    ins_suf = jnp.concatenate([prev[:, 1:], none[:, :1].repeat(prev.shape[0], 0)], axis=1)
    nb = xb.shape[0]
    ins = jnp.concatenate([rank_q, ins_suf[:, ::-1]])  # rows: prefix trees, suffix trees
    cnt = _fenwick_scan(ins, jnp.concatenate([rank_q, rank_q[:, ::-1]]), 2 * W)
    out = unblock(cnt[:nb] + cnt[nb:, ::-1], T, W)
    return jnp.where(nan, 0, out)
