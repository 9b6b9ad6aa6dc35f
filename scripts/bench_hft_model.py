#!/usr/bin/env python
"""Benchmark the quantjax HFT model against the PyTorch re-implementation of the spec model.

Same config (spec ModelConfig: seq 60, hidden 128, 3 layers, 8 heads, batch 64), same
features count, same thread count, one process. Prints ONE JSON object:
train-step samples/s, batched inference windows/s, single-window latency p50/p99 for both,
and the ratios ``train_speedup_vs_torch``, ``inference_speedup_vs_torch``,
``latency_speedup_vs_torch``, plus a roofline: analytic FLOPs per sample (``flops_per_sample_*``),
achieved GFLOP/s (``gflops_*``) and this CPU's fp32 matmul peak measured with a big ``jnp.dot``
and ``torch.mm`` (``peak_gflops_*``). Train throughput is also given per CPU-second of the
process (``train_samples_per_cpu_sec``), which is less sensitive to other processes than wall
time. ``--quick`` uses small sizes (smoke run); ``--variants`` also times recurrence variants
(unroll, fused/unfused directions). JAX calls run inline (``--async-dispatch``: JAX's default
CPU async dispatch, which adds two thread hand-offs per call; ``cpu_async_dispatch`` in the
JSON says which); the unrolled latency path (``latency_unrolled_*``) is the one the compiled
predictor's batch-1 bucket uses.

    python scripts/bench_hft_model.py [--quick] [--threads N] [--variants] [--async-dispatch]

On a GPU (JAX's default backend ``gpu``), torch runs on CUDA (cuDNN LSTM) with
``--torch-device auto`` (the default), both timers synchronize the device, and
``--gpu-precision`` sets both frameworks' fp32 matmul mode alike (``tf32``, JAX's GPU default;
or ``highest``). GPU runs want bigger sizes: ``--train-steps 100 --inference-batch 16384``.
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


def _sync(dev: str) -> None:
    """Wait for torch's queued CUDA work (a no-op on CPU)."""
    if dev == "cuda":
        import torch

        torch.cuda.synchronize()


def flops_per_sample(L: int, F: int, H: int, layers: int, heads: int, bidirectional: bool,
                     queries: int) -> dict:
    """Analytic FLOPs of one window (a multiply-add counts 2; elementwise ops not counted).

    ``queries``: attention query rows computed (1 = last row only, L = the spec's full
    attention). ``train`` = forward + backward ~ 3x the matmul FLOPs, less the embedding's
    input gradient, which is not needed.
    """
    nd = 2 if bidirectional else 1
    E = nd * H
    emb = 2 * L * F * H
    lstm = sum(2 * L * (H if i == 0 else E) * nd * 4 * H + 2 * L * nd * H * 4 * H
               for i in range(layers))
    att = 2 * 2 * L * E * E + 2 * 2 * queries * E * E + 2 * 2 * queries * L * E
    del heads  # the head split does not change the FLOPs
    out_heads = 3 * 2 * E * H + 2 * H * (1 + 3 + 1)
    fwd = emb + lstm + att + out_heads
    return {"fwd": fwd, "train": 3 * fwd - emb, "lstm_fwd": lstm, "attention_fwd": att}


def _best(fn, n):
    """Best wall time and median process CPU time of ``n`` calls of ``fn``."""
    wall, cpu = [], []
    for _ in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return min(wall), float(np.median(cpu))


def theoretical_peak(threads: int) -> float | None:
    """fp32 FMA peak estimate, GFLOP/s: threads x clock x (64 FLOP/cycle with AVX-512, two FMA
    units; 32 with AVX2), clock from /proc/cpuinfo (None where it cannot be read)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    mhz = [float(line.split(":")[1]) for line in info.splitlines() if line.startswith("cpu MHz")]
    if not mhz:
        return None
    per_cycle = 64 if " avx512f" in info else 32
    return threads * max(mhz) * 1e6 * per_cycle / 1e9


def bench_bf16(cfg, n_features, inf_batch, inf_iters, lat_iters, threads, seed=0,
               dev: str = "cpu") -> dict:
    """Optional: bf16 inference (AMX matmuls) for both, with an accuracy check against fp32.

    quantjax: params and inputs cast to bf16 (the whole forward in bf16); torch: the fp32 model
    under ``torch.autocast(dev, torch.bfloat16)`` (``dev``: ``cpu`` or ``cuda``). Accuracy:
    direction argmax agreement and max
    abs difference of the direction probabilities versus fp32, on ``inf_batch`` random windows.
    """
    import jax
    import jax.numpy as jnp
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from torch_reference_hft import LSTMAttentionModel as TorchModel

    from quantjax.models.lstm_attention import LSTMAttentionModel as QJModel
    from quantjax.models.registry import init_hft_params

    m = cfg.model
    rng = np.random.default_rng(seed)
    xb = rng.standard_normal((inf_batch, m.sequence_length, n_features)).astype(np.float32)
    x1 = xb[:1]
    model = QJModel(m)
    p32 = init_hft_params(m, n_features, jax.random.PRNGKey(seed))
    p16 = jax.tree.map(lambda a: a.astype(jnp.bfloat16), p32)
    f = jax.jit(lambda p, x: jax.nn.softmax(model.apply(p, x)["direction"].astype(jnp.float32)))
    ref = np.asarray(f(p32, xb))
    got = np.asarray(f(p16, jnp.asarray(xb, jnp.bfloat16)))
    out = {"qj_argmax_agreement": float(np.mean(ref.argmax(-1) == got.argmax(-1))),
           "qj_max_abs_prob_diff": float(np.abs(ref - got).max())}
    xb16, x116 = jnp.asarray(xb, jnp.bfloat16), jnp.asarray(x1, jnp.bfloat16)
    fb, f1 = f.lower(p16, xb16).compile(), f.lower(p16, x116).compile()
    fb(p16, xb16).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(inf_iters):
        r = fb(p16, xb16)
    r.block_until_ready()
    out["qj_inference_windows_per_sec"] = inf_iters * inf_batch / (time.perf_counter() - t0)
    for _ in range(20):
        np.asarray(f1(p16, x116))
    lat = []
    for _ in range(lat_iters):
        t0 = time.perf_counter()
        np.asarray(f1(p16, x116))
        lat.append(time.perf_counter() - t0)
    out["qj_latency_p50_us"] = _pct(lat, 50)

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    tm = TorchModel(n_features, m.hidden_size, m.num_layers, m.dropout,
                    m.attention_heads).eval().to(dev)
    tb = torch.from_numpy(xb).to(dev)
    t1 = torch.from_numpy(np.ascontiguousarray(x1)).to(dev)
    with torch.inference_mode():
        ref = torch.softmax(tm(tb)["direction"], -1).cpu().numpy()
        with torch.autocast(dev, dtype=torch.bfloat16):
            got = torch.softmax(tm(tb)["direction"].float(), -1).cpu().numpy()
            out["torch_argmax_agreement"] = float(np.mean(ref.argmax(-1) == got.argmax(-1)))
            out["torch_max_abs_prob_diff"] = float(np.abs(ref - got).max())
            _sync(dev)
            t0 = time.perf_counter()
            for _ in range(inf_iters):
                tm(tb)["direction"]
            _sync(dev)
            out["torch_inference_windows_per_sec"] = (inf_iters * inf_batch
                                                      / (time.perf_counter() - t0))
            for _ in range(20):
                tm(t1)
            lat = []
            for _ in range(lat_iters):
                t0 = time.perf_counter()
                tm(t1)["direction"].float().cpu().numpy()
                lat.append(time.perf_counter() - t0)
            out["torch_latency_p50_us"] = _pct(lat, 50)
    out["inference_speedup_vs_torch_bf16"] = (out["qj_inference_windows_per_sec"]
                                              / out["torch_inference_windows_per_sec"])
    out["latency_speedup_vs_torch_bf16"] = out["torch_latency_p50_us"] / out["qj_latency_p50_us"]
    return out


def bench_peak(threads: int, n: int = 2048, reps: int = 5, dev: str = "cpu") -> dict:
    """fp32 matmul peak of this machine: ``[n, n] @ [n, n]`` with jnp.dot and torch.mm (GFLOP/s
    from the best wall time, and per CPU-second of the process; on a GPU at each framework's
    fp32 matmul mode as set, see ``--gpu-precision``)."""
    import jax
    import jax.numpy as jnp

    a = jnp.ones((n, n), jnp.float32)
    mm = jax.jit(jnp.dot)
    mm(a, a).block_until_ready()
    flops = 2 * n**3
    w, c = _best(lambda: mm(a, a).block_until_ready(), reps)
    out = {"peak_gflops_jax": flops / w / 1e9, "peak_gflops_per_cpu_sec_jax": flops / c / 1e9}
    try:
        import torch
    except ImportError:
        return out
    torch.set_num_threads(threads)
    t = torch.ones(n, n, device=dev)
    torch.mm(t, t)
    _sync(dev)

    def mm_t():
        torch.mm(t, t)
        _sync(dev)

    w, c = _best(mm_t, reps)
    out.update(peak_gflops_torch=flops / w / 1e9, peak_gflops_per_cpu_sec_torch=flops / c / 1e9)
    return out


def bench_jax(cfg, n_features, steps, inf_batch, inf_iters, lat_iters, seed=0, unrolled=True):
    import jax
    import jax.numpy as jnp

    from quantjax.hft.task import HFTArrays, make_hft_task
    from quantjax.models.lstm_attention import LSTMAttentionModel
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
    t0, c0 = time.perf_counter(), time.process_time()
    state, st = run(state, hp, data, 1, 0)
    jax.block_until_ready(st)
    train_sps = steps * tr.batch_size / (time.perf_counter() - t0)
    train_spc = steps * tr.batch_size / (time.process_time() - c0)

    model = LSTMAttentionModel(m)
    params = state.params
    fwd = jax.jit(lambda p, x: model.apply(p, x)["direction"])
    xb = jnp.asarray(rng.standard_normal((inf_batch, m.sequence_length, n_features)), jnp.float32)
    from quantjax.platform import batch_compiler_options

    # as the compiled predictor compiles a bucket of this size (on CPU: YNNPACK fusions off)
    f_b = fwd.lower(params, xb).compile(compiler_options=batch_compiler_options(inf_batch))
    f_b(params, xb).block_until_ready()
    t0 = time.perf_counter()
    for _ in range(inf_iters):
        out = f_b(params, xb)
    out.block_until_ready()
    inf_wps = inf_iters * inf_batch / (time.perf_counter() - t0)

    x1 = np.asarray(rng.standard_normal((1, m.sequence_length, n_features)), np.float32)
    f_1 = fwd.lower(params, jnp.asarray(x1)).compile()
    timed = [(f_1, lat := [])]
    lat_u = []
    if unrolled:  # opt-in latency path: time scans fully unrolled (longer compile, same outputs)
        fwd_u = jax.jit(lambda p, x: model.apply(p, x, unroll=True)["direction"])
        timed.append((fwd_u.lower(params, jnp.asarray(x1)).compile(), lat_u))
    for _ in range(20):
        for f, _acc in timed:
            f(params, x1).block_until_ready()
    for _ in range(lat_iters):  # interleaved A/B
        for f, acc in timed:
            t0 = time.perf_counter()
            np.asarray(f(params, x1))
            acc.append(time.perf_counter() - t0)
    return {"train_samples_per_sec": train_sps, "train_samples_per_cpu_sec": train_spc,
            "inference_windows_per_sec": inf_wps,
            "latency_p50_us": _pct(lat, 50), "latency_p99_us": _pct(lat, 99),
            "latency_min_us": _pct(lat, 0),
            **({"latency_unrolled_p50_us": _pct(lat_u, 50),
                "latency_unrolled_min_us": _pct(lat_u, 0)} if lat_u else {}),
            "train_compile_s": compile_s}


def bench_torch(cfg, n_features, steps, inf_batch, inf_iters, lat_iters, threads, seed=0,
                dev: str = "cpu"):
    import torch

    sys.path.insert(0, str(Path(__file__).parent))
    from torch_reference_hft import LSTMAttentionModel, train_step

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    m, tr = cfg.model, cfg.train
    model = LSTMAttentionModel(n_features, m.hidden_size, m.num_layers, m.dropout,
                               m.attention_heads).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=tr.learning_rate, weight_decay=tr.weight_decay)
    B, L = tr.batch_size, m.sequence_length
    xs = torch.randn(steps, B, L, n_features, device=dev)
    yd = torch.randint(0, 3, (steps, B), device=dev)
    yp = torch.randn(steps, B, device=dev)
    yv = torch.rand(steps, B, device=dev) + 0.5
    for i in range(2):
        train_step(model, opt, xs[i], yd[i], yp[i], yv[i])
    _sync(dev)
    t0, c0 = time.perf_counter(), time.process_time()
    for i in range(steps):
        train_step(model, opt, xs[i], yd[i], yp[i], yv[i])
    _sync(dev)
    train_sps = steps * B / (time.perf_counter() - t0)
    train_spc = steps * B / (time.process_time() - c0)

    model.eval()
    xb = torch.randn(inf_batch, L, n_features, device=dev)
    x1 = torch.randn(1, L, n_features, device=dev)
    with torch.inference_mode():
        model(xb)
        _sync(dev)
        t0 = time.perf_counter()
        for _ in range(inf_iters):
            model(xb)["direction"]
        _sync(dev)
        inf_wps = inf_iters * inf_batch / (time.perf_counter() - t0)
        for _ in range(20):
            model(x1)
        lat = []
        for _ in range(lat_iters):
            t0 = time.perf_counter()
            model(x1)["direction"].cpu().numpy()
            lat.append(time.perf_counter() - t0)
    return {"train_samples_per_sec": train_sps, "train_samples_per_cpu_sec": train_spc,
            "inference_windows_per_sec": inf_wps,
            "latency_p50_us": _pct(lat, 50), "latency_p99_us": _pct(lat, 99),
            "latency_min_us": _pct(lat, 0), "torch_version": torch.__version__, "device": dev,
            "cudnn_version": torch.backends.cudnn.version() if dev == "cuda" else None,
            "mkldnn_enabled": bool(torch.backends.mkldnn.is_available()
                                   and torch.backends.mkldnn.enabled)}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for both")
    ap.add_argument("--features", type=int, default=59, help="input features F")
    ap.add_argument("--config", default="configs/hft_lstm.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--variants", action="store_true", help="also time recurrence variants")
    ap.add_argument("--async-dispatch", action="store_true",
                    help="keep JAX's default CPU async dispatch (default: calls run inline, as "
                         "in serving and as torch eager runs)")
    ap.add_argument("--bf16", action="store_true",
                    help="also time bf16 inference for both (reported apart, never the headline)")
    ap.add_argument("--torch-device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="auto: cuda when JAX's default backend is a GPU, else cpu")
    ap.add_argument("--gpu-precision", choices=("tf32", "highest"), default="tf32",
                    help="fp32 matmul mode of both frameworks on a GPU (tf32: JAX's default)")
    ap.add_argument("--train-steps", type=int, default=None, help="timed training steps")
    ap.add_argument("--inference-batch", type=int, default=None, help="batched-inference rows")
    ap.add_argument("--skip-unrolled", action="store_true",
                    help="skip the fully unrolled batch-1 latency path (long compile on a GPU)")
    args = ap.parse_args(argv)
    load_at_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    # XLA:CPU runs on all cores of the machine; --threads 1 also makes its Eigen dots serial
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen="
                               f"{'true' if args.threads > 1 else 'false'}").strip()
    from quantjax.platform import set_cpu_async_dispatch

    async_dispatch = set_cpu_async_dispatch(args.async_dispatch)  # before any JAX computation
    import jax

    from quantjax.config import load
    from quantjax.hft.config import HFTConfig

    over = list(args.overrides)
    if args.quick:
        over += ["model.sequence_length=20", "model.hidden_size=32", "model.num_layers=2"]
    cfg = load(HFTConfig, args.config, over)
    steps, inf_batch, inf_iters, lat_iters = (5, 64, 3, 50) if args.quick else (20, 256, 10, 300)
    steps = args.train_steps or steps
    inf_batch = args.inference_batch or inf_batch
    on_gpu = jax.default_backend() == "gpu"
    dev = args.torch_device if args.torch_device != "auto" else ("cuda" if on_gpu else "cpu")
    precision = None
    if on_gpu or dev == "cuda":
        import torch

        precision = args.gpu_precision
        jax.config.update("jax_default_matmul_precision",
                          "tensorfloat32" if precision == "tf32" else "highest")
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"
    j = bench_jax(cfg, args.features, steps, inf_batch, inf_iters, lat_iters,
                  unrolled=not args.skip_unrolled)
    t = bench_torch(cfg, args.features, steps, inf_batch, inf_iters, lat_iters, args.threads,
                    dev=dev)
    peak_n = (512 if args.quick else 1024) if not on_gpu else 8192
    peak = bench_peak(args.threads, peak_n, 5 if args.quick else 20, dev=dev)
    m = cfg.model
    fl_args = (m.sequence_length, args.features, m.hidden_size, m.num_layers, m.attention_heads,
               not m.causal)
    fl_qj = flops_per_sample(*fl_args, queries=1)
    fl_t = flops_per_sample(*fl_args, queries=m.sequence_length)
    roof = {
        "flops_per_sample_fwd": fl_qj["fwd"], "flops_per_sample_train": fl_qj["train"],
        "flops_per_sample_fwd_torch": fl_t["fwd"], "flops_per_sample_train_torch": fl_t["train"],
        "flops_per_sample_lstm_fwd": fl_qj["lstm_fwd"],
        "gflops_train_qj": j["train_samples_per_sec"] * fl_qj["train"] / 1e9,
        "gflops_train_torch": t["train_samples_per_sec"] * fl_t["train"] / 1e9,
        "gflops_per_cpu_sec_train_qj": j["train_samples_per_cpu_sec"] * fl_qj["train"] / 1e9,
        "gflops_per_cpu_sec_train_torch": t["train_samples_per_cpu_sec"] * fl_t["train"] / 1e9,
        "gflops_inference_qj": j["inference_windows_per_sec"] * fl_qj["fwd"] / 1e9,
        "gflops_inference_torch": t["inference_windows_per_sec"] * fl_t["fwd"] / 1e9,
        "gflops_latency_qj": fl_qj["fwd"] / j["latency_p50_us"] / 1e3,
        "gflops_latency_torch": fl_t["fwd"] / t["latency_p50_us"] / 1e3,
        **peak,
    }
    best_peak = max(peak.get("peak_gflops_torch", 0), peak["peak_gflops_jax"])
    roof["peak_gflops_fp32_theoretical"] = None if on_gpu else theoretical_peak(args.threads)
    for who in ("qj", "torch"):
        roof[f"train_fraction_of_peak_{who}"] = roof[f"gflops_train_{who}"] / best_peak
        roof[f"latency_fraction_of_peak_{who}"] = roof[f"gflops_latency_{who}"] / best_peak
    if args.bf16:
        out_bf16 = bench_bf16(cfg, args.features, inf_batch, inf_iters, lat_iters, args.threads,
                              dev=dev)
    out = {
        "benchmark": "hft_model", "quick": args.quick, "threads": args.threads,
        "cpu_async_dispatch": async_dispatch,
        "device": jax.devices()[0].device_kind, "jax_version": jax.__version__,
        "torch_device": dev, "gpu_matmul_precision": precision,
        "config": {"sequence_length": cfg.model.sequence_length, "hidden_size": cfg.model.hidden_size,
                   "num_layers": cfg.model.num_layers, "attention_heads": cfg.model.attention_heads,
                   "batch_size": cfg.train.batch_size, "features": args.features,
                   "unroll": cfg.model.unroll, "fuse_directions": cfg.model.fuse_directions},
        "train_steps_timed": steps, "inference_batch": inf_batch,
        "quantjax": j, "torch": t,
        "train_speedup_vs_torch": j["train_samples_per_sec"] / t["train_samples_per_sec"],
        "inference_speedup_vs_torch": j["inference_windows_per_sec"] / t["inference_windows_per_sec"],
        "latency_speedup_vs_torch": t["latency_p50_us"] / j["latency_p50_us"],
        "train_cpu_time_speedup_vs_torch": (j["train_samples_per_cpu_sec"]
                                            / t["train_samples_per_cpu_sec"]),
        **({"latency_unrolled_speedup_vs_torch": t["latency_p50_us"]
            / j["latency_unrolled_p50_us"]} if "latency_unrolled_p50_us" in j else {}),
        "roofline": roof,
        **({"bf16_inference": out_bf16} if args.bf16 else {}),
        "load_average_1min_at_start": load_at_start,  # includes any run just before this one
    }
    if args.variants:
        var = {}
        for unroll, fuse in ((1, False), (2, True), (4, True)):
            c = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, unroll=unroll,
                                                                   fuse_directions=fuse))
            r = bench_jax(c, args.features, steps, inf_batch, max(inf_iters // 2, 1), lat_iters // 2,
                          unrolled=not args.skip_unrolled)
            var[f"unroll{unroll}_{'fused' if fuse else 'unfused'}"] = {
                k: r[k] for k in ("train_samples_per_sec", "inference_windows_per_sec",
                                  "latency_p50_us")}
        out["variants"] = var
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
