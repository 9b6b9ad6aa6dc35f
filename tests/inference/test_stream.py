"""Streaming features equal batch features at every step; causal O(1) model update."""

from __future__ import annotations

import dataclasses
import functools

import jax
import numpy as np
import pytest

from quantjax.features.config import FeaturesConfig
from quantjax.features.market_features import compute_features
from quantjax.features.scaler import Scaler, apply_scaler
from quantjax.features.streaming import StreamingFeatures
from quantjax.inference.causal import CausalStream
from quantjax.models.lstm_attention import LSTMAttentionConfig, LSTMAttentionModel
from quantjax.models.registry import init_hft_params

FCFG = FeaturesConfig(timeframes=(2, 5), regime_window=20, stat_windows=(10,), volume_window=20,
                      lags=(1, 3))


def _market(drop_quotes=False, missing=True):
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import market_from_frame
    from quantjax.data.synth_market import generate

    df, _ = generate(SynthMarketConfig(symbols=3, steps=160, seed=7))
    if drop_quotes:
        df = df.drop(columns=["bid", "ask", "bid_volume", "ask_volume"])
    if missing:  # knock out some bars (missing rows) to exercise the validity rule
        rng = np.random.default_rng(0)
        df = df[~(rng.random(len(df)) < 0.03)]
    return market_from_frame(df)[0]


@pytest.mark.parametrize("drop_quotes", [False, True])
def test_streaming_features_equal_batch_at_every_step(drop_quotes):
    m = _market(drop_quotes)
    fs = compute_features(m, FCFG)
    F = fs.values.shape[-1]
    flat = fs.values[fs.valid]
    sc = Scaler(flat.mean(0).astype(np.float32), (flat.std(0) + 1e-3).astype(np.float32))
    batch = apply_scaler(sc, fs.values, fs.valid, clip=FCFG.clip)
    L = 6
    sf = StreamingFeatures(FCFG, m.fields, sc.mean, sc.std, L)
    assert sf.names == fs.names and len(sf.names) == F
    # every step of one lax.scan of the per-bar update (same function as ``sf.step``)
    st, (rows, oks, runs) = sf.scan(sf.init(m.n_symbols), sf.make_ticks(m))
    rows, oks, runs = (np.asarray(a).swapaxes(0, 1) for a in (rows, oks, runs))
    np.testing.assert_array_equal(oks, fs.valid)
    np.testing.assert_allclose(rows, batch, atol=1e-4)
    run = np.zeros(m.n_symbols, int)
    for t in range(m.n_steps):
        run = np.where(fs.valid[:, t], np.minimum(run + 1, L), 0)
        np.testing.assert_array_equal(runs[:, t], run)
    # the ring buffer holds the last L batch rows in time order
    np.testing.assert_allclose(np.asarray(sf.window(st)), batch[:, -L:], atol=1e-4)


@functools.cache  # one init (a few seconds of compiles) shared by the tests below
def _causal_model():
    cfg = LSTMAttentionConfig(sequence_length=3, hidden_size=8, num_layers=2, attention_heads=2,
                         causal=True)
    return cfg, init_hft_params(cfg, 4, jax.random.key(1))


def test_causal_stream_equals_model_on_prefix_windows():
    cfg, params = _causal_model()
    cs = CausalStream(params, dataclasses.asdict(cfg), {"price_scale": 2.0, "vol_scale": 3.0})
    apply = jax.jit(LSTMAttentionModel(cfg).apply)
    x = np.random.default_rng(0).normal(size=(3, 9, 4)).astype(np.float32)
    st = cs.init(3)
    reset = np.zeros(3, bool)
    for n in range(cfg.sequence_length):
        st, out = cs.step(st, x[:, n], reset | (n == 0))
        ref = apply(params, x[:, : n + 1])
        np.testing.assert_allclose(out["direction_probs"], jax.nn.softmax(ref["direction"]),
                                   atol=1e-6)
        np.testing.assert_allclose(out["price"], 2.0 * ref["price"], atol=1e-5)
        np.testing.assert_allclose(out["volatility"], 3.0 * ref["volatility"], atol=1e-5)
    # a reset restarts the stream: same output as a fresh window again
    st, out = cs.step(st, x[:, 0], np.ones(3, bool))
    ref = apply(params, x[:, :1])
    np.testing.assert_allclose(out["price"], 2.0 * ref["price"], atol=1e-5)


def test_causal_stream_beyond_window_keeps_lstm_state_and_last_l_keys():
    """After L ticks: LSTM over the whole history, attention over the last L positions."""
    from flax import linen as nn

    from quantjax.models.layers import LSTMLayer, SelfAttention

    cfg, params = _causal_model()
    p = params["params"]
    cs = CausalStream(params, dataclasses.asdict(cfg))
    T, L = 6, cfg.sequence_length
    x = np.random.default_rng(1).normal(size=(2, T, 4)).astype(np.float32)
    st = cs.init(2)
    for n in range(T):
        st, out = cs.step(st, x[:, n], np.zeros(2, bool) | (n == 0))
    h = (x @ p["embedding"]["kernel"] + p["embedding"]["bias"]).transpose(1, 0, 2)
    for i in range(cfg.num_layers):
        h = LSTMLayer(cfg.hidden_size, bidirectional=False).apply({"params": p[f"lstm_{i}"]}, h)
    att, _ = SelfAttention(cfg.output_size, cfg.attention_heads, causal=True).apply(
        {"params": p["attention"]}, h[-L:], last_only=True, attn_rate=0.0, rng=None)
    final = nn.LayerNorm().apply({"params": p["layer_norm"]}, att)
    d = p["price_head"]
    price = (np.maximum(final @ d["Dense_0"]["kernel"] + d["Dense_0"]["bias"], 0)
             @ d["Dense_1"]["kernel"] + d["Dense_1"]["bias"])[:, 0]
    np.testing.assert_allclose(out["price"], price, atol=1e-5)


def test_causal_stream_refuses_bidirectional_model():
    from quantjax.errors import UserError

    # the refusal reads the model config (causal=false: bidirectional LSTM, full attention)
    # before any parameter, so the cached causal model's parameters spare a second init
    cfg, params = _causal_model()
    with pytest.raises(UserError, match="causal"):
        CausalStream(params, dataclasses.asdict(dataclasses.replace(cfg, causal=False)))
