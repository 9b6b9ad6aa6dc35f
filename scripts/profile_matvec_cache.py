#!/usr/bin/env python
"""Cost of one float32 mat-vec as the weights it cycles through outgrow the core's cache.

Why the 1-symbol causal update is memory-bound (docs/inference.md): one tick multiplies a
``[1, K]`` row by every weight matrix once, about 1.9 MB of float32 weights for the seed
config. This script compiles a chain of ``--chain`` mat-vecs ``x = tanh(x @ W_i)[:, :256]``
cycling over ``n`` distinct ``[256, 512]`` matrices (0.5 MB each) and prints ONE JSON object:
``us_per_matvec`` keyed by the total weight size in MB (median of ``--calls`` inline calls,
divided by ``--chain``). When the total fits the core's L2 each mat-vec reads its weights from
L2; past it, from L3 or memory, and the cost per mat-vec jumps.

    python scripts/profile_matvec_cache.py [--sizes 1 2 3 4 6] [--chain 12] [--calls 2000]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 3, 4, 6],
                    help="numbers of distinct 0.5 MB weight matrices")
    ap.add_argument("--chain", type=int, default=12, help="mat-vecs per compiled call")
    ap.add_argument("--calls", type=int, default=2000)
    args = ap.parse_args()
    for name in ("chain", "calls"):
        if getattr(args, name) < 1:
            ap.error(f"--{name}: must be >= 1, got {getattr(args, name)}")
    if any(n < 1 for n in args.sizes):
        ap.error(f"--sizes: every size must be >= 1, got {args.sizes}")
    from quantjax.platform import set_cpu_async_dispatch

    set_cpu_async_dispatch(False)  # inline calls, as the streaming bench
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(1, 256)), jnp.float32)
    out = {}
    for n in args.sizes:
        ws = [jnp.asarray(rng.normal(size=(256, 512)) / 16, jnp.float32) for _ in range(n)]

        def chain(x, ws, n=n):
            for i in range(args.chain):
                x = jnp.tanh(x @ ws[i % n])[:, :256]
            return x

        exe = jax.jit(chain).lower(x, ws).compile()
        for _ in range(100):
            jax.block_until_ready(exe(x, ws))
        ts = []
        for _ in range(args.calls):
            t0 = time.perf_counter()
            jax.block_until_ready(exe(x, ws))
            ts.append(time.perf_counter() - t0)
        out[f"{n * 0.5:g}"] = round(float(np.median(ts)) * 1e6 / args.chain, 2)
    print(json.dumps({"matrix": [256, 512], "chain": args.chain, "calls": args.calls,
                      "device": str(jax.devices()[0]), "us_per_matvec": out}))


if __name__ == "__main__":
    main()
