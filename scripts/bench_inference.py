"""Benchmark compiled inference: batch buckets, full-window vs causal streaming.

Prints ONE JSON object:

- ``buckets``: per batch bucket of the AOT-compiled predictor (seed config ``configs/
  hft_lstm.yaml``, bidirectional, full window L=60, default features F): p50/p95/p99/max
  latency (ms) and throughput (windows/s); ``single_window_p50_ms`` = bucket 1;
- reference in the same run: a plain ``jax.jit(model.apply)`` call at batch 1
  (``jit_apply_p50_ms``, ``predictor_vs_jit_apply``; the predictor times its variants per
  bucket at warm-up and keeps the fastest: ``predictor_choices``);
- causal streaming (seed config with ``model.causal=true``): one O(1) update of the packed,
  AOT-compiled, state-donating :class:`~quantjax.inference.causal.CausalStream` for 1 and 100
  symbols (``stream_p50_us_1_symbol``, ``stream_p50_us_100_symbols``, p95/p99/max too; the
  result stays on the device, ``stream_with_host_outputs_p50_us_*`` includes fetching it as
  numpy) against the vmapped reference step (``stream_reference_p50_us_*``) and against
  recomputing the causal model on the full window at every tick
  (``causal_window_recompute_p50_us_*``, ``stream_speedup_vs_*``); the 100-symbol update is
  also measured with the symbol axis sharded over the CPU devices (``--cpu-devices``, one per
  core by default: ``stream_p50_us_100_symbols_sharded``); ``stream_p50_us_100_symbols`` is
  the faster of the two (``stream_100_symbols_devices`` says which,
  ``stream_p50_us_100_symbols_1_device`` keeps the one-device figure);
- streaming features per bar, O(F) incremental, default config (``feature_step_p50_us_*``)
  and a small config (``small_feature_step_p50_us_*``) against the O(W F) recomputation
  over a raw-bar buffer (``recompute_small_*``, ``recompute_feature_step_p50_us_1_symbol``);
- one full tick as in replay (host tick -> features -> causal model -> host outputs,
  ``full_tick_p50_us_*``), and the same in one fused executable
  (:class:`~quantjax.inference.stream_predictor.StreamingPredictor`,
  ``full_tick_fused_p50_us_*``);
- profile figures: ``stream_executable_only_p50_us_*`` (the compiled update called directly,
  without the Python wrapper), ``feature_dispatch_floor_p50_us_*`` (a do-nothing compiled call
  on the feature state pytree of ``feature_state_leaves`` leaves).

Usage: ``python scripts/bench_inference.py [--quick] [--async-dispatch] [--cpu-devices N]``. Timings are
wall-clock on the current backend (CPU unless a GPU is visible); params are random (speed does
not depend on training). Calls run inline as in ``quantjax replay``
(``runtime.cpu_async_dispatch: false``, :mod:`quantjax.platform`);
``--async-dispatch`` measures with JAX's default CPU async dispatch instead
(``cpu_async_dispatch`` in the JSON says which).
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

TESTS = Path(__file__).resolve().parents[1] / "tests"  # the recompute baseline: tests/support/


def stats(samples_s):
    a = np.asarray(samples_s) * 1e3
    return {"p50_ms": float(np.percentile(a, 50)), "p95_ms": float(np.percentile(a, 95)),
            "p99_ms": float(np.percentile(a, 99)), "max_ms": float(a.max()), "n": int(a.size)}


def timeit(fn, n, warm=3):
    import jax

    for _ in range(warm):
        jax.block_until_ready(fn())
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--async-dispatch", action="store_true",
                    help="keep JAX's default CPU async dispatch (default: inline, as replay)")
    ap.add_argument("--cpu-devices", type=int, default=os.cpu_count() or 1,
                    help="CPU devices exposed to JAX (default: one per core); the 100-symbol "
                         "stream update is also measured sharded over them")
    args = ap.parse_args()
    if args.cpu_devices < 1:
        ap.error(f"--cpu-devices: must be >= 1, got {args.cpu_devices}")
    from quantjax.platform import set_cpu_async_dispatch

    async_dispatch = set_cpu_async_dispatch(args.async_dispatch)  # before any JAX computation
    import jax

    jax.config.update("jax_num_cpu_devices", args.cpu_devices)
    import jax.numpy as jnp

    from quantjax.config import load
    from quantjax.features.batch import feature_names
    from quantjax.features.config import FeaturesConfig
    from quantjax.hft.config import HFTConfig
    from quantjax.inference.causal import CausalStream
    from quantjax.inference.model_fn import InputSpec, flatten_params, hft_fn, hft_variants
    from quantjax.inference.predictor import Candidate, CompiledPredictor
    from quantjax.models.lstm_attention import LSTMAttentionModel
    from quantjax.models.registry import init_hft_params

    quick = args.quick
    cfg = load(HFTConfig, "configs/hft_lstm.yaml")
    mcfg = cfg.model
    if quick:
        mcfg = dataclasses.replace(mcfg, hidden_size=32, num_layers=1, attention_heads=4,
                                   sequence_length=16)
    F = len(feature_names(FeaturesConfig(), True))
    L = mcfg.sequence_length
    buckets = (1, 8) if quick else (1, 8, 64, 512)
    n_iter = 20 if quick else 200
    rng = np.random.default_rng(0)
    res: dict = {"backend": jax.default_backend(), "device": str(jax.devices()[0]),
                 "n_devices": len(jax.devices()),
                 "quick": quick, "cpu_async_dispatch": async_dispatch, "seq_len": L, "hidden_size": mcfg.hidden_size,
                 "num_layers": mcfg.num_layers, "n_features": F}

    params = init_hft_params(mcfg, F, jax.random.key(0))
    flat = flatten_params(params)
    fn = hft_fn(mcfg, {})
    t0 = time.perf_counter()
    # variants (rolled / unrolled at batch 1, XLA option sets) timed at warm-up, fastest kept
    pred = CompiledPredictor([Candidate("rolled", fn), *hft_variants(mcfg, {})], flat,
                             (InputSpec("x", (L, F), "float32"),), buckets, warmup=3)
    res["compile_and_warmup_s"] = time.perf_counter() - t0
    res["predictor_choices"] = {str(b): c.to_json() for b, c in pred.choices.items()}
    res["buckets"] = {}
    for b in buckets:
        x = rng.normal(size=(b, L, F)).astype(np.float32)
        n = max(5, n_iter // max(1, b // 8)) if b > 8 else n_iter
        st = stats(timeit(lambda x=x: pred.predict(x), n))
        st["throughput_per_s"] = b / (st["p50_ms"] * 1e-3)
        res["buckets"][str(b)] = st
    res["single_window_p50_ms"] = res["buckets"]["1"]["p50_ms"]
    apply = jax.jit(LSTMAttentionModel(mcfg).apply)
    x1 = jnp.asarray(rng.normal(size=(1, L, F)), jnp.float32)
    res["jit_apply_p50_ms"] = stats(timeit(lambda: apply(params, x1), n_iter))["p50_ms"]
    res["predictor_vs_jit_apply"] = res["single_window_p50_ms"] / res["jit_apply_p50_ms"]

    # causal streaming: packed AOT executable (CausalStream) vs the vmapped reference
    from quantjax.inference.causal import CausalStreamReference

    ccfg = dataclasses.replace(mcfg, causal=True)
    cparams = init_hft_params(ccfg, F, jax.random.key(1))
    cs = CausalStream(cparams, dataclasses.asdict(ccfg))
    cref = CausalStreamReference(cparams, dataclasses.asdict(ccfg))
    capply = jax.jit(LSTMAttentionModel(ccfg).apply)
    n_stream = n_iter * 5
    for S in (1, 100):
        key = f"{S}_symbol" if S == 1 else f"{S}_symbols"
        xs = jnp.asarray(rng.normal(size=(S, F)), jnp.float32)
        reset = np.zeros(S, bool)
        cs.compile(S)
        holder = [cs.init(S)]

        def upd(holder=holder, xs=xs, reset=reset):  # device result, as the reference
            holder[0], out = cs.step_packed(holder[0], xs, reset)
            return out

        st = stats(timeit(upd, n_stream))
        res[f"stream_p50_us_{key}"] = st["p50_ms"] * 1e3
        res[f"stream_p95_us_{key}"] = st["p95_ms"] * 1e3
        res[f"stream_p99_us_{key}"] = st["p99_ms"] * 1e3
        res[f"stream_max_us_{key}"] = st["max_ms"] * 1e3

        def upd_host(holder=holder, xs=xs, reset=reset):  # + outputs as host numpy dict
            holder[0], out = cs.step(holder[0], xs, reset)
            return out["price"]

        res[f"stream_with_host_outputs_p50_us_{key}"] = (
            stats(timeit(upd_host, n_stream))["p50_ms"] * 1e3)
        rholder = [cref.init(S)]

        def upd_ref(holder=rholder, xs=xs, reset=jnp.asarray(reset)):
            holder[0], out = cref.step(holder[0], xs, reset)
            return out["price"]

        ref_st = stats(timeit(upd_ref, n_stream))
        res[f"stream_reference_p50_us_{key}"] = ref_st["p50_ms"] * 1e3
        res[f"stream_speedup_vs_reference_{key}"] = ref_st["p50_ms"] / st["p50_ms"]
        exe, rj = cs.compile(S), jnp.asarray(reset)

        def upd_exe(holder=holder, xs=xs, rj=rj, exe=exe):  # profile: the bare executable
            holder[0], out = exe(cs.packed, *holder[0], xs, rj)
            return out

        res[f"stream_executable_only_p50_us_{key}"] = (
            stats(timeit(upd_exe, n_stream))["p50_ms"] * 1e3)
        xw = jnp.asarray(rng.normal(size=(S, L, F)), jnp.float32)
        ref = stats(timeit(lambda xw=xw: capply(cparams, xw)["price"], max(10, n_iter // 2)))
        res[f"causal_window_recompute_p50_us_{key}"] = ref["p50_ms"] * 1e3
        res[f"stream_speedup_vs_window_{key}"] = ref["p50_ms"] / st["p50_ms"]

    # 100 symbols sharded over the devices (symbol axis split, one block per device / core)
    from quantjax.inference.causal import symbol_mesh

    res["stream_p50_us_100_symbols_1_device"] = res["stream_p50_us_100_symbols"]
    res["stream_100_symbols_devices"] = 1
    if len(jax.devices()) > 1 and 100 % len(jax.devices()) == 0:
        csh = CausalStream(cparams, dataclasses.asdict(ccfg), mesh=symbol_mesh())
        xs = csh.put_rows(np.asarray(rng.normal(size=(100, F)), np.float32))  # as above: on device
        csh.compile(100)
        sh_holder = [csh.init(100)]

        def upd_sh(holder=sh_holder, xs=xs):
            holder[0], out = csh.step_packed(holder[0], xs, np.zeros(100, bool))
            return out

        st = stats(timeit(upd_sh, n_stream))
        res["stream_p50_us_100_symbols_sharded"] = st["p50_ms"] * 1e3
        res["stream_p99_us_100_symbols_sharded"] = st["p99_ms"] * 1e3
        if st["p50_ms"] * 1e3 < res["stream_p50_us_100_symbols"]:  # headline: the faster
            res["stream_p50_us_100_symbols"] = st["p50_ms"] * 1e3
            res["stream_p95_us_100_symbols"] = st["p95_ms"] * 1e3
            res["stream_p99_us_100_symbols"] = st["p99_ms"] * 1e3
            res["stream_max_us_100_symbols"] = st["max_ms"] * 1e3
            res["stream_100_symbols_devices"] = len(jax.devices())

    # streaming features per bar: O(F) incremental (default config and the small test config)
    # vs the O(W F) recomputation over a raw-bar buffer (tests/support/stream_window.py)
    from quantjax.features.streaming import StreamingFeatures

    sys.path.insert(0, str(TESTS))
    from support.stream_window import WindowStreamingFeatures

    fields = ("open", "high", "low", "close", "volume", "bid", "ask", "bid_volume",
              "ask_volume")
    small = FeaturesConfig(timeframes=(2, 5), regime_window=20, stat_windows=(10,),
                           volume_window=20)
    variants = [("", FeaturesConfig(), StreamingFeatures, (1, 100)),
                ("small_", small, StreamingFeatures, (1, 100)),
                ("recompute_small_", small, WindowStreamingFeatures, (1, 100)),
                ("recompute_", FeaturesConfig(), WindowStreamingFeatures, (1,))]
    for prefix, fcfg, cls, sizes in variants:
        names = feature_names(fcfg, True)
        sf = cls(fcfg, fields, np.zeros(len(names)), np.ones(len(names)), L)
        if prefix == "":
            res["feature_state_scalars_per_symbol"] = sf.state_scalars
        if prefix == "recompute_":
            res["feature_recompute_buffer_bars"] = sf.window_len
        for S in sizes:
            fst = [sf.init(S)]
            v = np.abs(rng.normal(size=(S, len(fields)))) + 100.0
            tick = jax.device_put(sf.make_tick(v, np.ones(S, bool), 1_700_000_000_000_000_000))

            def fstep(fst=fst, tick=tick, sf=sf):
                fst[0], (row, _) = sf.step(fst[0], tick)
                return row

            n = max(10, n_iter // 2) if "recompute" in prefix else n_iter * 2
            st = stats(timeit(fstep, n))
            key = f"{S}_symbol" if S == 1 else f"{S}_symbols"
            res[f"{prefix}feature_step_p50_us_{key}"] = st["p50_ms"] * 1e3
            if prefix == "":  # profile: the dispatch floor of a call on this state pytree
                res["feature_state_leaves"] = len(jax.tree.leaves(fst[0]))
                ident = jax.jit(lambda s, t: (s, t.hi), donate_argnums=0)

                def fnop(fst=fst, tick=tick, ident=ident):
                    fst[0], out = ident(fst[0], tick)
                    return out

                res[f"feature_dispatch_floor_p50_us_{key}"] = (
                    stats(timeit(fnop, n))["p50_ms"] * 1e3)

    # one full streaming tick as in replay: host tick -> features -> causal model -> host
    from quantjax.inference.stream_predictor import StreamingPredictor

    sf = StreamingFeatures(FeaturesConfig(), fields, np.zeros(F), np.ones(F), L)
    sp = StreamingPredictor(sf, cs)
    for S in (1, 100):
        fst, cst = [sf.init(S)], [cs.init(S)]
        v = np.abs(rng.normal(size=(S, len(fields)))) + 100.0
        present = np.ones(S, bool)

        def tick_fn(fst=fst, cst=cst, v=v, present=present):
            tk = sf.make_tick(v, present, 1_700_000_000_000_000_000)
            fst[0], (rows, _) = sf.step(fst[0], tk)
            cst[0], out = cs.step(cst[0], rows, np.asarray(fst[0].run) <= 1)
            return out["price"]

        key = f"{S}_symbol" if S == 1 else f"{S}_symbols"
        res[f"full_tick_p50_us_{key}"] = stats(timeit(tick_fn, n_iter * 2))["p50_ms"] * 1e3
        pst = [sp.init(S)]

        def fused_fn(pst=pst, v=v, present=present):
            tk = sf.make_tick(v, present, 1_700_000_000_000_000_000)
            pst[0], (out, ready) = sp.step(pst[0], tk)
            return np.asarray(out), np.asarray(ready)

        res[f"full_tick_fused_p50_us_{key}"] = (
            stats(timeit(fused_fn, n_iter * 2))["p50_ms"] * 1e3)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
