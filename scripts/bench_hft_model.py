#!/usr/bin/env python
"""Benchmark the quantjax HFT model against the PyTorch re-implementation of the spec model.

Same config (spec ModelConfig: seq 60, hidden 128, 3 layers, 8 heads, batch 64), same
features count, same thread count, one process. Prints ONE JSON object:
train-step samples/s, batched inference windows/s, single-window latency p50/p99 for both,
and the ratios ``train_speedup_vs_torch``, ``inference_speedup_vs_torch``,
``latency_speedup_vs_torch``. ``--quick`` uses small sizes (smoke run);
``--variants`` also times recurrence variants (unroll, fused/unfused directions).

    python scripts/bench_hft_model.py [--quick] [--threads N] [--variants]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import numpy as np


def _pct(xs, q):
    return float(np.percentile(np.asarray(xs) * 1e6, q))


def bench_jax(cfg, n_features, steps, inf_batch, inf_iters, lat_iters, seed=0):
    import jax
    import jax.numpy as jnp

    from quantjax.models.hft import LSTMAttentionModel
    from quantjax.train.hft_task import HFTArrays, make_hft_task
    from quantjax.train.trainer import hparams_from_config, init_state, make_chunk_fn

    m, tr = cfg.model, cfg.train
    rng = np.random.default_rng(seed)
    S, T = 4, max(4 * m.sequence_length, steps * tr.batch_size // 4 + m.sequence_length + 8)
    feats = rng.standard_normal((S, T, n_features)).astype(np.float32)
    ends = np.arange(m.sequence_length - 1, T)
    idx = np.stack(np.meshgrid(np.arange(S), ends, indexing="ij"), -1).reshape(-1, 2).astype(np.int32)
    data = HFTArrays(
        features=jnp.asarray(feats), direction=jnp.asarray(rng.integers(0, 3, (S, T)), jnp.int32),
        price_target=jnp.asarray(rng.standard_normal((S, T)), jnp.float32),
        vol_target=jnp.asarray(rng.uniform(0.5, 1.5, (S, T)), jnp.float32),
        train_index=jnp.asarray(idx), val_index=jnp.asarray(idx[:512]),
        val_weight=jnp.ones(512, jnp.float32), test_index=jnp.asarray(idx[:512]),
        test_weight=jnp.ones(512, jnp.float32))
    task = make_hft_task(cfg, data)
    hp = hparams_from_config(tr, m.dropout, 3)
    state = jax.jit(lambda h: init_state(task, tr, h))(hp)
    run = jax.jit(make_chunk_fn(task, tr, steps))
    t0 = time.perf_counter()
    state, st = run(state, hp, data, 0, 0)
    jax.block_until_ready(st)
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    state, st = run(state, hp, data, 1, 0)
    jax.block_until_ready(st)
    train_sps = steps * tr.batch_size / (time.perf_counter() - t0)

    model = LSTMAttentionModel(m)
    params = state.params
    fwd = jax.jit(lambda p, x: model.apply(p, x)["direction"])
    xb = jnp.asarray(rng.standard_normal((inf_batch, m.sequence_length, n_features)), jnp.float32)
    f_b = fwd.lower(params, xb).compile()
    f_b(params, xb).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(inf_iters):
        out = f_b(params, xb)
    out.block_until_ready()
    inf_wps = inf_iters * inf_batch / (time.perf_counter() - t0)

    x1 = np.asarray(rng.standard_normal((1, m.sequence_length, n_features)), np.float32)
    f_1 = fwd.lower(params, jnp.asarray(x1)).compile()
    for _ in range(20):
        f_1(params, x1).block_until_ready()
    lat = []
    for _ in range(lat_iters):
        t0 = time.perf_counter()
        np.asarray(f_1(params, x1))
        lat.append(time.perf_counter() - t0)
    return {"train_samples_per_sec": train_sps, "inference_windows_per_sec": inf_wps,
            "latency_p50_us": _pct(lat, 50), "latency_p99_us": _pct(lat, 99),
            "train_compile_s": compile_s}


def bench_torch(cfg, n_features, steps, inf_batch, inf_iters, lat_iters, threads, seed=0):
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from torch_reference_hft import LSTMAttentionModel, train_step

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    m, tr = cfg.model, cfg.train
    model = LSTMAttentionModel(n_features, m.hidden_size, m.num_layers, m.dropout, m.attention_heads)
    opt = torch.optim.AdamW(model.parameters(), lr=tr.learning_rate, weight_decay=tr.weight_decay)
    B, L = tr.batch_size, m.sequence_length
    xs = torch.randn(steps, B, L, n_features)
    yd = torch.randint(0, 3, (steps, B))
    yp = torch.randn(steps, B)
    yv = torch.rand(steps, B) + 0.5
    for i in range(2):
        train_step(model, opt, xs[i], yd[i], yp[i], yv[i])
    t0 = time.perf_counter()
    for i in range(steps):
        train_step(model, opt, xs[i], yd[i], yp[i], yv[i])
    train_sps = steps * B / (time.perf_counter() - t0)

    model.eval()
    xb = torch.randn(inf_batch, L, n_features)
    x1 = torch.randn(1, L, n_features)
    with torch.inference_mode():
        model(xb)
        t0 = time.perf_counter()
        for _ in range(inf_iters):
            model(xb)["direction"]
        inf_wps = inf_iters * inf_batch / (time.perf_counter() - t0)
        for _ in range(20):
            model(x1)
        lat = []
        for _ in range(lat_iters):
            t0 = time.perf_counter()
            model(x1)["direction"].numpy()
            lat.append(time.perf_counter() - t0)
    return {"train_samples_per_sec": train_sps, "inference_windows_per_sec": inf_wps,
            "latency_p50_us": _pct(lat, 50), "latency_p99_us": _pct(lat, 99),
            "torch_version": torch.__version__}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both")
    ap.add_argument("--features", type=int, default=59, help="input features F")
    ap.add_argument("--config", default="configs/hft_lstm.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--variants", action="store_true", help="also time recurrence variants")
    args = ap.parse_args(argv)
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               f"{'true' if args.threads > 1 else 'false'} "
                               f"intra_op_parallelism_threads={args.threads}").strip()
    import jax

    from quantjax.config import load
    from quantjax.config.hft import HFTConfig

    over = list(args.overrides)
    if args.quick:
        over += ["model.sequence_length=20", "model.hidden_size=32", "model.num_layers=2"]
    cfg = load(HFTConfig, args.config, over)
    steps, inf_batch, inf_iters, lat_iters = (5, 64, 3, 50) if args.quick else (20, 256, 10, 300)
    j = bench_jax(cfg, args.features, steps, inf_batch, inf_iters, lat_iters)
    t = bench_torch(cfg, args.features, steps, inf_batch, inf_iters, lat_iters, args.threads)
    out = {
        "benchmark": "hft_model", "quick": args.quick, "threads": args.threads,
        "device": jax.devices()[0].device_kind, "jax_version": jax.__version__,
        "config": {"sequence_length": cfg.model.sequence_length, "hidden_size": cfg.model.hidden_size,
                   "num_layers": cfg.model.num_layers, "attention_heads": cfg.model.attention_heads,
                   "batch_size": cfg.train.batch_size, "features": args.features,
                   "unroll": cfg.model.unroll, "fuse_directions": cfg.model.fuse_directions},
        "train_steps_timed": steps, "inference_batch": inf_batch,
        "quantjax": j, "torch": t,
        "train_speedup_vs_torch": j["train_samples_per_sec"] / t["train_samples_per_sec"],
        "inference_speedup_vs_torch": j["inference_windows_per_sec"] / t["inference_windows_per_sec"],
        "latency_speedup_vs_torch": t["latency_p50_us"] / j["latency_p50_us"],
        "note": "measured on a shared machine (other processes running): figures are noisy",
    }
    if args.variants:
        var = {}
        for unroll, fuse in ((1, False), (2, True), (4, True)):
            c = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, unroll=unroll,
                                                                   fuse_directions=fuse))
            r = bench_jax(c, args.features, steps, inf_batch, max(inf_iters // 2, 1), lat_iters // 2)
            var[f"unroll{unroll}_{'fused' if fuse else 'unfused'}"] = {
                k: r[k] for k in ("train_samples_per_sec", "inference_windows_per_sec",
                                  "latency_p50_us")}
        out["variants"] = var
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
