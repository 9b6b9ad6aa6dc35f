"""Benchmark: scoring with the credit transformer (JAX) vs the PyTorch re-implementation of
the spec's model, same sizes (spec defaults), same machine, one run.

Prints ONE JSON object: throughput (applications/s at --batch), single-application latency
p50/p99 (microseconds) for both, ``throughput_speedup_vs_torch`` and
``latency_p50_speedup_vs_torch``. ``--quick`` for a smoke run.

    python scripts/bench_credit.py [--quick] [--batch 512] [--text-len 40]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def _timeit(fn, n: int) -> np.ndarray:
    out = np.empty(n)
    for i in range(n):
        t0 = time.perf_counter()
        fn()
        out[i] = time.perf_counter() - t0
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--text-len", type=int, default=40)
    ap.add_argument("--no-torch", action="store_true")
    a = ap.parse_args(argv)
    batch = a.batch or (64 if a.quick else 512)
    reps = 3 if a.quick else 10
    lat_n = 30 if a.quick else 300

    import jax
    import jax.numpy as jnp

    from quantjax.config.credit import CreditModelConfig
    from quantjax.models.credit import build_model

    dn, cards, vocab, tlen, ts_len = 50, (10, 20, 15), 10_000, a.text_len, 12
    rng = np.random.default_rng(0)

    def make(n):
        text = rng.integers(2, vocab, (n, tlen)).astype(np.int32)
        lens = rng.integers(tlen // 2, tlen + 1, n)
        text[np.arange(tlen)[None] >= lens[:, None]] = 0
        return (rng.normal(size=(n, dn)).astype(np.float32),
                np.stack([rng.integers(0, c, n) for c in cards], 1).astype(np.int32),
                text, rng.normal(size=(n, ts_len, 1)).astype(np.float32))

    xb, x1 = make(batch), make(1)
    cfg = CreditModelConfig()  # spec defaults: d_model 256, 8 heads, 6 layers, FFN 4x
    model = build_model(cfg, dn, cards, vocab)
    params = model.init(jax.random.key(0), *[jnp.asarray(v[:2]) for v in xb])["params"]
    n_params = int(sum(np.prod(p.shape) for p in jax.tree.leaves(params)))

    @jax.jit
    def score(p, *x):
        return jax.nn.sigmoid(model.apply({"params": p}, *x))

    jb = [jnp.asarray(v) for v in xb]
    j1 = [jnp.asarray(v) for v in x1]
    score(params, *jb).block_until_ready()
    score(params, *j1).block_until_ready()
    tb = _timeit(lambda: score(params, *jb).block_until_ready(), reps)
    t1 = _timeit(lambda: score(params, *j1).block_until_ready(), lat_n)
    res = {
        "bench": "credit_scoring", "quick": a.quick, "batch": batch, "text_len": tlen,
        "config": "spec defaults (d_model 256, 8 heads, 6 layers, FFN 4x, 50 numeric, "
                  "categorical [10, 20, 15], vocab 10000, 12-month series)",
        "device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "jax_version": jax.__version__, "jax_params": n_params,
        "jax_throughput_apps_per_s": batch / float(np.median(tb)),
        "jax_latency_p50_us": float(np.percentile(t1, 50) * 1e6),
        "jax_latency_p99_us": float(np.percentile(t1, 99) * 1e6),
    }
    if not a.no_torch:
        import torch
        from torch_reference_credit import MultiModalCreditTransformer, count_params

        torch.manual_seed(0)
        tm = MultiModalCreditTransformer(dn, cards, vocab, ts_len).eval()
        tb_in = [torch.from_numpy(xb[0]), torch.from_numpy(xb[1]).long(),
                 torch.from_numpy(xb[2]).long(), torch.from_numpy(xb[3][..., 0])]
        t1_in = [torch.from_numpy(x1[0]), torch.from_numpy(x1[1]).long(),
                 torch.from_numpy(x1[2]).long(), torch.from_numpy(x1[3][..., 0])]
        with torch.inference_mode():
            tm(*tb_in)
            tm(*t1_in)
            ttb = _timeit(lambda: tm(*tb_in), reps)
            tt1 = _timeit(lambda: tm(*t1_in), lat_n)
        res.update({
            "torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
            "torch_params": count_params(tm),
            "torch_throughput_apps_per_s": batch / float(np.median(ttb)),
            "torch_latency_p50_us": float(np.percentile(tt1, 50) * 1e6),
            "torch_latency_p99_us": float(np.percentile(tt1, 99) * 1e6),
        })
        res["throughput_speedup_vs_torch"] = (res["jax_throughput_apps_per_s"]
                                              / res["torch_throughput_apps_per_s"])
        res["latency_p50_speedup_vs_torch"] = (res["torch_latency_p50_us"]
                                               / res["jax_latency_p50_us"])
        res["latency_p99_speedup_vs_torch"] = (res["torch_latency_p99_us"]
                                               / res["jax_latency_p99_us"])
    print(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
