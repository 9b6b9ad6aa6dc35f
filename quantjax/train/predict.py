"""Model predictions over a whole market from a trained HFT run (model-driven backtests).

``predict_market(run_dir, market) -> (probs[S, T, 3], pred_return[S, T], pred_vol[S, T])``:
features of ``market`` with the run's feature config, standardized with the run's saved scaler,
windows ``[t-L+1, t]`` gathered in jit batches, :func:`quantjax.train.hft_task.predict_fn`
(real units). Causal by construction: the prediction at ``t`` reads rows ``<= t`` only.
NaN where the window ending at ``t`` has an invalid row (warm-up, missing bars).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from quantjax.errors import DataError

__all__ = ["predict_market", "predict_windows"]


def predict_windows(predict, params, features, index: np.ndarray, seq_len: int,
                    batch: int = 1024) -> dict:
    """Run ``predict(params, x[B, L, F])`` over the windows ending at ``index[N, 2]``
    (symbol, t_end) of ``features[S, T, F]`` in fixed-size jit batches; host arrays ``[N, ...]``."""
    import jax
    import jax.numpy as jnp

    from quantjax.features.windows import gather_windows

    n = len(index)
    feats = jnp.asarray(features, jnp.float32)
    batch = max(1, min(batch, n))
    n_pad = -(-n // batch) * batch
    idx = np.zeros((n_pad, 2), np.int32)
    idx[:n] = index
    idx[n:] = index[0] if n else 0
    from quantjax.inference.runtime import batch_compiler_options

    step = jax.jit(lambda p, f, i: predict(p, gather_windows(f, i, seq_len)),
                   compiler_options=batch_compiler_options(batch))  # CPU: see runtime
    outs = [jax.device_get(step(params, feats, jnp.asarray(idx[a:a + batch])))
            for a in range(0, n_pad, batch)]
    return {k: np.concatenate([np.asarray(o[k]) for o in outs])[:n] for k in outs[0]}


def predict_market(run_dir: str | Path, market, batch: int = 1024):
    """``(probs[S, T, 3], pred_return[S, T], pred_vol[S, T])`` float32 for every bar of
    ``market`` (a :class:`~quantjax.data.market.MarketArrays`) from the best checkpoint of the
    HFT run ``run_dir``; class order down/flat/up; NaN where no valid window ends at ``t``."""
    from quantjax.config import from_dict
    from quantjax.config.hft import HFTConfig
    from quantjax.features.market_features import compute_features
    from quantjax.features.scaler import apply_scaler
    from quantjax.features.windows import sample_index, sample_valid
    from quantjax.train.checkpoint import load_for_inference
    from quantjax.train.hft_data import features_config
    from quantjax.train.hft_task import predict_fn

    model_cfg, params, scaler, extra = load_for_inference(run_dir)
    cfg = from_dict(HFTConfig, extra["config"])
    fcfg = features_config(cfg)
    fs = compute_features(market, fcfg, chunk_symbols=16)
    want = tuple(extra.get("feature_names", ()))
    if want and tuple(fs.names) != want:
        missing = sorted(set(want) - set(fs.names))
        extra_names = sorted(set(fs.names) - set(want))
        raise DataError(f"{run_dir}: the market's features differ from the run's: missing "
                        f"{missing[:3] or 'none'}, not in the run {extra_names[:3] or 'none'} "
                        "(the market needs the same fields, e.g. quotes, as the training data)")
    if len(scaler.mean) != fs.values.shape[-1]:
        raise DataError(f"{run_dir}: saved scaler has {len(scaler.mean)} features, "
                        f"the market gives {fs.values.shape[-1]}")
    feats = apply_scaler(scaler, fs.values, fs.valid, clip=fcfg.clip)
    L = model_cfg.sequence_length
    ok = sample_valid(fs.valid, np.ones_like(fs.valid), L)
    index = sample_index(ok)
    S, T = fs.valid.shape
    probs = np.full((S, T, 3), np.nan, np.float32)
    ret = np.full((S, T), np.nan, np.float32)
    vol = np.full((S, T), np.nan, np.float32)
    if len(index):
        out = predict_windows(predict_fn(model_cfg, extra), params, feats, index, L, batch)
        s, t = index[:, 0], index[:, 1]
        probs[s, t] = out["direction_probs"]
        ret[s, t] = out["price"]
        vol[s, t] = out["volatility"]
    return probs, ret, vol
