"""Ahead-of-time compiled predictor with fixed batch buckets, variants chosen by timing.

``CompiledPredictor(fn_or_candidates, params, inputs, buckets)`` compiles
``jax.jit(fn).lower(params, inputs_of_bucket).compile(compiler_options=...)`` for every bucket
at construction (params are ARGUMENTS of the executable, not baked-in constants, so new
weights need no recompile), warms it up and serves ``predict(inputs)`` by padding the request
to the next bucket (requests above the largest bucket are split into chunks of it). No call
of :meth:`CompiledPredictor.predict` ever compiles.

**Variants chosen on the running machine** (``tune=True``, the default): a bucket may be
computed by several *candidates* (the same function traced differently, e.g. the HFT model
with its recurrences rolled or fully unrolled for one window) under several XLA option sets
(:func:`quantjax.platform.compiler_option_choices`: on CPU XLA's defaults and YNNPACK fusions
off). Every candidate of a bucket is compiled, warmed up and timed (``tune_calls``
interleaved rounds, median); the fastest is kept and the others are dropped. Which one wins
depends on the CPU: the 2-core dev machine was faster unrolled at batch 1, an AMD EPYC of
the same size 1.8x slower. :attr:`CompiledPredictor.choices` records every bucket's choice
and timings (the service's ``/v1/models``, the replay's ``metrics.json``). ``tune=False``
compiles the first candidate with :func:`quantjax.platform.batch_compiler_options` only.

**Batch invariance** (``batch_invariant=True``, the service's setting): XLA may compute a row
with a different summation order in a different batch size or option set (last-bit
differences), so a request's answer could depend on which requests it was batched with. In
this mode the largest bucket is the reference (first candidate, the static options), every
other candidate is run on the same probe rows and kept only when its outputs equal the
reference's **bitwise**; a bucket without such a candidate is dropped (its requests use the
next larger bucket; :attr:`CompiledPredictor.dropped` says why). Every answer is then the same
bits whatever the batch it was computed in.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import jax
import numpy as np

from quantjax.errors import UserError
from quantjax.inference.signature import (
    InputSpec,
    abstract_inputs,
    example_inputs,
    probe_inputs,
)
from quantjax.platform import batch_compiler_options, compiler_option_choices, option_set_name

DEFAULT_BUCKETS = (1, 8, 64, 512)


class Candidate(NamedTuple):
    """One way to compute the function: ``fn(params, inputs) -> dict`` for the bucket sizes
    ``batches`` (None: every bucket)."""

    name: str
    fn: Any
    batches: tuple[int, ...] | None = None


class BucketChoice(NamedTuple):
    """What serves one bucket: the candidate and option set kept, its median call time, the
    median of every timed candidate (``"<candidate>/<options>"``) and the candidates
    excluded (and why)."""

    bucket: int
    variant: str
    options: str
    p50_us: float
    timings_us: dict
    excluded: dict

    def to_json(self) -> dict:
        return {"bucket": self.bucket, "variant": self.variant, "options": self.options,
                "p50_us": self.p50_us, "timings_us": self.timings_us, "excluded": self.excluded}


def buckets_up_to(top: int, buckets: tuple[int, ...] = DEFAULT_BUCKETS) -> tuple[int, ...]:
    """``buckets`` below ``top``, then ``top``: the buckets of a predictor whose largest
    compiled batch is ``top`` rows (``score credit --artifact --batch-size``)."""
    return tuple(sorted(b for b in set(buckets) if b < top)) + (int(top),)


def buckets_for_rows(buckets: tuple[int, ...], n: int) -> tuple[int, ...]:
    """The buckets that :meth:`CompiledPredictor.predict` of ``n`` rows uses with
    ``buckets``: the largest (full chunks) and the smallest that holds the last chunk. A
    predictor built with just these computes the same programs for those rows and compiles
    nothing else (batch work such as scoring a file)."""
    buckets = tuple(sorted(set(int(b) for b in buckets)))
    top = buckets[-1]
    last = n % top if n > top else n
    used = {top} if n >= top else set()
    if last:
        used.add(next(b for b in buckets if b >= last))
    return tuple(sorted(used))


def _host(out) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) for k, v in jax.device_get(out).items()}


def _same_rows(out: dict, ref: dict, n: int) -> bool:
    return all(np.array_equal(out[k], ref[k][:n]) for k in ref)


class CompiledPredictor:
    """See module docstring. ``fn_or_candidates``: one function ``fn(params, inputs)`` or a
    sequence of :class:`Candidate` (the first one must serve every bucket);
    ``inputs``: the :class:`InputSpec` of every named input."""

    def __init__(self, fn_or_candidates, params: Any, inputs: tuple[InputSpec, ...],
                 buckets: tuple[int, ...] = DEFAULT_BUCKETS, warmup: int = 3, *,
                 tune: bool = True, tune_calls: int = 7, batch_invariant: bool = False):
        cands = ([Candidate("rolled", fn_or_candidates)] if callable(fn_or_candidates)
                 else list(fn_or_candidates))
        if not cands or cands[0].batches is not None:
            raise ValueError("CompiledPredictor: the first candidate must serve every bucket")
        self.inputs = tuple(inputs)
        requested = tuple(sorted(set(int(b) for b in buckets)))
        self.params = jax.device_put(params)
        self.batch_invariant = bool(batch_invariant)
        self.tuned = bool(tune)
        abstract = jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype), self.params)
        jitted = {c.name: jax.jit(c.fn) for c in cands}

        def compile_one(cand, b, opts):
            return (jitted[cand.name].lower(abstract, abstract_inputs(self.inputs, b))
                    .compile(compiler_options=opts))

        t0 = time.perf_counter()
        top = requested[-1]
        ref = None
        if self.batch_invariant:
            ref_opts = batch_compiler_options(top)
            ref_exe = compile_one(cands[0], top, ref_opts)
            probe = probe_inputs(self.inputs, top)
            ref = (ref_exe, option_set_name(ref_opts), _host(ref_exe(self.params, probe)))
        self._compiled: dict[int, Any] = {}
        self.choices: dict[int, BucketChoice] = {}
        self.dropped: dict[int, str] = {}
        for b in requested:
            if ref is not None and b == top:
                options = [(cands[0], ref[1], None)]
            elif tune:
                options = [(c, name, opts) for c in cands if c.batches is None or b in c.batches
                           for name, opts in compiler_option_choices().items()]
            else:
                opts = batch_compiler_options(b)
                options = [(cands[0], option_set_name(opts), opts)]
            kept, excluded = [], {}
            for cand, name, opts in options:
                label = f"{cand.name}/{name}"
                if ref is not None and b == top:
                    kept.append((label, cand.name, name, ref[0]))
                    continue
                exe = compile_one(cand, b, opts)
                if ref is not None and not _same_rows(
                        _host(exe(self.params, {k: v[:b] for k, v in probe.items()})), ref[2], b):
                    excluded[label] = f"not bitwise equal to bucket {top}"
                    continue
                kept.append((label, cand.name, name, exe))
            if not kept:
                self.dropped[b] = (f"no candidate bitwise equal to bucket {top} "
                                   f"({', '.join(excluded)}); served by a larger bucket")
                continue
            ex = example_inputs(self.inputs, b)
            for _ in range(max(warmup, 1 if len(kept) > 1 else 0)):
                for *_, exe in kept:
                    jax.block_until_ready(exe(self.params, ex))
            timings = self._time(kept, probe_inputs(self.inputs, b, seed=1), tune_calls)
            best = min(range(len(kept)), key=lambda i: timings[kept[i][0]])
            label, variant, opt_name, exe = kept[best]
            self._compiled[b] = exe
            self.choices[b] = BucketChoice(b, variant, opt_name, timings[label], timings,
                                           excluded)
        self.buckets = tuple(sorted(self._compiled))
        self.compile_seconds = time.perf_counter() - t0

    def _time(self, kept, x, calls: int) -> dict[str, float]:
        """Median call time (us) of every kept executable, in interleaved rounds (so a drift
        of the machine's speed hits all of them alike); 3 rounds when there is one (its
        figure is still recorded)."""
        samples: dict[str, list[float]] = {k[0]: [] for k in kept}
        rounds = max(3, calls) if len(kept) > 1 else 3
        for _ in range(rounds):
            for label, *_, exe in kept:
                t0 = time.perf_counter()
                jax.block_until_ready(exe(self.params, x))
                samples[label].append((time.perf_counter() - t0) * 1e6)
        return {k: float(np.median(v)) for k, v in samples.items()}

    def describe(self) -> dict:
        """JSON-able summary: buckets kept, the choice per bucket, dropped buckets."""
        return {"buckets": list(self.buckets), "tuned": self.tuned,
                "batch_invariant": self.batch_invariant,
                "choices": {str(b): c.to_json() for b, c in self.choices.items()},
                "dropped": {str(b): why for b, why in self.dropped.items()},
                "compile_seconds": self.compile_seconds}

    def bucket_for(self, n: int) -> int:
        """Smallest bucket >= n (the largest bucket when n exceeds it)."""
        for b in self.buckets:
            if b >= n:
                return b
        return self.buckets[-1]

    def _check(self, inputs: dict) -> int:
        n = None
        for s in self.inputs:
            if s.name not in inputs:
                raise UserError(f"predict: missing input {s.name!r}")
            a = inputs[s.name]
            if tuple(a.shape[1:]) != tuple(s.shape):
                raise UserError(f"predict: input {s.name!r} has per-example shape "
                                f"{tuple(a.shape[1:])}, expected {tuple(s.shape)}")
            n = a.shape[0] if n is None else n
            if a.shape[0] != n:
                raise UserError(f"predict: input {s.name!r} has batch {a.shape[0]}, expected {n}")
        return int(n or 0)

    def predict(self, inputs: dict[str, np.ndarray] | np.ndarray) -> dict[str, np.ndarray]:
        """Outputs for a batch of ``n`` examples (numpy, leading axis n)."""
        if not isinstance(inputs, dict):
            inputs = {self.inputs[0].name: inputs}
        n = self._check(inputs)
        if n == 0:
            raise UserError("predict: empty batch")
        top = self.buckets[-1]
        parts = []
        for a in range(0, n, top):
            m = min(top, n - a)
            b = self.bucket_for(m)
            chunk = {}
            for s in self.inputs:
                x = np.asarray(inputs[s.name][a:a + m], dtype=np.dtype(s.dtype))
                if m < b:
                    x = np.concatenate([x, np.zeros((b - m, *s.shape), x.dtype)], axis=0)
                chunk[s.name] = x
            out = self._compiled[b](self.params, chunk)
            parts.append({k: np.asarray(v)[:m] for k, v in out.items()})
        if len(parts) == 1:
            return parts[0]
        return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}

    def set_params(self, params: Any) -> None:
        """Swap weights of the same shapes (no recompilation)."""
        self.params = jax.device_put(params)
