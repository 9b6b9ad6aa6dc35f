"""Writing portable model artifacts (``.qjx``); the format and the loader are
:mod:`quantjax.inference.artifact`.

Every function of a :class:`~quantjax.inference.model_fn.ModelFn` is exported with
:func:`jax.export.export` (the main ``predict`` function and further functions with a symbolic
batch dimension ``b``, a variant for the batch size it serves) and serialized with the public
:meth:`jax.export.Exported.serialize`. By default for both ``cpu`` and ``cuda``
(:data:`DEFAULT_PLATFORMS`; JAX lowers for CUDA without a GPU), so one file serves on either.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import jax
import numpy as np
from jax import export as jexport

from quantjax import __version__
from quantjax.errors import UserError
from quantjax.inference.artifact import (
    BATCH,
    FORMAT,
    FORMAT_VERSION,
    PREDICT,
    function_member,
)
from quantjax.inference.model_fn import ModelFn, from_checkpoint
from quantjax.inference.signature import abstract_inputs

#: export platforms when none are given: one artifact for CPU and NVIDIA GPU processes
DEFAULT_PLATFORMS = ("cpu", "cuda")


def _export(fn, params_spec, specs, batch, platforms):
    try:
        return jexport.export(jax.jit(fn), platforms=platforms)(
            params_spec, abstract_inputs(specs, batch))
    except (ValueError, NotImplementedError) as e:
        msg = str(e).splitlines()[0]
        raise UserError(f"export for platforms {list(platforms)} failed ({msg}); pass "
                        "--platforms with the platforms this jax can lower for, e.g. cpu") from None


def export_model(mf: ModelFn, out: str | Path,
                 platforms: tuple[str, ...] | None = None) -> Path:
    """Export ``mf`` (its function, variants and further functions) to the artifact ``out``."""
    out = Path(out)
    platforms = tuple(platforms or DEFAULT_PLATFORMS)
    (b,) = jexport.symbolic_shape(BATCH)
    params_spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in mf.params.items()}
    jobs = [(PREDICT, mf.fn, b, {})]
    jobs += [(f"{PREDICT}@{v.name}", v.fn, batch, {"variant_of": PREDICT, "variant": v.name})
             for v in mf.variants for batch in v.batches]
    jobs += [(name, fn, b, {}) for name, fn in mf.functions]
    functions, blobs = {}, {}
    for name, fn, batch, meta in jobs:
        exp = _export(fn, params_spec, mf.inputs, batch, platforms)
        functions[name] = {
            "file": function_member(name), "batch": BATCH if batch is b else int(batch),
            "outputs": sorted(jax.tree.unflatten(exp.out_tree, exp.out_avals)),
            "calling_convention_version": exp.calling_convention_version, **meta}
        blobs[name] = bytes(exp.serialize())
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": mf.task,
        "quantjax_version": __version__, "jax_version": jax.__version__,
        "platforms": list(platforms), "param_keys": list(mf.params),
        "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype}
                   for s in mf.inputs],
        "functions": functions, "config": mf.config, "extra": mf.extra,
    }
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in mf.params.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1, allow_nan=False))
        for name, blob in blobs.items():
            z.writestr(function_member(name), blob)
        z.writestr("params.npz", buf.getvalue())
    tmp.replace(out)
    return out


def export_checkpoint(run_dir: str | Path, out: str | Path,
                      platforms: tuple[str, ...] | None = None) -> Path:
    """``quantjax export``: the best checkpoint of ``run_dir`` -> artifact ``out``."""

    return export_model(from_checkpoint(run_dir), out, platforms)
