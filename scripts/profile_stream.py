#!/usr/bin/env python
"""Per-thunk profile of the causal streaming update (where ``stream_p50_us_*`` goes).

Builds the seed-config causal :class:`~quantjax.inference.causal.CausalStream`, compiles the
update for ``--symbols`` symbols, runs it ``--calls`` times under ``jax.profiler.trace`` with
XLA:CPU's per-thunk trace annotations on, and prints ONE JSON object: per-call medians of the
executable's thunks (``thunks_us``: the top ``--top`` by time, ``thunk_sum_us``, ``n_thunks``)
and of the runtime spans around them (``thunk_executor_us``, ``pjrt_execute_us``,
``python_call_us``). Tracing adds overhead of its own: compare the thunks with each other, and
the wall time with ``scripts/bench_inference.py``.

    python scripts/profile_stream.py [--symbols 1] [--calls 300] [--top 15] [--async-dispatch]
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import glob
import gzip
import json
import os
import tempfile

import numpy as np

_RUNTIME = ("ThunkExecutor::Execute", "CommonPjRtLoadedExecutable::ExecuteHelperOnSingleDevice")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--symbols", type=int, default=1)
    ap.add_argument("--calls", type=int, default=300)
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--async-dispatch", action="store_true",
                    help="keep JAX's default CPU async dispatch (default: inline, as replay)")
    args = ap.parse_args()
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "")
                               + " --xla_cpu_enable_xprof_traceme=true").strip()
    from quantjax.platform import set_cpu_async_dispatch

    async_dispatch = set_cpu_async_dispatch(args.async_dispatch)
    import jax
    import jax.numpy as jnp

    from quantjax.config import load
    from quantjax.features.batch import feature_names
    from quantjax.features.config import FeaturesConfig
    from quantjax.hft.config import HFTConfig
    from quantjax.inference.causal import CausalStream
    from quantjax.models.registry import init_hft_params

    cfg = load(HFTConfig, "configs/hft_lstm.yaml")
    mcfg = dataclasses.replace(cfg.model, causal=True)
    F = len(feature_names(FeaturesConfig(), True))
    cs = CausalStream(init_hft_params(mcfg, F, jax.random.key(1)), dataclasses.asdict(mcfg))
    S = args.symbols
    exe = cs.compile(S)
    state = [cs.init(S)]
    x = jnp.asarray(np.random.default_rng(0).normal(size=(S, F)), jnp.float32)
    reset = jnp.zeros(S, bool)

    def call():
        state[0], out = exe(cs.packed, *state[0], x, reset)
        return out

    for _ in range(50):
        jax.block_until_ready(call())
    with tempfile.TemporaryDirectory() as d:
        with jax.profiler.trace(d, create_perfetto_trace=True):
            for _ in range(args.calls):
                jax.block_until_ready(call())
        path = glob.glob(os.path.join(d, "**", "*.trace.json.gz"), recursive=True)[0]
        events = json.load(gzip.open(path))["traceEvents"]
    spans = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X":
            spans[e["name"]].append(float(e["dur"]))
    n = args.calls

    def per_call(name):  # median duration x occurrences per call
        v = spans.get(name, [])
        return float(np.median(v)) * len(v) / n if v else 0.0

    thunks = {k: per_call(k) for k in spans
              if not k.startswith(("$", "Pjit", "Common", "Thunk", "Parse", "Handle", "Allocate",
                                   "Python", "Wait", "end:", "Slinky"))}
    top = dict(sorted(thunks.items(), key=lambda kv: -kv[1])[:args.top])
    py = [v for k, v in spans.items() if k.startswith("PjitFunction")]
    print(json.dumps({
        "symbols": S, "calls": n, "cpu_async_dispatch": async_dispatch,
        "n_thunks": len(thunks), "thunk_sum_us": sum(thunks.values()),
        "thunk_executor_us": per_call(_RUNTIME[0]), "pjrt_execute_us": per_call(_RUNTIME[1]),
        "python_call_us": float(np.median(py[0])) if py else None,
        "thunks_us": {k: round(v, 2) for k, v in top.items()},
    }))


if __name__ == "__main__":
    main()
