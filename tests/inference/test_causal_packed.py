"""The packed, AOT-compiled, state-donating CausalStream equals the vmapped reference step
(per-symbol resets at different ticks, beyond the window length)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from quantjax.inference.causal import CausalStream, CausalStreamReference
from quantjax.models.lstm_attention import LSTMAttentionConfig
from quantjax.models.registry import init_hft_params


def test_packed_stream_equals_reference_with_resets():
    cfg = LSTMAttentionConfig(sequence_length=4, hidden_size=8, num_layers=2, attention_heads=2,
                         causal=True)
    params = init_hft_params(cfg, 5, jax.random.key(3))
    extra = {"price_scale": 2.0, "vol_scale": 0.5}
    fast = CausalStream(params, dataclasses.asdict(cfg), extra)
    ref = CausalStreamReference(params, dataclasses.asdict(cfg), extra)
    S, T = 3, 13
    rng = np.random.default_rng(0)
    x = rng.normal(size=(T, S, 5)).astype(np.float32)
    reset = rng.random((T, S)) < 0.15
    reset[0] = True
    sf, sr = fast.init(S), ref.init(S)
    for t in range(T):
        sf, out = fast.step(sf, x[t], reset[t])
        sr, want = ref.step(sr, x[t], reset[t])
        for k in ("direction_probs", "price", "volatility"):
            np.testing.assert_allclose(out[k], np.asarray(want[k]), atol=2e-6, rtol=1e-5)
    # packed outputs: p_down, p_flat, p_up, price, volatility on the device
    sf, packed = fast.step_packed(sf, x[0], np.zeros(S, bool))
    assert packed.shape == (S, 5)
    np.testing.assert_allclose(np.asarray(packed)[:, :3].sum(-1), 1.0, atol=1e-6)


def test_fused_predictor_equals_separate_feature_and_model_steps():
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import market_from_frame
    from quantjax.data.synth_market import generate
    from quantjax.features.batch import feature_names
    from quantjax.features.config import FeaturesConfig
    from quantjax.features.streaming import StreamingFeatures
    from quantjax.inference.stream_predictor import StreamingPredictor

    fcfg = FeaturesConfig(groups=("returns", "volatility", "rsi", "macd"), vol_windows=(5,),
                          vol_ref_window=5, rsi_window=5)
    df, _ = generate(SynthMarketConfig(symbols=2, steps=40, seed=1))
    df = df[~(np.random.default_rng(2).random(len(df)) < 0.05)]
    m = market_from_frame(df)[0]
    F = len(feature_names(fcfg, m.has_quotes))
    mcfg = LSTMAttentionConfig(sequence_length=4, hidden_size=8, num_layers=1, attention_heads=2,
                          causal=True)
    params = init_hft_params(mcfg, F, jax.random.key(0))
    mean, std = np.zeros(F, np.float32), np.full(F, 0.01, np.float32)
    sf = StreamingFeatures(fcfg, m.fields, mean, std, 4)
    cs = CausalStream(params, dataclasses.asdict(mcfg))
    sp = StreamingPredictor(sf, cs)
    ticks = sf.make_ticks(m)
    fst, cst, pst = sf.init(2), cs.init(2), sp.init(2)
    n_ready = 0
    for t in range(m.n_steps):
        tick = type(ticks)(*(a[t] for a in ticks))
        fst, (rows, _) = sf.step(fst, tick)
        cst, want = cs.step_packed(cst, rows, np.asarray(fst.run) <= 1)
        pst, (out, ready) = sp.step(pst, tick)
        ready = np.asarray(ready)
        np.testing.assert_array_equal(ready, np.asarray(fst.run) >= 4)
        np.testing.assert_allclose(np.asarray(out)[ready], np.asarray(want)[ready], atol=1e-6)
        n_ready += int(ready.sum())
    assert n_ready > 20


_SHARDED = r"""
import dataclasses, sys
import jax, numpy as np
from quantjax.models.lstm_attention import LSTMAttentionConfig
from quantjax.inference.causal import CausalStream, symbol_mesh
from quantjax.models.registry import init_hft_params

assert len(jax.devices()) == 2, jax.devices()
cfg = LSTMAttentionConfig(sequence_length=3, hidden_size=8, num_layers=2, attention_heads=2,
                     causal=True)
params = init_hft_params(cfg, 5, jax.random.key(4))
one = CausalStream(params, dataclasses.asdict(cfg))
two = CausalStream(params, dataclasses.asdict(cfg), mesh=symbol_mesh())
assert two.sharded(4) and not two.sharded(3)
rng = np.random.default_rng(1)
for S in (4, 3):
    s1, s2 = one.init(S), two.init(S)
    for t in range(7):
        x = rng.normal(size=(S, 5)).astype(np.float32)
        reset = (rng.random(S) < 0.2) | (t == 0)
        if t == 3:  # None = no symbol resets (a device constant, no host copy)
            s1, o1 = one.step_packed(s1, x, np.zeros(S, bool))
            s2, o2 = two.step_packed(s2, x, None)
        else:
            s1, o1 = one.step_packed(s1, x, reset)
            s2, o2 = two.step_packed(s2, x, reset)
        np.testing.assert_allclose(np.asarray(o2), np.asarray(o1), rtol=1e-5, atol=1e-6)
    if S == 4:
        assert len(s2.k.sharding.device_set) == 2
print("OK")
"""


def test_sharded_stream_equals_single_device(tmp_path):
    """Symbol axis sharded over a 2-device CPU mesh: same outputs as one device; a symbol count
    not divisible by the mesh runs on one device."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    r = subprocess.run([sys.executable, "-c", _SHARDED], env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0 and "OK" in r.stdout, r.stderr[-3000:]


def test_compiled_update_never_copies_the_key_value_cache():
    """Regression guard: the cache layout lets XLA update it in place (a reshaped cache made it
    copy the whole cache several times per tick)."""
    import re

    cfg = LSTMAttentionConfig(sequence_length=6, hidden_size=8, num_layers=1, attention_heads=2,
                         causal=True)
    cs = CausalStream(init_hft_params(cfg, 5, jax.random.key(0)), dataclasses.asdict(cfg))
    hlo = cs.compile(3, warmup=0).as_text()
    cache = re.escape(f"f32[{cs.init(3).k.shape[0]},6,{cs.embed // cs.heads}]")
    assert not re.search(cache + r"\S* copy\(", hlo), "the key/value cache is copied per tick"
    # the ring slot is not donated, so XLA does not copy it before the ring writes read it
    assert not re.search(r"s32\[\]\S* copy\(", hlo), "the ring slot is copied per tick"
