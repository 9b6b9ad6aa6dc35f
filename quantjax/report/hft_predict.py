"""Recompute test predictions and attention samples of an HFT run from its best checkpoint.

Used by the HFT report when the run folder has no ``predictions.npz`` /
``attention_samples.npz``. It rebuilds the run's dataset from ``config.yaml`` and
``metrics.json`` ``data.source`` (the synthetic generator, or the market file if it still
exists), so it only works where the run's data can be rebuilt; otherwise it returns a reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

N_ATTENTION_SAMPLES = 4


def from_checkpoint(run_dir: Path, metrics: dict) -> tuple[dict, str]:
    """``({"pred_vol", "realized_vol", "attention"}, "")`` or ``({}, reason)``."""
    if not (run_dir / "checkpoints").is_dir():
        return {}, "and no checkpoints/ folder to recompute them from"
    if not (run_dir / "config.yaml").is_file():
        return {}, "and no config.yaml to rebuild the data from"
    source = (metrics.get("data") or {}).get("source")
    if source is None:
        return {}, "and metrics.json has no data.source to rebuild the data from"
    if source != "synthetic" and not Path(source).is_file():
        return {}, f"and the run's data file {source} is not available to recompute them"
    try:
        return _compute(run_dir, None if source == "synthetic" else source), ""
    except Exception as e:  # noqa: BLE001 - the report degrades to a note, never fails here
        return {}, f"and recomputing them from the checkpoint failed: {e.__class__.__name__}"


def _compute(run_dir: Path, data_path: str | None) -> dict:
    import jax
    import jax.numpy as jnp

    from quantjax.cli.train import load_hft_dataset  # TODO: move into quantjax.train
    from quantjax.config import load
    from quantjax.config.hft import HFTConfig
    from quantjax.models.hft import LSTMAttentionModel
    from quantjax.train.checkpoint import load_for_inference
    from quantjax.train.hft_task import eval_batch, gather_windows, make_predict, prepare_arrays

    cfg = load(HFTConfig, run_dir / "config.yaml")
    ds, _ = load_hft_dataset(cfg, data_path, log=lambda *a, **k: None)
    _, params, _, extra = load_for_inference(run_dir)
    data, _ = prepare_arrays(ds, cfg)
    index = np.asarray(ds.test_index, np.int64).reshape(-1, 2)
    out = jax.jit(make_predict(cfg), static_argnums=3)(
        params, data, data.test_index, eval_batch(cfg, len(index)))
    pred_vol = np.asarray(out["volatility"], np.float64)[: len(index)] * extra["vol_scale"]
    realized = np.asarray(ds.future_vol, np.float64)[index[:, 0], index[:, 1]]
    pick = np.linspace(0, len(index) - 1, min(N_ATTENTION_SAMPLES, len(index))).astype(int)
    x = gather_windows(data.features, jnp.asarray(index[pick], jnp.int32),
                       cfg.model.sequence_length)
    att = LSTMAttentionModel(cfg.model).apply(params, x, return_attention=True)["attention"]
    return {"pred_vol": pred_vol, "realized_vol": realized, "attention": np.asarray(att)}
