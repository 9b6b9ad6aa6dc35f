"""Benchmark walk-forward retraining: prints ONE JSON object.

K-fold walk-forward (``quantjax.hft.walk_forward``: folds padded to common shapes, one
compiled ``make_train``) against the reference of K independent trainings, each on its own
fold with its own (unpadded) shapes, all in one process on the same folds:

- ``vmapped``: ``jit(vmap(train))`` over the K folds in one call (``walk_forward.vmap``);
- ``sequential``: the same padded program called once per fold (``walk_forward.vmap: false``);
- ``independent``: K separately compiled ``jit(train)`` programs, one per fold (the reference).

Every program is compiled ahead of time (timed apart, ``compile_*_s``) and excluded from the
wall times; each variant runs ``--repeats`` times, interleaved, and the best wall time is
kept (process CPU seconds beside it: the machine may be shared). ``ratio_vmapped`` and
``ratio_sequential`` are the walk-forward wall times over the independent ones (goal: <= 1.5,
less when vmapped). ``steps_*`` count the optimizer steps (the padded folds of an expanding
window take the largest fold's steps per epoch).

    python scripts/bench_walk_forward.py                    # tiny config, 4 folds
    python scripts/bench_walk_forward.py --quick            # smoke run
    python scripts/bench_walk_forward.py --folds 4 --mode rolling --set data.synthetic.steps=6000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default="configs/hft_lstm_tiny.yaml", help="HFT config")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override (repeatable)")
    p.add_argument("--folds", type=int, default=4, help="walk-forward folds K (default 4)")
    p.add_argument("--mode", choices=("expanding", "rolling"), default="expanding")
    p.add_argument("--repeats", type=int, default=2, help="timed runs per variant (default 2)")
    p.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = p.parse_args(argv)
    if args.folds < 1 or args.repeats < 1:
        p.error("--folds and --repeats must be >= 1")
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    import jax
    import numpy as np

    from quantjax.config import load
    from quantjax.hft.config import HFTConfig
    from quantjax.hft.dataset import features_config, load_hft_market, prepare_source
    from quantjax.hft.task import N_CLASSES, make_hft_task, prepare_arrays
    from quantjax.hft.walk_forward import fold_data, fold_ranges
    from quantjax.train.trainer import hparams_from_config, make_train, steps_per_epoch

    ov = [f"walk_forward.folds={args.folds}", f"walk_forward.mode={args.mode}"]
    if args.mode == "rolling":
        ov.append("walk_forward.train_size=1500")
    ov += list(args.set)
    if args.quick:
        ov += ["train.epochs=1", "data.synthetic.symbols=2", "data.synthetic.steps=900"]
    cfg = load(HFTConfig, args.config, ov)
    # early stopping off: every variant runs all its epochs, so the work is the same
    cfg = load(HFTConfig, args.config, ov + [f"train.patience={cfg.train.epochs + 1}"])
    market, _ = load_hft_market(cfg, None)
    src = prepare_source(market, features_config(cfg), cfg.model.sequence_length,
                         cfg.data.prediction_horizon, cfg.data.direction_threshold)
    times = np.nonzero(src.ok.any(axis=0))[0]
    folds = fold_ranges(int(times[0]), int(times[-1]), cfg)
    data = fold_data(src, folds, cfg)
    K = len(folds)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, N_CLASSES)
    one = jax.tree.map(lambda a: a[0], data.arrays)
    task = make_hft_task(cfg, one)
    train = make_train(task, cfg.train)
    stacked = jax.device_put(data.arrays)
    per_fold = [jax.device_put(jax.tree.map(lambda a, k=k: a[k], data.arrays)) for k in range(K)]

    def compile_(fn, *a):
        t0 = time.perf_counter()
        exe = jax.jit(fn).lower(*a).compile()
        return exe, time.perf_counter() - t0

    vm, c_vm = compile_(jax.vmap(train, in_axes=(None, 0)), hp, stacked)
    seq, c_seq = compile_(train, hp, per_fold[0])
    indep, c_ind, ind_data, ind_steps = [], 0.0, [], 0
    for ds in data.datasets:
        arr, _ = prepare_arrays(ds, cfg)
        t = make_train(make_hft_task(cfg, arr), cfg.train)
        exe, c = compile_(t, hp, arr)
        indep.append(exe)
        ind_data.append(arr)
        c_ind += c
        ind_steps += cfg.train.epochs * steps_per_epoch(cfg.train, len(ds.train_index))
    padded_steps = K * cfg.train.epochs * steps_per_epoch(cfg.train, task.n_train)

    def run_vm():
        jax.block_until_ready(vm(hp, stacked))

    def run_seq():
        for d in per_fold:
            jax.block_until_ready(seq(hp, d))

    def run_ind():
        for exe, d in zip(indep, ind_data, strict=True):
            jax.block_until_ready(exe(hp, d))

    best = {"vmapped": (float("inf"), 0.0), "sequential": (float("inf"), 0.0),
            "independent": (float("inf"), 0.0)}
    for _ in range(args.repeats):
        for name, fn in (("independent", run_ind), ("vmapped", run_vm), ("sequential", run_seq)):
            t0, c0 = time.perf_counter(), _cpu_s()
            fn()
            wall, cpu = time.perf_counter() - t0, _cpu_s() - c0
            print(f"[bench_walk_forward] {name}: {wall:.2f}s wall, {cpu:.2f}s CPU",
                  file=sys.stderr, flush=True)
            if wall < best[name][0]:
                best[name] = (wall, cpu)
    ref = best["independent"][0]
    out = {
        "config": args.config, "overrides": ov, "folds": K, "mode": args.mode,
        "n_train_per_fold": [len(d.train_index) for d in data.datasets],
        "steps_independent": ind_steps, "steps_walk_forward": padded_steps,
        "vmapped_wall_s": best["vmapped"][0], "vmapped_cpu_s": best["vmapped"][1],
        "sequential_wall_s": best["sequential"][0], "sequential_cpu_s": best["sequential"][1],
        "independent_wall_s": ref, "independent_cpu_s": best["independent"][1],
        "ratio_vmapped": best["vmapped"][0] / ref, "ratio_sequential": best["sequential"][0] / ref,
        "compile_vmapped_s": c_vm, "compile_sequential_s": c_seq, "compile_independent_s": c_ind,
        "repeats": args.repeats, "devices": [str(d) for d in jax.devices()],
        "cpu_count": os.cpu_count(), "load_average": list(os.getloadavg()),
        "machine": platform.processor() or platform.machine(),
    }
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
