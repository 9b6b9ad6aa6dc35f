"""Pure inference functions ``fn(params_flat, inputs) -> outputs`` built from a checkpoint
(in-process model code; exporting and ``from_checkpoint`` predictors use it, serving does not).

The signature (flat params, named inputs) is :mod:`quantjax.inference.signature`.

HFT: ``inputs = {"x": [B, L, F] float32}`` (standardized feature windows) ->
``{"direction_probs": [B, 3], "price": [B] (predicted return), "volatility": [B]}`` in real
units (the checkpoint's ``price_scale`` / ``vol_scale`` applied). A variant ``unrolled``
(recurrences fully unrolled) computes the same outputs for one window; the compiled predictor
times both and keeps the faster (:mod:`quantjax.inference.predictor`).

Credit: ``{numeric, categorical, text, time_series}`` -> ``logit [B]``, ``pd [B]``; a second
function ``attributions`` gives the integrated-gradients attributions of the reason codes
(``attributions [B, F]``, ``logit [B]``, ``baseline_logit [B]``, :mod:`quantjax.credit.explain`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np

from quantjax.credit.explain import feature_space, make_ig_fn
from quantjax.credit.scoring import load_reference
from quantjax.data.credit import CreditEncoder
from quantjax.errors import UserError
from quantjax.inference.predictor import DEFAULT_BUCKETS, Candidate, CompiledPredictor
from quantjax.inference.signature import InputSpec, flatten_params, unflatten_params
from quantjax.models.credit import build_model
from quantjax.models.registry import build, to_real_units
from quantjax.train.checkpoint import load_for_inference

#: optional keys of a credit run's ``calibration.json`` carried into the artifact as they are
#: (``reasons``: the schema's adverse-action statements; the points scaling is in ``decision``)
CREDIT_EXTENSION_KEYS = ("reasons",)


class ModelFn(NamedTuple):
    """Everything needed to compile or export one model.

    ``variants``: :class:`~quantjax.inference.predictor.Candidate` functions computing the
    same outputs as ``fn`` for the batch sizes they name; ``functions``: ``(name, fn)`` pairs
    of further functions of the same params and inputs (credit: ``attributions``)."""

    task: str  # "hft" | "credit"
    fn: Any  # fn(params_flat, inputs: dict) -> dict
    params: dict
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    config: dict  # resolved config mapping of the run
    extra: dict  # task constants (scales, horizon, threshold, feature names...)
    variants: tuple = ()
    functions: tuple = ()


def hft_fn(model_cfg, extra: dict, unroll: bool | None = None):
    """``fn(params_flat, {"x": [B, L, F]})`` of a registered HFT model (eval mode), real units.

    ``unroll=True``: the recurrences fully unrolled (``apply(..., unroll=True)``: same
    outputs, more compile time; faster for one window on some CPUs, slower on others and on
    an H100, so the compiled predictor times it, see :mod:`quantjax.inference.predictor`);
    ``None``: the model's own ``unroll``."""

    model = build(model_cfg)
    ps = float(extra.get("price_scale", 1.0))
    vs = float(extra.get("vol_scale", 1.0))

    def fn(params_flat, inputs):
        out = model.apply(unflatten_params(params_flat), inputs["x"], unroll=unroll)
        return to_real_units(out, ps, vs)

    return fn


def hft_variants(model_cfg, extra: dict) -> tuple[Candidate, ...]:
    """The batch-1 variant of an HFT model: recurrences fully unrolled."""
    return (Candidate("unrolled", hft_fn(model_cfg, extra, unroll=True), (1,)),)


def credit_fn(model, temperature: float, logit_shift: float):
    """``fn(params_flat, {numeric, categorical, text, time_series})`` of the credit transformer:
    ``logit [B]`` and the calibrated ``pd [B] = sigmoid((logit - shift) / T)``."""

    def fn(params_flat, inputs):
        p = unflatten_params(params_flat)
        z = model.apply({"params": p}, inputs["numeric"], inputs["categorical"], inputs["text"],
                        inputs["time_series"])
        return {"logit": z, "pd": jax.nn.sigmoid((z - logit_shift) / temperature)}

    return fn


def credit_attributions_fn(model, steps: int):
    """``fn(params_flat, inputs) -> {"attributions": [B, F], "logit": [B],
    "baseline_logit": [B]}``: integrated gradients (:func:`quantjax.credit.explain.make_ig_fn`,
    ``steps`` interpolation steps), F explained features in
    :func:`quantjax.credit.explain.feature_space` order."""
    ig = make_ig_fn(model, steps)

    def fn(params_flat, inputs):
        att, logit, base = ig(unflatten_params(params_flat), inputs["numeric"],
                              inputs["categorical"], inputs["text"], inputs["time_series"])
        return {"attributions": att, "logit": logit, "baseline_logit": base}

    return fn


def _credit(run_dir, model_cfg, params, extra, config) -> ModelFn:
    run_dir = Path(run_dir)
    cal_path = run_dir / "calibration.json"
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
    decision = dict(cal.get("decision") or {})
    fs = feature_space(enc)
    extensions = {k: cal[k] for k in CREDIT_EXTENSION_KEYS if k in cal}
    ref = load_reference(run_dir)  # reference.json: stability bins of the training population
    if ref is not None:
        extensions["stability_reference"] = ref
    extra = dict(extra, encoder=cal["encoder"], temperature=float(cal["temperature"]),
                 logit_shift=float(cal["logit_shift"]), decision=decision,
                 feature_space={"names": list(fs.names), "columns": list(fs.columns),
                                "modality": [int(m) for m in fs.modality],
                                "kind": list(fs.kind)},
                 extensions=extensions)
    fn = credit_fn(model, float(cal["temperature"]), float(cal["logit_shift"]))
    attributions = credit_attributions_fn(model, int(decision.get("ig_steps", 32)))
    return ModelFn("credit", fn, flatten_params(params), specs, ("logit", "pd"), config, extra,
                   functions=(("attributions", attributions),))


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
                       ("direction_probs", "price", "volatility"), config, extra,
                       variants=hft_variants(model_cfg, extra))
    return _credit(run_dir, model_cfg, params, extra, config)


def predictor(mf: ModelFn, buckets=DEFAULT_BUCKETS, warmup: int = 3,
              **options) -> CompiledPredictor:
    """Compiled predictor of ``mf`` (its function and variants; ``options``: ``tune``,
    ``tune_calls``, ``batch_invariant`` of :class:`CompiledPredictor`)."""
    return CompiledPredictor([Candidate("rolled", mf.fn), *mf.variants], mf.params, mf.inputs,
                             buckets, warmup, **options)


def predictor_from_checkpoint(run_dir, buckets=DEFAULT_BUCKETS, warmup: int = 3,
                              **options) -> CompiledPredictor:
    """Compiled predictor of a training run folder (in-process model code)."""
    return predictor(from_checkpoint(run_dir), buckets, warmup, **options)
