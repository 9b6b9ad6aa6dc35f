"""Portable model artifacts (``.qjx``): one zip file, no pickle.

Members:

- ``manifest.json``: ``format`` ("quantjax-artifact"), ``format_version``, ``task``,
  ``quantjax_version``, ``jax_version``, the exported function's signature (input/output
  names, shapes with the symbolic batch dimension ``b``, dtypes, platforms, calling
  convention version), the resolved training ``config`` and ``extra`` (target scales,
  feature names, scaler, label horizon/threshold);
- ``module.mlirbc``: the ``jax.export`` StableHLO module of ``fn(params_flat, inputs)``
  with a symbolic batch dimension;
- ``params.npz``: the flat params (``np.load(..., allow_pickle=False)``).

Loading (:func:`load_artifact`) rebuilds a :class:`jax.export.Exported` from these members and
needs neither the model class nor the ``flatbuffers`` package. An artifact whose
``format_version`` or calling convention the installed runtime does not support is refused
with a :class:`quantjax.errors.UserError`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jexport

from quantjax import __version__
from quantjax.errors import UserError
from quantjax.inference.model_fn import InputSpec, ModelFn, from_checkpoint
from quantjax.inference.predictor import CompiledPredictor

FORMAT = "quantjax-artifact"
FORMAT_VERSION = 1
BATCH = "b"


def _shape_str(shape) -> str:
    return ",".join(str(d) for d in shape)


def export_model(mf: ModelFn, out: str | Path, platforms: tuple[str, ...] | None = None) -> Path:
    """Export ``mf`` to the artifact file ``out``; returns its path."""
    out = Path(out)
    (b,) = jexport.symbolic_shape(BATCH)
    params_spec = {k: jax.ShapeDtypeStruct(v.shape, v.dtype) for k, v in mf.params.items()}
    in_spec = {s.name: jax.ShapeDtypeStruct((b, *s.shape), jnp.dtype(s.dtype)) for s in mf.inputs}
    kw = {} if platforms is None else {"platforms": platforms}
    exp = jexport.export(jax.jit(mf.fn), **kw)(params_spec, in_spec)
    out_names = sorted(jax.tree.unflatten(exp.out_tree, exp.out_avals))
    manifest = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "task": mf.task,
        "quantjax_version": __version__, "jax_version": jax.__version__,
        "export": {
            "fun_name": exp.fun_name,
            "param_keys": list(mf.params),
            "inputs": [{"name": s.name, "shape": list(s.shape), "dtype": s.dtype}
                       for s in mf.inputs],
            "in_avals": [[_shape_str(a.shape), str(a.dtype)] for a in exp.in_avals],
            "outputs": out_names,
            "out_avals": [[_shape_str(a.shape), str(a.dtype)] for a in exp.out_avals],
            "platforms": list(exp.platforms),
            "calling_convention_version": exp.calling_convention_version,
            "module_kept_var_idx": list(exp.module_kept_var_idx),
            "uses_global_constants": bool(exp.uses_global_constants),
            "nr_devices": exp.nr_devices,
        },
        "config": mf.config,
        "extra": mf.extra,
    }
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in mf.params.items()})
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=1, allow_nan=False))
        z.writestr("module.mlirbc", bytes(exp.mlir_module_serialized))
        z.writestr("params.npz", buf.getvalue())
    tmp.replace(out)
    return out


def export_checkpoint(run_dir: str | Path, out: str | Path,
                      platforms: tuple[str, ...] | None = None) -> Path:
    """``quantjax export``: the best checkpoint of ``run_dir`` -> artifact ``out``."""

    return export_model(from_checkpoint(run_dir), out, platforms)


class Artifact(NamedTuple):
    """A loaded artifact: call ``fn(params, inputs)`` (or build a CompiledPredictor)."""

    task: str
    fn: Any  # fn(params_flat, inputs) -> dict, backed by the exported module
    params: dict[str, np.ndarray]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    config: dict
    extra: dict
    manifest: dict
    exported: Any  # jax.export.Exported

    def predictor(self, buckets=(1, 8, 64, 512), warmup: int = 3):
        return CompiledPredictor(self.fn, self.params, self.inputs, buckets, warmup)


def _check_manifest(m: dict, path: Path) -> None:
    if m.get("format") != FORMAT:
        raise UserError(f"{path}: not a quantjax artifact (format {m.get('format')!r})")
    v = m.get("format_version")
    if v != FORMAT_VERSION:
        raise UserError(f"{path}: artifact format_version {v} is not supported by quantjax "
                        f"{__version__} (supported: {FORMAT_VERSION}); re-export the checkpoint "
                        "with this version")
    cc = m["export"]["calling_convention_version"]
    lo = jexport.minimum_supported_calling_convention_version
    hi = jexport.maximum_supported_calling_convention_version
    if not lo <= cc <= hi:
        raise UserError(f"{path}: exported with calling convention {cc} (jax "
                        f"{m.get('jax_version')}); this jax {jax.__version__} supports {lo}..{hi}")


def load_artifact(path: str | Path) -> Artifact:
    """Read and validate an artifact written by :func:`export_model`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"artifact not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            m = json.loads(z.read("manifest.json"))
            _check_manifest(m, path)
            module = z.read("module.mlirbc")
            with np.load(io.BytesIO(z.read("params.npz")), allow_pickle=False) as npz:
                params = {k: np.asarray(npz[k]) for k in m["export"]["param_keys"]}
    except (zipfile.BadZipFile, KeyError, json.JSONDecodeError) as e:
        raise UserError(f"{path}: unreadable artifact ({type(e).__name__}: {e})") from None
    ex = m["export"]
    inputs = tuple(InputSpec(d["name"], tuple(d["shape"]), d["dtype"]) for d in ex["inputs"])
    scope = jexport.SymbolicScope()

    def aval(shape: str, dtype: str):
        dims = jexport.symbolic_shape(shape, scope=scope) if shape else ()
        return jax.core.ShapedArray(tuple(dims), jnp.dtype(dtype))

    in_avals = tuple(aval(s, d) for s, d in ex["in_avals"])
    out_avals = tuple(aval(s, d) for s, d in ex["out_avals"])
    in_tree = jax.tree.structure(((dict.fromkeys(params, 0),
                                   {s.name: 0 for s in inputs}), {}))
    out_tree = jax.tree.structure(dict.fromkeys(ex["outputs"], 0))
    n_in, n_out = len(in_avals), len(out_avals)
    values = {
        "fun_name": ex["fun_name"], "in_tree": in_tree, "in_avals": in_avals,
        "out_tree": out_tree, "out_avals": out_avals, "_has_named_shardings": False,
        "_in_named_shardings": (None,) * n_in, "_out_named_shardings": (None,) * n_out,
        "in_shardings_hlo": (None,) * n_in, "out_shardings_hlo": (None,) * n_out,
        "nr_devices": ex["nr_devices"], "platforms": tuple(ex["platforms"]),
        "ordered_effects": (), "unordered_effects": (), "disabled_safety_checks": (),
        "mlir_module_serialized": module,
        "calling_convention_version": ex["calling_convention_version"],
        "module_kept_var_idx": tuple(ex["module_kept_var_idx"]),
        "uses_global_constants": ex["uses_global_constants"], "_get_vjp": None,
    }
    fields = [f.name for f in dataclasses.fields(jexport.Exported)]
    missing = [f for f in fields if f not in values]
    if missing:
        raise UserError(f"{path}: this jax {jax.__version__} has an export format quantjax "
                        f"{__version__} does not know (fields {missing}); use the jax version "
                        f"the artifact was written with ({m.get('jax_version')})")
    exported = jexport.Exported(**{f: values[f] for f in fields})
    platform = jax.default_backend()
    if platform not in exported.platforms and not (platform == "gpu"
                                                   and "cuda" in exported.platforms):
        raise UserError(f"{path}: exported for platforms {list(exported.platforms)}, "
                        f"this process runs on {platform}; re-export on/for this platform")

    def fn(params_flat, inputs_):
        return exported.call(params_flat, inputs_)

    return Artifact(m["task"], fn, params, inputs, tuple(ex["outputs"]), m.get("config", {}),
                    m.get("extra", {}), m, exported)
