"""Length-bucketed eval-mode scoring: same logits, fewer padded text tokens.

PAD words are masked out as attention keys and out of the text mean, so removing trailing PAD
columns does not change a row's logit (only float rounding, ~1e-6). Scoring therefore sorts the
rows by text length, cuts them into chunks of ``chunk`` rows and trims each chunk's text to its
longest text rounded up to a multiple of ``multiple`` (at least ``multiple`` words, so the text
modality never disappears). Compiled shapes: at most ``ceil(Lt / multiple)`` text lengths times
two row counts (``chunk`` and the last, smaller chunk).

On CPU, calls of at least ``tuned_min_rows`` rows (64) are compiled with
:func:`quantjax.platform.batch_compiler_options` (XLA:CPU's YNNPACK fusions off):
for this encoder they made the big chunks slower. Measured on the 2-core dev machine
(docs/benchmarks.md, stop 13): spec-default model, 512 applications, 128-row chunks, 530 ->
610 applications/s; one padded 512-row call 291-304 -> 411-413; logits equal to 5e-7. A single
application got slower with them off (3.9 -> 4.5 ms), so small calls keep the defaults.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.platform import batch_compiler_options


class Chunk(NamedTuple):
    """One compiled call: ``rows`` [n] (input row indices) and the trimmed text length."""

    rows: np.ndarray
    text_len: int


def text_lengths(text: np.ndarray) -> np.ndarray:
    """[N] int: 1 + position of the last non-PAD word (0 for an empty text). text [N, Lt]."""
    text = np.asarray(text)
    if text.shape[1] == 0:
        return np.zeros(text.shape[0], np.int64)
    nz = text != 0
    last = text.shape[1] - np.argmax(nz[:, ::-1], axis=1)
    return np.where(nz.any(axis=1), last, 0)


def plan_chunks(text: np.ndarray, chunk: int, multiple: int = 4) -> list[Chunk]:
    """Rows sorted by text length (stable), in chunks of ``chunk``, each with its trimmed length.

    text [N, Lt] int; returns chunks covering every row exactly once."""
    n, lt = np.asarray(text).shape
    if n == 0:
        return []
    lens = text_lengths(text)
    order = np.argsort(lens, kind="stable")
    out = []
    for start in range(0, n, chunk):
        rows = order[start : start + chunk]
        need = int(lens[rows].max()) if lt else 0
        trimmed = min(lt, max(multiple, -(-need // multiple) * multiple)) if lt else 0
        out.append(Chunk(rows, trimmed))
    return out


def bucketed_logits_fn(model: Any, chunk: int = 128, multiple: int = 4,
                       tuned_min_rows: int = 64):
    """``f(params, numeric, categorical, text, time_series) -> logits [N]`` (numpy float64),
    eval mode, length-bucketed. Inputs are numpy arrays of :class:`CreditBatch` shapes.
    Calls of at least ``tuned_min_rows`` rows use
    :func:`quantjax.platform.batch_compiler_options` (module doc)."""

    fn = lambda p, *x: model.apply({"params": p}, *x)  # noqa: E731
    jits: dict = {}

    def jitted(rows: int):
        opts = batch_compiler_options(rows, tuned_min_rows)
        key = opts is not None
        if key not in jits:
            jits[key] = jax.jit(fn, compiler_options=opts)
        return jits[key]

    def f(params, numeric, categorical, text, time_series) -> np.ndarray:
        n = numeric.shape[0]
        z = np.empty(n, np.float64)
        pending = []
        for c in plan_chunks(text, chunk, multiple):
            k = len(c.rows)
            rows = c.rows if k == chunk or n < chunk else np.concatenate(
                [c.rows, np.full(chunk - k, c.rows[0])])  # pad the last chunk: one row count
            x = (numeric[rows], categorical[rows], text[rows, : c.text_len], time_series[rows])
            pending.append((c.rows, k, jitted(len(rows))(params, *(jnp.asarray(a) for a in x))))
        for rows, k, out in pending:  # dispatch everything first, then wait
            z[rows] = np.asarray(out, np.float64)[:k]
        return z

    return f


def bucketed_logits(model: Any, params: Any, batch, chunk: int = 128,
                    multiple: int = 4, tuned_min_rows: int = 64) -> np.ndarray:
    """Eval-mode logits [N] (float64) of a CreditBatch, length-bucketed (see module doc)."""
    f = bucketed_logits_fn(model, chunk, multiple, tuned_min_rows)
    return f(params, np.asarray(batch.numeric, np.float32),
             np.asarray(batch.categorical, np.int32), np.asarray(batch.text, np.int32),
             np.asarray(batch.time_series, np.float32))
