"""Benchmark sweeps: prints ONE JSON object.

1. Learning-rate sweep of the HFT model: K configs in one ``jit(vmap(train))`` call vs K
   sequential calls of the compiled ``jit(train)`` (same steps: early stopping is off).
   Compile time is measured apart (AOT ``lower().compile()``) and excluded from both.
   Key ``speedup_vs_sequential`` = sequential wall / vmapped wall.
2. Strategy sweep throughput: P parameter sets x S symbols x T steps through
   ``quantjax.sweep.backtest_sweep.run_backtest_sweep`` (host metrics included, compile
   excluded), in symbol-steps/s, against K=1 programs called one after another.

    python scripts/bench_sweep.py                       # K=8 tiny config, 1000 x 100 x 10000
    python scripts/bench_sweep.py --quick               # smoke run
    python scripts/bench_sweep.py --k 16 --config configs/hft_lstm.yaml --skip-backtest
"""

from __future__ import annotations

import argparse
import json
import time

import jax
import numpy as np


def bench_train(args) -> dict:
    from quantjax.config import load
    from quantjax.config.hft import HFTConfig
    from quantjax.config.sweep import SweepSection
    from quantjax.sweep.tasks import prepare_hft
    from quantjax.sweep.train_sweep import make_program, stack
    from quantjax.train.trainer import make_train, total_steps

    ov = list(args.set)
    if args.quick:
        ov += ["train.epochs=1", "data.synthetic.symbols=2", "data.synthetic.steps=800",
               "data.features.timeframes=[5,15]"]
    cfg = load(HFTConfig, args.config, ov)
    cfg = load(HFTConfig, args.config, ov + [f"train.patience={cfg.train.epochs + 1}"])
    prep = prepare_hft(cfg, SweepSection(kind="hft"), {})
    lrs = np.geomspace(3e-4, 1e-2, args.k)
    hps = [prep.hparams(cfg)._replace(learning_rate=np.float32(lr)) for lr in lrs]
    hp_k = stack(hps)
    single = jax.jit(make_train(prep.task, cfg.train))
    vmapped = make_program(prep.task, cfg.train)
    t0 = time.perf_counter()
    c_single = single.lower(hps[0], prep.data).compile()
    compile_single = time.perf_counter() - t0
    t0 = time.perf_counter()
    c_vmap = vmapped.lower(hp_k, prep.data).compile()
    compile_vmap = time.perf_counter() - t0

    t0 = time.perf_counter()
    seq_scores = []
    for hp in hps:
        _, _, best = c_single(hp, prep.data)
        seq_scores.append(float(jax.block_until_ready(best["score"])))
    seq = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = jax.block_until_ready(c_vmap(hp_k, prep.data))
    vm = time.perf_counter() - t0
    steps = total_steps(cfg.train, prep.task.n_train)
    return {
        "config": args.config, "k": args.k, "steps_per_run": steps,
        "batch_size": cfg.train.batch_size, "n_train": prep.task.n_train,
        "vmapped_wall_s": vm, "sequential_wall_s": seq, "speedup_vs_sequential": seq / vm,
        "compile_vmapped_s": compile_vmap, "compile_single_s": compile_single,
        "vmapped_steps_per_s": args.k * steps / vm, "sequential_steps_per_s": args.k * steps / seq,
        "max_abs_score_diff_vs_sequential": float(np.max(np.abs(
            np.asarray(out[2]["score"]) - np.asarray(seq_scores)))),
    }


def bench_backtest(args) -> dict:
    from quantjax.config import from_dict
    from quantjax.config.sweep import SweepConfig
    from quantjax.sweep.backtest_sweep import run_backtest_sweep
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
    ap.add_argument("--jax-cache", default=".jax_cache",
                    help="persistent compilation cache folder ('' = off); compile is timed apart")
    args = ap.parse_args()
    if args.jax_cache:
        jax.config.update("jax_compilation_cache_dir", args.jax_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
    out = {"device": str(jax.devices()[0].device_kind), "n_devices": len(jax.devices()),
           "backend": jax.default_backend(), "quick": args.quick}
    if not args.skip_train:
        out["train_sweep"] = bench_train(args)
        out["speedup_vs_sequential"] = out["train_sweep"]["speedup_vs_sequential"]
    if not args.skip_backtest:
        out["backtest_sweep"] = bench_backtest(args)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
