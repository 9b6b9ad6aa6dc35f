"""Replay with the O(1) causal streaming model (stream.model=causal) from an exported artifact."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from quantjax.config import from_dict, load, to_dict
from quantjax.errors import UserError
from quantjax.features.batch import feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.inference.artifact import load_artifact
from quantjax.inference.config import InferenceConfig
from quantjax.inference.export import export_model
from quantjax.inference.model_fn import InputSpec, ModelFn, flatten_params, hft_fn
from quantjax.inference.replay import ReplayEngine, replay_market
from quantjax.models.lstm_attention import LSTMAttentionConfig
from quantjax.models.registry import init_hft_params

from support.hft_runs import TINY_FEATURES, slice_market, tiny_market


def _artifact(tmp_path, causal: bool, zero_params: bool = False):
    """A tiny exported model of random parameters (``zero_params``: zeros of the same shapes,
    for tests that never run it: no random-init programs to compile)."""
    mcfg = LSTMAttentionConfig(sequence_length=6, hidden_size=8, num_layers=2, attention_heads=2,
                          causal=causal)
    F = len(feature_names(from_dict(FeaturesConfig, TINY_FEATURES), True))
    if zero_params:
        shapes = jax.eval_shape(lambda key: init_hft_params(mcfg, F, key), jax.random.key(3))
        params = flatten_params(jax.tree.map(lambda a: np.zeros(a.shape, a.dtype), shapes))
    else:
        params = flatten_params(init_hft_params(mcfg, F, jax.random.key(3)))
    extra = {"price_scale": 0.01, "vol_scale": 0.01, "horizon": 5, "threshold": 1e-4,
             "scaler_mean": [0.0] * F, "scaler_std": [1.0] * F}
    config = {"model": to_dict(mcfg), "data": {"features": TINY_FEATURES}}
    mf = ModelFn("hft", hft_fn(mcfg, extra), params, (InputSpec("x", (6, F), "float32"),),
                 ("direction_probs", "price", "volatility"), config, extra)
    return load_artifact(export_model(mf, tmp_path / f"m{int(causal)}.qjx"))


def test_causal_replay_matches_window_model_on_fresh_windows(tmp_path):
    from quantjax.backtest.runner import run
    from quantjax.risk import make_params

    art = _artifact(tmp_path, causal=True)
    market = slice_market(tiny_market(2, 500, seed=4), 0, 70)
    risk = make_params()
    res = {}
    for mode in ("causal", "window"):
        cfg = load(InferenceConfig, "configs/inference.yaml",
                   [f"stream.model={mode}", "strategy.confidence=0.0", "predictor.buckets=[2]",
                    "predictor.warmup=0", "predictor.tune=false"])
        res[mode] = replay_market(ReplayEngine(art, risk, market.symbols, market.fields, cfg),
                                  market)
    c, w = res["causal"].probs, res["window"].probs
    ready = np.isfinite(w).all(-1)
    np.testing.assert_array_equal(np.isfinite(c).all(-1), ready)
    assert ready.sum() > 10
    fresh = ready & ~np.concatenate([np.zeros((ready.shape[0], 1), bool), ready[:, :-1]], 1)
    assert fresh.any()  # first full window after a (re)start: identical to the window model
    np.testing.assert_allclose(c[fresh], w[fresh], atol=1e-5)
    bt = run(risk, market, res["causal"].signals)
    np.testing.assert_array_equal(bt.records["equity"], res["causal"].records["equity"])


def test_causal_replay_refuses_bidirectional_artifact(tmp_path):
    from quantjax.data.market import FIELDS
    from quantjax.risk import make_params

    art = _artifact(tmp_path, causal=False, zero_params=True)  # refused before it runs
    cfg = load(InferenceConfig, "configs/inference.yaml", ["stream.model=causal"])
    with pytest.raises(UserError, match="causal"):
        ReplayEngine(art, make_params(), ("A",), FIELDS, cfg)


def test_model_config_roundtrip_in_artifact(tmp_path):
    art = _artifact(tmp_path, causal=True, zero_params=True)
    assert from_dict(LSTMAttentionConfig, art.config["model"]).causal
    assert dataclasses.asdict(from_dict(LSTMAttentionConfig, art.config["model"]))["hidden_size"] == 8
