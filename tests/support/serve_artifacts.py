"""Artifacts of the serve tests: a tiny causal HFT artifact from random params (no training),
the exported shared credit run, tick streams of a synthetic market."""

from __future__ import annotations

import jax
import numpy as np

from quantjax.config import from_dict, to_dict
from quantjax.features.batch import feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.inference.export import export_model
from quantjax.inference.model_fn import InputSpec, ModelFn, hft_fn, hft_variants
from quantjax.inference.signature import flatten_params
from quantjax.models.lstm_attention import LSTMAttentionConfig
from quantjax.models.registry import init_hft_params

from support.hft_runs import TINY_FEATURES, tiny_market


def causal_artifact(path, seq_len: int = 6, seed: int = 3):
    """Export a tiny causal LSTM-attention model (random params) to ``path``."""
    mcfg = LSTMAttentionConfig(sequence_length=seq_len, hidden_size=8, num_layers=2,
                               attention_heads=2, causal=True)
    F = len(feature_names(from_dict(FeaturesConfig, TINY_FEATURES), True))
    params = flatten_params(init_hft_params(mcfg, F, jax.random.key(seed)))
    extra = {"price_scale": 0.01, "vol_scale": 0.01, "horizon": 5, "threshold": 1e-4,
             "scaler_mean": [0.0] * F, "scaler_std": [1.0] * F,
             "feature_names": list(feature_names(from_dict(FeaturesConfig, TINY_FEATURES), True))}
    config = {"model": to_dict(mcfg), "data": {"features": TINY_FEATURES}}
    mf = ModelFn("hft", hft_fn(mcfg, extra), params, (InputSpec("x", (seq_len, F), "float32"),),
                 ("direction_probs", "price", "volatility"), config, extra,
                 variants=hft_variants(mcfg, extra))
    return export_model(mf, path, platforms=("cpu",))


def market_ticks(symbols: int = 2, steps: int = 40, seed: int = 0):
    """``[(symbol, timestamp_ns, {field: value})]`` in time order, every present bar of a
    synthetic market (all market fields)."""
    m = tiny_market(symbols, max(steps, 60), seed)
    out = []
    for t in range(steps):
        for s in np.flatnonzero(m.mask[:, t]):
            out.append((m.symbols[s], int(m.timestamps[t]),
                        {f: float(m.values[s, t, j]) for j, f in enumerate(m.fields)}))
    return out
