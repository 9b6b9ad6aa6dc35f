"""The selected trial of a training sweep, scored once on the test split after selection.

A sweep ranks trials on validation scores only. :func:`evaluate_selected` then scores the
winner (and nothing else) on the held-out test split of the same data, so ``metrics.json``
``best.test`` is a figure no choice was made on, reported with the number of trials tried
and the validation-to-test gap (the optimism of picking the best of N on validation).

- HFT: :func:`quantjax.hft.evaluate.evaluate` of the best params on the test split (with
  intervals, IC, the linear baseline and the same-rows oracle on synthetic data).
- Credit: the winner is calibrated on the validation split exactly as ``quantjax train
  credit`` does and ``best/calibration.json`` is written (so ``best/`` can be scored with
  ``quantjax score credit`` and exported with ``quantjax export``); the test metrics use the
  calibrated PDs, with row-bootstrap intervals and, on synthetic data, the Bayes AUC on the
  same test rows beside the population figure.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.config import to_dict
from quantjax.credit import metrics as credit_metrics
from quantjax.credit import pipeline as cp
from quantjax.credit.calibration import apply_temperature
from quantjax.hft.dataset import load_hft_dataset
from quantjax.hft.evaluate import evaluate, fit_baseline
from quantjax.hft.run import run_oracle
from quantjax.hft.task import prepare_arrays
from quantjax.models.credit import build_model


def _params(state):
    return jax.tree.map(jnp.asarray, state.params)


def evaluate_hft(cfg, section, state) -> dict:
    """Test metrics of the selected HFT trial (keys of ``test.*`` in docs/training.md)."""
    quiet = lambda *a, **k: None  # noqa: E731
    ds, info = load_hft_dataset(cfg, section.data, log=quiet)
    data, extra = prepare_arrays(ds, cfg)
    linear = fit_baseline(cfg, ds) if cfg.evaluation.linear_baseline else None
    oracle = run_oracle(cfg, section.data, info, log=quiet)
    return evaluate(cfg, _params(state), ds, data, extra, "test", info.get("bayes_accuracy"),
                    oracle=oracle, linear=linear)


def credit_calibration(cfg, section, state, folder: Path) -> tuple[dict, dict]:
    """Calibrate the selected credit trial on the validation split, write
    ``folder/calibration.json`` (the format of ``quantjax train credit``); returns
    ``(test metrics, val metrics)`` of the calibrated PDs."""
    ds = cp.load_dataset(cfg, section.data, section.schema, synthetic=section.data is None)
    idx = cp.split_indices(cfg, cp.target_of(ds))
    enc, (btr, bva, bte) = cp.encode_splits(cfg, ds, idx)
    model = build_model(cfg.model, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    params = _params(state)
    w = cp.class_weights(cfg, btr.target)
    bs = cfg.train.eval_batch_size
    z_va = cp.predict_logits(model, params, bva, bs)
    temp, shift = cp.calibrate(cfg, w, bva.target, z_va)
    artifact = {"format": "quantjax.credit_model/1", "best_step": int(np.asarray(state.step)),
                "temperature": temp, "logit_shift": shift,
                "class_weight_shift": cp.logit_shift(cfg, w), "encoder": enc.to_dict(),
                "decision": to_dict(cfg.decision), "model": to_dict(cfg.model)}
    folder.mkdir(parents=True, exist_ok=True)
    (folder / cp.ARTIFACT).write_text(json.dumps(artifact, indent=1) + "\n")
    p_te = apply_temperature(cp.predict_logits(model, params, bte, bs) - shift, temp)
    p_va = apply_temperature(z_va - shift, temp)
    test = cp.test_metrics(cfg, ds, idx, bte.target, p_te)
    val = {"auc": credit_metrics.auc(bva.target, p_va)}
    return test, val


# the validation metric each test metric is compared with (val_to_test_gap)
GAP_KEYS = {"hft": (("val_accuracy", "directional_accuracy"), ("val_macro_f1", "macro_f1")),
            "credit": (("val_score", "auc"),)}


def evaluate_selected(kind: str, best: dict, section, folder: Path, n_trials: int) -> dict:
    """``{"trial", "n_trials", "val", "test", "val_to_test_gap", "note"}`` of the selected
    trial ``best`` (from :func:`quantjax.sweep.train_sweep.run_train_sweep`)."""
    cfg, state, row = best["config"], best["state"], best["row"]
    if kind == "hft":
        test = evaluate_hft(cfg, section, state)
    else:
        test, _ = credit_calibration(cfg, section, state, folder)
    val = {k: row[k] for k, _ in GAP_KEYS[kind] if k in row}
    gap = {f"{v}-{t}": float(row[v]) - float(test[t]) for v, t in GAP_KEYS[kind]
           if v in row and test.get(t) is not None}
    return {"trial": best["index"], "n_trials": int(n_trials), "val": val, "test": test,
            "val_to_test_gap": gap,
            "note": f"selected on validation among {n_trials} trials; the test split was scored "
                    "once, for this trial only"}
