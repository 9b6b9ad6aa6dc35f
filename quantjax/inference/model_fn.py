"""Pure inference functions ``fn(params_flat, inputs) -> outputs`` built from a checkpoint.

Params travel as a FLAT dict ``{"params/lstm_0/w_ih": array, ...}`` (sorted string keys), so
the same function signature works in-process, in the compiled predictor and in an exported
artifact, and the params can be stored without pickle. ``inputs`` is a dict of named arrays
with a leading batch axis; outputs are a dict of arrays with the same batch axis.

HFT: ``inputs = {"x": [B, L, F] float32}`` (standardized feature windows) ->
``{"direction_probs": [B, 3], "price": [B] (predicted return), "volatility": [B]}`` in real
units (the checkpoint's ``price_scale`` / ``vol_scale`` applied).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import traverse_util

from quantjax.data.credit import CreditEncoder
from quantjax.errors import UserError
from quantjax.hft.predict import to_real_units
from quantjax.models.credit import build_model
from quantjax.models.registry import build
from quantjax.platform import is_cpu
from quantjax.train.checkpoint import load_for_inference

SEP = "/"


def flatten_params(params: Any) -> dict[str, np.ndarray]:
    """Nested param dict -> ``{"a/b/c": float32 array}`` with sorted keys."""
    flat = traverse_util.flatten_dict(jax.device_get(params), sep=SEP)
    return {k: np.asarray(flat[k]) for k in sorted(flat)}


def unflatten_params(flat: dict[str, Any]) -> dict:
    """Inverse of :func:`flatten_params`."""
    return traverse_util.unflatten_dict(dict(flat), sep=SEP)


class InputSpec(NamedTuple):
    """One named input: per-example shape (without batch) and dtype name."""

    name: str
    shape: tuple[int, ...]
    dtype: str


class ModelFn(NamedTuple):
    """Everything needed to compile or export one model."""

    task: str  # "hft" | "credit"
    fn: Any  # fn(params_flat, inputs: dict) -> dict
    params: dict[str, np.ndarray]  # flat params
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    config: dict  # resolved config mapping of the run
    extra: dict  # task constants (scales, horizon, threshold, feature names...)


def hft_fn(model_cfg, extra: dict, unroll_single: bool | None = None):
    """``fn(params_flat, {"x": [B, L, F]})`` of a registered HFT model (eval mode), real units.

    ``unroll_single``: when traced for a concrete batch of 1 (the latency bucket of a compiled
    predictor), fully unroll the recurrences (``apply(..., unroll=True)``: same outputs, about
    10% lower single-window latency on the 2-core CPU, a few seconds more compile time at load).
    ``None`` (default): only when JAX's default backend is a CPU, since on an H100 the unrolled
    batch-1 program was 1.5x slower than the rolled one (2.03 vs 1.38 ms, docs/benchmarks.md).
    Other batches, and a symbolic batch (``jax.export``), keep the model's ``unroll``."""

    model = build(model_cfg)
    ps = float(extra.get("price_scale", 1.0))
    vs = float(extra.get("vol_scale", 1.0))

    def fn(params_flat, inputs):
        b = inputs["x"].shape[0]
        single = is_cpu() if unroll_single is None else unroll_single
        unroll = True if single and isinstance(b, int) and b == 1 else None
        out = model.apply(unflatten_params(params_flat), inputs["x"], unroll=unroll)
        return to_real_units(out, ps, vs)

    return fn


def credit_fn(model, temperature: float, logit_shift: float):
    """``fn(params_flat, {numeric, categorical, text, time_series})`` of the credit transformer:
    ``logit [B]`` and the calibrated ``pd [B] = sigmoid((logit - shift) / T)``."""

    def fn(params_flat, inputs):
        p = unflatten_params(params_flat)
        z = model.apply({"params": p}, inputs["numeric"], inputs["categorical"], inputs["text"],
                        inputs["time_series"])
        return {"logit": z, "pd": jax.nn.sigmoid((z - logit_shift) / temperature)}

    return fn


def _credit(run_dir, model_cfg, params, extra, config) -> ModelFn:
    cal_path = Path(run_dir) / "calibration.json"
    if not cal_path.is_file():
        raise UserError(f"{run_dir}: no calibration.json; export needs a finished "
                        "'quantjax train credit' run folder")
    cal = json.loads(cal_path.read_text())
    enc = CreditEncoder.from_dict(cal["encoder"])
    model = build_model(model_cfg, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    specs = (InputSpec("numeric", (enc.numeric_dim,), "float32"),
             InputSpec("categorical", (len(enc.cardinalities),), "int32"),
             InputSpec("text", (int(enc.text_len),), "int32"),
             InputSpec("time_series", (enc.series_len, 1), "float32"))
    extra = dict(extra, encoder=cal["encoder"], temperature=float(cal["temperature"]),
                 logit_shift=float(cal["logit_shift"]), decision=cal.get("decision"))
    fn = credit_fn(model, float(cal["temperature"]), float(cal["logit_shift"]))
    return ModelFn("credit", fn, flatten_params(params), specs, ("logit", "pd"), config, extra)


def from_checkpoint(run_dir) -> ModelFn:
    """:class:`ModelFn` of a training run folder (HFT or credit)."""
    model_cfg, params, scaler, extra = load_for_inference(run_dir)
    flat = flatten_params(params)
    config = extra.pop("config", {})
    extra = {k: (list(v) if isinstance(v, tuple) else v) for k, v in extra.items()}
    extra["scaler_mean"] = np.asarray(scaler.mean, np.float32).tolist()
    extra["scaler_std"] = np.asarray(scaler.std, np.float32).tolist()
    if extra["task"] == "hft":
        n_feat = int(extra.get("n_features") or len(scaler.mean))
        spec = InputSpec("x", (model_cfg.sequence_length, n_feat), "float32")
        return ModelFn("hft", hft_fn(model_cfg, extra), flat, (spec,),
                       ("direction_probs", "price", "volatility"), config, extra)
    return _credit(run_dir, model_cfg, params, extra, config)


def example_inputs(specs, batch: int, zeros: bool = True) -> dict[str, np.ndarray]:
    """Zero inputs of ``batch`` examples for ``specs``."""
    return {s.name: np.zeros((batch, *s.shape), np.dtype(s.dtype)) for s in specs}


def abstract_inputs(specs, batch) -> dict[str, jax.ShapeDtypeStruct]:
    return {s.name: jax.ShapeDtypeStruct((batch, *s.shape), jnp.dtype(s.dtype)) for s in specs}
