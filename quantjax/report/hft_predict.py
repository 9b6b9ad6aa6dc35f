"""Recompute test predictions and attention samples of an HFT run from its best checkpoint.

Used by the HFT report when the run folder has no ``predictions.npz`` /
``attention_samples.npz``. It rebuilds the run's dataset from ``config.yaml`` and
``metrics.json`` ``data.source`` (the synthetic generator, or the market file if it still
exists), so it only works where the run's data can be rebuilt; otherwise it returns a reason.
"""

from __future__ import annotations

from pathlib import Path

from quantjax.config import load
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import load_hft_dataset
from quantjax.hft.evaluate import attention_samples, split_predictions
from quantjax.hft.task import prepare_arrays
from quantjax.models.registry import spec_of
from quantjax.train.checkpoint import load_for_inference

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
    cfg = load(HFTConfig, run_dir / "config.yaml")
    ds, _ = load_hft_dataset(cfg, data_path, log=lambda *a, **k: None)
    _, params, _, extra = load_for_inference(run_dir)
    data, _ = prepare_arrays(ds, cfg)
    p = split_predictions(cfg, params, ds, data, extra, "test")
    out = {"pred_vol": p["pred_vol"], "realized_vol": p["realized_vol"]}
    if spec_of(cfg.model).attention:
        out["attention"] = attention_samples(cfg, params, data.features, p["index"],
                                             N_ATTENTION_SAMPLES)[0]
    return out
