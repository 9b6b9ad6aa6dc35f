"""Benchmark sweeps: prints ONE JSON object.

1. Learning-rate sweep of the HFT model: K configs vmapped vs K sequential calls of the
   compiled ``jit(train)`` (same steps: early stopping is off). Every program is compiled
   ahead of time (``lower().compile()``, timed apart as ``compile_*_s``) and excluded from
   every wall time. A/B in one run: ``vmapped_one_device`` (one ``jit(vmap(train))`` call with
   all K trials) and ``vmapped_per_device`` (the sweep's default layout: K / n trials on each
   of the n devices, dispatched concurrently; on a CPU the bench exposes one XLA device per
   core with ``--xla_force_host_platform_device_count``, ``--cpu-devices``). Key
   ``speedup_vs_sequential`` = sequential wall / ``vmapped_per_device`` wall. Each phase
   also reports its process CPU seconds, so a stall (waiting) is told from contention.
2. Strategy sweep throughput: P parameter sets x S symbols x T steps through
   ``quantjax.sweep.backtest_sweep.run_backtest_sweep`` (host metrics included, compile
   excluded), in symbol-steps/s, against K=1 programs called one after another.

    python scripts/bench_sweep.py                       # K=8 tiny config, 1000 x 100 x 10000
    python scripts/bench_sweep.py --quick               # smoke run
    python scripts/bench_sweep.py --k 16 --config configs/hft_lstm.yaml --skip-backtest
"""

from __future__ import annotations

import argparse
import faulthandler
import json
import os
import resource
import sys
import time


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _phase(name: str, t0: float, c0: float) -> dict:
    wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
    print(f"[bench_sweep] {name}: {wall:.1f}s wall, {cpu:.1f}s CPU", file=sys.stderr, flush=True)
    return {"wall_s": wall, "cpu_s": cpu}


def bench_train(args) -> dict:
    import jax
    import numpy as np

    from quantjax.config import load
    from quantjax.hft.config import HFTConfig
    from quantjax.sweep.config import SweepSection
    from quantjax.sweep.tasks import prepare_hft
    from quantjax.sweep.train_sweep import init_params, make_program, stack
    from quantjax.train.trainer import make_train, total_steps

    ov = list(args.set)
    if args.quick:
        ov += ["train.epochs=1", "data.synthetic.symbols=2", "data.synthetic.steps=800",
               "data.features.timeframes=[5,15]"]
    cfg = load(HFTConfig, args.config, ov)
    cfg = load(HFTConfig, args.config, ov + [f"train.patience={cfg.train.epochs + 1}"])
    t0, c0 = time.perf_counter(), _cpu_s()
    prep = prepare_hft(cfg, SweepSection(kind="hft"), {})
    phases = {"prepare": _phase("prepare data", t0, c0)}
    lrs = np.geomspace(3e-4, 1e-2, args.k)
    hps = [prep.hparams(cfg)._replace(learning_rate=np.float32(lr)) for lr in lrs]
    hp_k = stack(hps)
    # initial params outside the timed programs (both sides), one trial per call: see
    # quantjax.sweep.train_sweep.init_params (a batched-QR thread-pool deadlock otherwise)
    t0, c0 = time.perf_counter(), _cpu_s()
    p0_k = init_params(prep.task, cfg.train, hps)
    p0 = [jax.tree.map(lambda a, i=i: a[i], p0_k) for i in range(args.k)]
    phases["init_params"] = _phase("initial params", t0, c0)
    devs = jax.devices()
    n_dev = max(d for d in range(1, len(devs) + 1) if args.k % d == 0)  # devices used
    kl = args.k // n_dev

    t0, c0 = time.perf_counter(), _cpu_s()
    def single(hp, params0, data):
        return make_train(prep.task._replace(init_params=lambda key: params0), cfg.train)(
            hp, data)

    c_single = jax.jit(single).lower(hps[0], p0[0], prep.data).compile()
    phases["compile_single"] = _phase("compile single run", t0, c0)
    t0, c0 = time.perf_counter(), _cpu_s()
    c_vmap = make_program(prep.task, cfg.train).lower(hp_k, p0_k, prep.data).compile()
    phases["compile_vmapped_one_device"] = _phase("compile vmapped (one device)", t0, c0)
    t0, c0 = time.perf_counter(), _cpu_s()
    per_dev = make_program(prep.task, cfg.train)
    data_d = [jax.device_put(prep.data, d) for d in devs[:n_dev]]
    hp_d = [jax.device_put(jax.tree.map(lambda a, i=i: a[i * kl:(i + 1) * kl], (hp_k, p0_k)), d)
            for i, d in enumerate(devs[:n_dev])]
    c_dev = [per_dev.lower(*hp_d[i], data_d[i]).compile() for i in range(n_dev)]
    phases["compile_vmapped_per_device"] = _phase(f"compile vmapped ({n_dev} device(s))",
                                                  t0, c0)

    t0, c0 = time.perf_counter(), _cpu_s()
    seq_scores = []
    for hp, p in zip(hps, p0, strict=True):
        _, _, best = c_single(hp, p, prep.data)
        seq_scores.append(float(jax.block_until_ready(best["score"])))
    phases["sequential"] = _phase("sequential runs", t0, c0)
    t0, c0 = time.perf_counter(), _cpu_s()
    out = jax.block_until_ready(c_vmap(hp_k, p0_k, prep.data))
    phases["vmapped_one_device"] = _phase("vmapped, one device", t0, c0)
    t0, c0 = time.perf_counter(), _cpu_s()
    outs = jax.block_until_ready([c_dev[i](*hp_d[i], data_d[i]) for i in range(n_dev)])
    phases["vmapped_per_device"] = _phase(f"vmapped, {n_dev} device(s)", t0, c0)
    dev_scores = np.concatenate([np.asarray(o[2]["score"]) for o in outs])

    steps = total_steps(cfg.train, prep.task.n_train)
    seq, vm1, vmd = (phases[k]["wall_s"] for k in
                     ("sequential", "vmapped_one_device", "vmapped_per_device"))
    return {
        "config": args.config, "k": args.k, "steps_per_run": steps,
        "batch_size": cfg.train.batch_size, "n_train": prep.task.n_train,
        "devices_used": n_dev, "trials_per_device": kl,
        "sequential_wall_s": seq, "vmapped_wall_s": vmd, "vmapped_one_device_wall_s": vm1,
        "speedup_vs_sequential": seq / vmd, "speedup_one_device_vs_sequential": seq / vm1,
        "compile_excluded": True,
        "compile_single_s": phases["compile_single"]["wall_s"],
        "compile_vmapped_s": phases["compile_vmapped_per_device"]["wall_s"],
        "compile_vmapped_one_device_s": phases["compile_vmapped_one_device"]["wall_s"],
        "vmapped_steps_per_s": args.k * steps / vmd, "sequential_steps_per_s": args.k * steps / seq,
        # float32 training is chaotic over ~1k steps: another batch shape (K vs 1 trials per
        # call) changes XLA's summation order, so scores differ slightly from sequential runs
        "max_abs_score_diff_vs_sequential": float(np.max(np.abs(
            dev_scores - np.asarray(seq_scores)))),
        "max_abs_score_diff_one_device_vs_per_device": float(np.max(np.abs(
            np.asarray(out[2]["score"]) - dev_scores))),
        "phases": phases,
    }


def bench_backtest(args) -> dict:
    import numpy as np

    from quantjax.config import from_dict
    from quantjax.sweep.backtest_sweep import run_backtest_sweep
    from quantjax.sweep.config import SweepConfig
    from quantjax.sweep.space import make_trials

    P, S, T = (64, 20, 2000) if args.quick else (args.bt_trials, args.bt_symbols, args.bt_steps)
    rng = np.random.default_rng(0)
    overrides = [f"synthetic.symbols={S}", f"synthetic.steps={T}", "synthetic.oracle_states=10",
                 "synthetic.oracle_paths=10"]

    def cfg(n: int, max_parallel: int):
        return from_dict(SweepConfig, {
            "sweep": {"kind": "backtest", "overrides": overrides, "max_parallel": max_parallel},
            "search": {"method": "random", "n_trials": n, "seed": 0, "params": {
                "strategy.confidence": {"uniform": [0.4, 0.9]},
                "strategy.kelly_fraction": {"uniform": [0.1, 1.0]},
                "strategy.vol_target": {"log_uniform": [0.001, 0.02]},
                "risk.stop_loss": {"uniform": [0.002, 0.03]},
                "risk.take_profit": {"uniform": [0.0, 0.03]},
                "risk.fee_rate": {"uniform": [0.0, 0.0005]}}}})

    del rng
    quiet = lambda *a: None  # noqa: E731
    c = cfg(P, args.bt_max_parallel)
    res = run_backtest_sweep(c, make_trials(c.search), max_parallel=args.bt_max_parallel, log=quiet)
    n_ref = min(args.bt_ref_trials, P)
    cr = cfg(n_ref, 1)
    ref = run_backtest_sweep(cr, make_trials(cr.search), max_parallel=1, log=quiet)
    t, r = res["timing"], ref["timing"]
    return {
        "param_sets": P, "symbols": S, "steps": T, "symbol_steps": t["symbol_steps"],
        "wall_s": t["run_s"], "compile_s": t["compile_s"],
        "symbol_steps_per_s": t["symbol_steps_per_s"], "chunk": res["groups"][0]["chunk"],
        "reference_one_param_set_per_call": {"param_sets": n_ref, "wall_s": r["run_s"],
                                             "symbol_steps_per_s": r["symbol_steps_per_s"]},
        "speedup_vs_sequential": t["symbol_steps_per_s"] / r["symbol_steps_per_s"],
        "dsr_of_best": res["dsr"].get("dsr"),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--k", type=int, default=8, help="learning rates in the sweep")
    ap.add_argument("--config", default="configs/hft_lstm_tiny.yaml")
    ap.add_argument("--set", action="append", default=[], help="override of the HFT config")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--bt-trials", type=int, default=1000)
    ap.add_argument("--bt-symbols", type=int, default=100)
    ap.add_argument("--bt-steps", type=int, default=10_000)
    ap.add_argument("--bt-max-parallel", type=int, default=0)
    ap.add_argument("--bt-ref-trials", type=int, default=4)
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-backtest", action="store_true")
    ap.add_argument("--cpu-devices", type=int, default=os.cpu_count() or 1,
                    help="XLA CPU devices to expose (default: one per core; 1 = off)")
    ap.add_argument("--jax-cache", default=".jax_cache/bench",
                    help="persistent compilation cache folder ('' = off); compile is timed apart")
    ap.add_argument("--watchdog", type=float, default=600,
                    help="dump every thread's Python stack to stderr every N s (0 = off)")
    args = ap.parse_args()
    if args.watchdog > 0:  # a stall shows where it waits instead of dying silently
        faulthandler.dump_traceback_later(args.watchdog, repeat=True, file=sys.stderr)
    if args.cpu_devices > 1 and "xla_force_host_platform_device_count" not in \
            os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") +
                                   f" --xla_force_host_platform_device_count={args.cpu_devices}")
    import jax

    if args.jax_cache:
        jax.config.update("jax_compilation_cache_dir", args.jax_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    out = {"device": str(jax.devices()[0].device_kind), "n_devices": len(jax.devices()),
           "backend": jax.default_backend(), "quick": args.quick,
           "load_avg_1min_at_start": os.getloadavg()[0]}
    if not args.skip_train:
        out["train_sweep"] = bench_train(args)
        out["speedup_vs_sequential"] = out["train_sweep"]["speedup_vs_sequential"]
    if not args.skip_backtest:
        out["backtest_sweep"] = bench_backtest(args)
    out["load_avg_1min_at_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1), flush=True)
    faulthandler.cancel_dump_traceback_later()


if __name__ == "__main__":
    main()
