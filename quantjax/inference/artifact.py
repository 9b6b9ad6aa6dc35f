"""Loading portable model artifacts (``.qjx``, written by :mod:`quantjax.inference.export`).

Runtime only: this module imports neither model classes nor training code (a test loads an
artifact with ``quantjax.train``, ``quantjax.hft.run``, ``quantjax.credit.pipeline``, optax and
orbax blocked from import). One zip file, no pickle:

- ``manifest.json``: ``format`` ("quantjax-artifact"), ``format_version`` (2), ``task``,
  ``quantjax_version``, ``jax_version`` (of the writer), ``platforms``, ``param_keys``,
  ``inputs`` (per-example shapes and dtypes), ``functions`` (per exported function: its
  member file, ``batch`` (``"b"`` symbolic or a fixed size), ``outputs``, calling convention,
  and for a variant the function it computes too), the resolved training ``config`` and
  ``extra`` (task constants; credit: encoder, calibration, decision settings, explained
  features, extensions);
- ``functions/<name>.jaxexport``: each function serialized by the public
  :meth:`jax.export.Exported.serialize`, read back with :func:`jax.export.deserialize`;
- ``params.npz``: the flat params (``np.load(..., allow_pickle=False)``).

Refused with a one-line :class:`quantjax.errors.UserError`: a file that is not an artifact, an
unknown ``format_version``, an artifact written by a newer JAX than the running one
(serialized modules are readable by the same or a newer JAX only), a calling convention the
running JAX cannot run, a platform the artifact was not exported for.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from jax import export as jexport

from quantjax import __version__
from quantjax.errors import UserError
from quantjax.inference.predictor import DEFAULT_BUCKETS, Candidate, CompiledPredictor
from quantjax.inference.signature import InputSpec

FORMAT = "quantjax-artifact"
FORMAT_VERSION = 2
BATCH = "b"
PREDICT = "predict"


def function_member(name: str) -> str:
    """Zip member of exported function ``name``."""
    return f"functions/{name}.jaxexport"


def version_tuple(version: str) -> tuple[int, ...]:
    """``"0.10.2"`` -> ``(0, 10, 2)`` (leading digits of each part; dev tags ignored)."""
    parts = []
    for p in str(version).split(".")[:3]:
        m = re.match(r"\d+", p)
        parts.append(int(m.group()) if m else 0)
    return tuple(parts)


class Artifact(NamedTuple):
    """A loaded artifact. ``fn(params, inputs)`` is the exported ``predict`` function;
    ``functions`` maps every exported function name to its ``jax.export.Exported``."""

    path: Path
    task: str
    fn: Any
    params: dict[str, np.ndarray]
    inputs: tuple[InputSpec, ...]
    outputs: tuple[str, ...]
    config: dict
    extra: dict
    manifest: dict
    functions: dict

    @property
    def platforms(self) -> tuple[str, ...]:
        return tuple(self.manifest["platforms"])

    def call(self, name: str):
        """``fn(params, inputs) -> dict`` of exported function ``name``."""
        exported = self.functions[name]
        return lambda params, inputs: exported.call(params, inputs)

    def candidates(self, name: str = PREDICT) -> list[Candidate]:
        """Function ``name`` and its variants, for :class:`CompiledPredictor`."""
        out = [Candidate("rolled", self.call(name))]
        for key, spec in self.manifest["functions"].items():
            if spec.get("variant_of") == name:
                out.append(Candidate(spec["variant"], self.call(key), (int(spec["batch"]),)))
        return out

    def predictor(self, buckets=DEFAULT_BUCKETS, warmup: int = 3, function: str = PREDICT,
                  **options) -> CompiledPredictor:
        """Compiled predictor of function ``function`` (``options``: ``tune``,
        ``tune_calls``, ``batch_invariant`` of :class:`CompiledPredictor`)."""
        if function not in self.functions:
            raise UserError(f"{self.path}: the artifact has no function {function!r} "
                            f"(it has {', '.join(self.functions)})")
        return CompiledPredictor(self.candidates(function), self.params, self.inputs, buckets,
                                 warmup, **options)

    def describe(self) -> dict:
        """Name, versions and input schema (the service's ``/v1/models``)."""
        m = self.manifest
        return {"task": self.task, "format_version": m["format_version"],
                "quantjax_version": m.get("quantjax_version"),
                "jax_version": m.get("jax_version"), "platforms": list(self.platforms),
                "inputs": m["inputs"], "functions": {k: {"batch": v["batch"],
                                                         "outputs": v["outputs"]}
                                                     for k, v in m["functions"].items()}}


def _check_manifest(m: dict, path: Path) -> None:
    if not isinstance(m, dict) or m.get("format") != FORMAT:
        got = m.get("format") if isinstance(m, dict) else None
        raise UserError(f"{path}: not a quantjax artifact (format {got!r})")
    v = m.get("format_version")
    if v != FORMAT_VERSION:
        raise UserError(f"{path}: artifact format_version {v} is not supported by quantjax "
                        f"{__version__} (supported: {FORMAT_VERSION}); re-export the checkpoint "
                        "with this version")
    written = str(m.get("jax_version", "?"))
    if version_tuple(written)[:2] > version_tuple(jax.__version__)[:2]:
        raise UserError(f"{path}: written by jax {written}, newer than this jax "
                        f"{jax.__version__}; its modules are readable by the same or a newer "
                        "jax: upgrade jax or re-export with this one")
    lo = jexport.minimum_supported_calling_convention_version
    hi = jexport.maximum_supported_calling_convention_version
    for name, spec in m["functions"].items():
        cc = spec["calling_convention_version"]
        if not lo <= cc <= hi:
            raise UserError(f"{path}: function {name!r} was exported with calling convention "
                            f"{cc} (jax {written}); this jax {jax.__version__} supports {lo}..{hi}")
    backend = jax.default_backend()
    want = "cuda" if backend == "gpu" else backend
    if want not in m["platforms"]:
        raise UserError(f"{path}: exported for platforms {list(m['platforms'])}, this process "
                        f"runs on {backend}; re-export with --platforms including {want}")


def load_artifact(path: str | Path) -> Artifact:
    """Read and validate an artifact written by :func:`quantjax.inference.export.export_model`."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"artifact not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            m = json.loads(z.read("manifest.json"))
            _check_manifest(m, path)
            blobs = {name: z.read(spec["file"]) for name, spec in m["functions"].items()}
            with np.load(io.BytesIO(z.read("params.npz")), allow_pickle=False) as npz:
                params = {k: np.asarray(npz[k]) for k in m["param_keys"]}
    except (zipfile.BadZipFile, KeyError, TypeError, json.JSONDecodeError, ValueError) as e:
        raise UserError(f"{path}: unreadable artifact ({type(e).__name__}: {e})") from None
    functions = {}
    for name, blob in blobs.items():
        try:
            functions[name] = jexport.deserialize(bytearray(blob))
        except Exception as e:  # noqa: BLE001 - any failure of jax's reader is the file's
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            raise UserError(f"{path}: cannot deserialize function {name!r} (written by jax "
                            f"{m.get('jax_version')}, this jax {jax.__version__}): "
                            f"{msg}") from None
    if PREDICT not in functions:
        raise UserError(f"{path}: unreadable artifact (no {PREDICT!r} function)")
    inputs = tuple(InputSpec(d["name"], tuple(d["shape"]), d["dtype"]) for d in m["inputs"])
    predict = functions[PREDICT]

    def fn(params_flat, inputs_):
        return predict.call(params_flat, inputs_)

    return Artifact(path, m["task"], fn, params, inputs,
                    tuple(m["functions"][PREDICT]["outputs"]), m.get("config", {}),
                    m.get("extra", {}), m, functions)
