"""LSTMAttentionModel: shapes, init, attention, fused/unfused recurrence, causal mode."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantjax.config import load
from quantjax.errors import ConfigError
from quantjax.hft.config import HFTConfig
from quantjax.models.lstm_attention import LSTMAttentionConfig, LSTMAttentionModel
from quantjax.models.registry import init_hft_params

CFG = LSTMAttentionConfig(sequence_length=6, hidden_size=8, num_layers=2, attention_heads=2,
                     attention_dropout=0.0)
# one compiled init and forward pass per config (op by op, they compile ~100 small programs)
init_params = jax.jit(init_hft_params, static_argnums=(0, 1))


@functools.partial(jax.jit, static_argnums=0, static_argnames="return_attention")
def forward(cfg, params, x, return_attention=False):
    return LSTMAttentionModel(cfg).apply(params, x, return_attention=return_attention)


def normal(seed, shape):
    """Standard normal float32 draws from numpy (no compiled random programs)."""
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


@pytest.fixture(scope="module")
def setup():
    params = init_params(CFG, 3, jax.random.PRNGKey(0))
    x = jnp.asarray(normal(1, (4, 6, 3)))
    return params, x


def test_shapes_and_attention(setup):
    params, x = setup
    out = forward(CFG, params, x)
    assert out["price"].shape == (4,) and out["direction"].shape == (4, 3)
    assert out["volatility"].shape == (4,) and bool(jnp.all(out["volatility"] > 0))
    assert out["hidden"].shape == (4, 16)
    full = forward(CFG, params, x, return_attention=True)
    att = full["attention"]
    assert att.shape == (4, 2, 6, 6)
    np.testing.assert_allclose(att.sum(-1), 1.0, rtol=1e-5)
    # the last-query fast path equals the full attention's last step
    for k in ("price", "direction", "volatility"):
        np.testing.assert_allclose(out[k], full[k], rtol=1e-4, atol=1e-5)


def test_last_row_attention_matches_full_reference(setup):
    """The last-query fast path equals a hand-written full attention (all L query rows,
    then the last row) to 1e-5, for the hidden features and the three heads."""
    params, x = setup
    m = LSTMAttentionModel(CFG)
    p = params["params"]
    _, inter = jax.jit(lambda p, x: m.apply(
        p, x, capture_intermediates=lambda mdl, _: mdl.name == "lstm_1"))(params, x)
    h = inter["intermediates"]["lstm_1"]["__call__"][0]  # [L, B, 2H]
    a = p["attention"]
    dense = lambda n, v: v @ a[n]["kernel"] + a[n]["bias"]  # noqa: E731
    L, B, E = h.shape
    q, k, v = (dense(n, h).reshape(L, B, 2, E // 2) for n in ("query", "key", "value"))
    probs = jax.nn.softmax(jnp.einsum("qbhd,kbhd->bhqk", q, k) / np.sqrt(E // 2), axis=-1)
    att = dense("output", jnp.einsum("bhqk,kbhd->qbhd", probs, v).reshape(L, B, E))
    ln = p["layer_norm"]
    last = att[-1]
    mu, var = last.mean(-1, keepdims=True), last.var(-1, keepdims=True)
    ref = (last - mu) / jnp.sqrt(var + 1e-6) * ln["scale"] + ln["bias"]
    out = forward(CFG, params, x)
    np.testing.assert_allclose(out["hidden"], ref, rtol=1e-5, atol=1e-5)
    full = forward(CFG, params, x, return_attention=True)
    np.testing.assert_allclose(full["attention"], probs, rtol=1e-5, atol=1e-6)
    for key in ("price", "direction", "volatility", "hidden"):
        np.testing.assert_allclose(out[key], full[key], rtol=1e-5, atol=1e-5)


def test_unroll_override_same_outputs_and_params(setup):
    """``apply(..., unroll=True)`` (latency path) changes only the program: same outputs;
    the parameter tree (names, shapes) is the checkpoint layout and does not depend on it."""
    params, x = setup
    m = LSTMAttentionModel(CFG)
    ref = forward(CFG, params, x)
    for unroll in (True, 2):
        out = jax.jit(lambda p, x, u=unroll: m.apply(p, x, unroll=u))(params, x)
        for key in ("price", "direction", "volatility", "hidden"):
            np.testing.assert_allclose(out[key], ref[key], rtol=1e-5, atol=1e-5)
    shapes = jax.tree_util.tree_map_with_path(
        lambda kp, a: (jax.tree_util.keystr(kp), a.shape), params["params"])
    flat = dict(jax.tree_util.tree_leaves(shapes, is_leaf=lambda t: isinstance(t, tuple)
                                          and isinstance(t[0], str)))
    assert flat["['lstm_0']['w_ih']"] == (2, 8, 32) and flat["['lstm_1']['w_ih']"] == (2, 16, 32)
    assert flat["['lstm_0']['w_hh']"] == (2, 8, 32) and flat["['lstm_0']['bias']"] == (2, 32)
    assert flat["['attention']['query']['kernel']"] == (16, 16)
    assert flat["['layer_norm']['scale']"] == (16,)
    assert len(flat) == 2 + 2 * 3 + 8 + 2 + 3 * 4  # embedding, lstm, attention, ln, heads
    other = init_params(CFG, 3, jax.random.PRNGKey(0))
    jax.tree.map(np.testing.assert_array_equal, params, other)


def test_init_scheme(setup):
    params, _ = setup
    p = params["params"]
    w_hh = np.asarray(p["lstm_0"]["w_hh"][0])  # [H, 4H], orthogonal rows
    np.testing.assert_allclose(w_hh @ w_hh.T, np.eye(8), atol=1e-5)
    assert np.all(np.asarray(p["embedding"]["bias"]) == 0)
    k = np.asarray(p["price_head"]["Dense_0"]["kernel"])
    limit = np.sqrt(6 / sum(k.shape))  # xavier uniform bound
    assert np.abs(k).max() <= limit


def test_fused_equals_unfused_and_unroll(setup):
    params, x = setup
    ref = forward(CFG, params, x)["direction"]
    cfg = dataclasses.replace(CFG, fuse_directions=False, unroll=3)
    np.testing.assert_allclose(forward(cfg, params, x)["direction"], ref,
                               rtol=1e-5, atol=1e-5)


def test_dropout_rate_is_traced(setup):
    params, x = setup
    m = LSTMAttentionModel(CFG)

    def f(rate):
        return m.apply(params, x, train=True, dropout_rate=rate,
                       rngs={"dropout": jax.random.PRNGKey(2)})["price"]

    out = jax.jit(jax.vmap(f))(jnp.array([0.0, 0.5]))
    np.testing.assert_allclose(out[0], forward(CFG, params, x)["price"], rtol=1e-4, atol=1e-5)
    assert not np.allclose(out[0], out[1])


def test_causal_mode():
    cfg = dataclasses.replace(CFG, causal=True)
    params = init_params(cfg, 3, jax.random.PRNGKey(0))
    x = jnp.asarray(normal(1, (2, 6, 3)))
    full = forward(cfg, params, x, return_attention=True)
    att = np.asarray(full["attention"])
    assert np.all(att[..., np.triu_indices(6, 1)[0], np.triu_indices(6, 1)[1]] < 1e-6)
    assert params["params"]["lstm_0"]["w_hh"].shape[0] == 1
    np.testing.assert_allclose(forward(cfg, params, x)["price"], full["price"], rtol=1e-4,
                               atol=1e-5)


def test_config_checks():
    with pytest.raises(ConfigError, match="attention_heads"):
        load(HFTConfig, None, ["model.hidden_size=10", "model.attention_heads=8"])
    with pytest.raises(ConfigError, match="loss_weights"):
        load(HFTConfig, None, ["train.loss_weights=[1, 2]"])
    cfg = load(HFTConfig, "configs/hft_lstm.yaml")
    assert (cfg.model.sequence_length, cfg.model.hidden_size, cfg.model.num_layers) == (60, 128, 3)
    assert (cfg.model.attention_heads, cfg.data.prediction_horizon, cfg.train.batch_size) == (8, 5, 64)
    assert cfg.model.dropout == 0.2 and cfg.train.learning_rate == 1e-3 and cfg.train.epochs == 100
    load(HFTConfig, "configs/hft_lstm_tiny.yaml")


def test_orthogonal_init_matches_flax_without_lapack():
    """The LAPACK-free orthogonal init equals flax's (same draw) to rounding; no QR call in
    the model's init (concurrent LAPACK QRs deadlocked on CPU)."""
    import jax
    from flax import linen as nn

    from quantjax.models.layers import orthogonal

    key = jax.random.PRNGKey(7)
    ours = jax.jit(orthogonal, static_argnums=1)  # one program per shape (not op by op)
    flax = jax.jit(nn.initializers.orthogonal(), static_argnums=1)
    for shape in [(59, 512), (128, 512), (64, 64), (300, 40)]:
        got = np.asarray(ours(key, shape))
        want = np.asarray(flax(key, shape))
        np.testing.assert_allclose(got, want, atol=1e-5)
    text = ours.lower(key, (16, 64)).as_text()
    assert "geqrf" not in text and "householder_product" not in text


def test_lstm_recurrence_reads_rows_through_a_conditional_on_cpu():
    """On CPU each scan step reads its rows inside a ``lax.cond`` (a fusion boundary: XLA:CPU
    runs gate fusions that contain a dynamic slice several times slower), forward and backward;
    the values are those of a direct read (the VJP test above)."""
    from quantjax.models.layers import lstm_recurrence

    proj = jnp.ones((4, 2, 2, 8))
    w_hh = jnp.zeros((2, 2, 8))
    rec = lstm_recurrence(1)
    fwd = jax.jit(rec).lower(proj, w_hh).compile().as_text()
    grad = jax.jit(jax.grad(lambda p, w: jnp.sum(rec(p, w)))).lower(proj, w_hh).compile().as_text()
    assert " conditional(" in fwd
    assert grad.count(" conditional(") >= 2  # forward (residuals) and reverse scans


@pytest.mark.parametrize("nd", [1, 2])
def test_lstm_recurrence_vjp_equals_autodiff(nd):
    """The hand-written VJP of the fused recurrence equals autodiff of the same scan (gates
    i, f, g, o; zero initial state), for the input pre-activations and the recurrent weights,
    with and without unrolling."""
    from quantjax.models.layers import _lstm_cell, lstm_recurrence

    L, B, H = 7, 3, 5
    rng = np.random.default_rng(0)
    proj = jnp.asarray(rng.standard_normal((L, B, nd, 4 * H)), jnp.float32)  # time order;
    w_hh = jnp.asarray(0.5 * rng.standard_normal((nd, H, 4 * H)), jnp.float32)  # dir 1: backward
    ct = jnp.asarray(rng.standard_normal((L, B, nd, H)), jnp.float32)

    def autodiff_rec(proj, w_hh):
        p = jnp.transpose(proj, (0, 2, 1, 3))  # [L, nd, B, 4H], backward direction reversed
        if nd == 2:
            p = jnp.stack([p[:, 0], p[::-1, 1]], axis=1)

        def step(carry, g_t):
            h, c = carry
            h, c = _lstm_cell(g_t + jnp.einsum("dbh,dhg->dbg", h, w_hh), c)
            return (h, c), h

        z = jnp.zeros((nd, B, H))
        hs = jax.lax.scan(step, (z, z), p)[1]
        if nd == 2:
            hs = jnp.stack([hs[:, 0], hs[::-1, 1]], axis=1)
        return jnp.transpose(hs, (0, 2, 1, 3))

    def loss(rec):
        return lambda p, w: jnp.sum(rec(p, w) * ct)

    want_h = jax.jit(autodiff_rec)(proj, w_hh)
    want = jax.jit(jax.grad(loss(autodiff_rec), argnums=(0, 1)))(proj, w_hh)
    for unroll in (1, 3, True):
        rec = lstm_recurrence(unroll)
        np.testing.assert_allclose(jax.jit(rec)(proj, w_hh), want_h, rtol=1e-6, atol=1e-6)
        got = jax.jit(jax.grad(loss(rec), argnums=(0, 1)))(proj, w_hh)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
