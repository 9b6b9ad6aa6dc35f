"""Predictions of a trained HFT model in real units.

- :func:`predict_fn`: a jitted ``f(params, x[B, L, F])`` in real units
  (:func:`quantjax.models.registry.to_real_units`, the one place the task's target scales
  are undone: ``price`` = predicted return, ``volatility`` = predicted future vol);
- ``predict_market(run_dir, market) -> (probs[S, T, 3], pred_return[S, T], pred_vol[S, T])``
  for model-driven backtests: features of ``market`` with the run's feature config,
  standardized with the run's saved scaler, windows ``[t-L+1, t]`` gathered in jit batches.
  Causal by construction: the prediction at ``t`` reads rows ``<= t`` only. NaN where the
  window ending at ``t`` has an invalid row (warm-up, missing bars). For a walk-forward run
  (:mod:`quantjax.hft.walk_forward`) these are its stored out-of-sample predictions only.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.config import from_dict, load
from quantjax.errors import DataError
from quantjax.features.batch import feature_names
from quantjax.features.extra import selected
from quantjax.features.market_features import compute_features
from quantjax.features.scaler import apply_scaler
from quantjax.features.warmup import restrict_to_names
from quantjax.features.windows import gather_windows, sample_index, sample_valid
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import features_config
from quantjax.hft.walk_forward import is_walk_forward_run, oos_market_predictions
from quantjax.models.registry import build, to_real_units
from quantjax.platform import batch_compiler_options
from quantjax.train.checkpoint import load_for_inference


def predict_fn(model_cfg, extra: dict):
    """Jitted ``f(params, x[B, L, F]) -> dict`` in real units (:func:`to_real_units`) for
    inference users; ``extra`` holds the run's ``price_scale`` and ``vol_scale``."""
    model = build(model_cfg)
    ps, vs = extra["price_scale"], extra["vol_scale"]

    @jax.jit
    def f(params, x):
        return to_real_units(model.apply(params, x), ps, vs)

    return f


def predict_windows(predict, params, features, index: np.ndarray, seq_len: int,
                    batch: int = 1024) -> dict:
    """Run ``predict(params, x[B, L, F])`` over the windows ending at ``index[N, 2]``
    (symbol, t_end) of ``features[S, T, F]`` in fixed-size jit batches; host arrays ``[N, ...]``."""
    n = len(index)
    feats = jnp.asarray(features, jnp.float32)
    batch = max(1, min(batch, n))
    n_pad = -(-n // batch) * batch
    idx = np.zeros((n_pad, 2), np.int32)
    idx[:n] = index
    idx[n:] = index[0] if n else 0
    step = jax.jit(lambda p, f, i: predict(p, gather_windows(f, i, seq_len)),
                   compiler_options=batch_compiler_options(batch))  # CPU: see platform
    outs = [jax.device_get(step(params, feats, jnp.asarray(idx[a:a + batch])))
            for a in range(0, n_pad, batch)]
    return {k: np.concatenate([np.asarray(o[k]) for o in outs])[:n] for k in outs[0]}


def run_extra_columns(run_dir: str | Path):
    """The ``data.features.extra_columns`` setting of an HFT run (``()`` when none), from its
    config.yaml; a backtest market must carry those columns."""
    p = Path(run_dir) / "config.yaml"
    if not p.is_file() or is_walk_forward_run(run_dir):
        return ()
    fcfg = features_config(load(HFTConfig, p))
    return fcfg.extra_columns if selected(fcfg) else ()


def _feature_mismatch(run_dir, want: tuple, names: tuple) -> None:
    missing = sorted(set(want) - set(names))
    extra_names = sorted(set(names) - set(want))
    raise DataError(f"{run_dir}: the market's features differ from the run's: missing "
                    f"{missing[:3] or 'none'}, not in the run {extra_names[:3] or 'none'} "
                    "(the market needs the same fields, e.g. quotes, as the training data)")


def predict_market(run_dir: str | Path, market, batch: int = 1024, extra_columns=None):
    """``(probs[S, T, 3], pred_return[S, T], pred_vol[S, T])`` float32 for every bar of
    ``market`` (a :class:`~quantjax.data.market.MarketArrays`) from the best checkpoint of the
    HFT run ``run_dir``; class order down/flat/up; NaN where no valid window ends at ``t``.
    ``extra_columns``: the market's :class:`~quantjax.data.extra_columns.ExtraColumns` when the
    run uses some (:func:`run_extra_columns`). A walk-forward run gives its out-of-sample
    predictions (NaN elsewhere) and needs its own market."""
    if is_walk_forward_run(run_dir):
        return oos_market_predictions(run_dir, market)
    model_cfg, params, scaler, extra = load_for_inference(run_dir)
    cfg = from_dict(HFTConfig, extra["config"])
    want = tuple(extra.get("feature_names", ()))
    fcfg = restrict_to_names(features_config(cfg), want, market.has_quotes) if want else \
        features_config(cfg)
    builtin = feature_names(fcfg, market.has_quotes)
    if want and builtin != want[:len(builtin)]:  # known before computing anything
        extra = tuple(extra_columns.names) if extra_columns is not None and selected(fcfg) else ()
        _feature_mismatch(run_dir, want, builtin + extra)
    fs = compute_features(market, fcfg, chunk_symbols=16, extra=extra_columns)
    if want and tuple(fs.names) != want:
        _feature_mismatch(run_dir, want, tuple(fs.names))
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
