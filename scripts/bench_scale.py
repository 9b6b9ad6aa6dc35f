"""Weak scaling on CPU across processes (``jax.distributed``, gloo): prints ONE JSON object.

The same per-process work, 1 process pinned to core 0 against 2 processes pinned one per
core (cores 0 and 1), each process with one XLA CPU device:

- ``train_scaling_2proc``: data-parallel HFT training throughput (samples/s of the global
  batch) of 2 processes over 1 process; each process trains ``--batch`` rows per step (the
  2-process global batch is twice that). Timed: compiled chunks of ``--steps-per-call``
  optimizer steps (the trainer's :func:`quantjax.train.trainer.make_chunk_fn`, the CLI's
  program), after a warm-up call. Also ``allreduce_ms`` (a gloo all-reduce of a
  gradient-sized float32 vector between the 2 processes, median) and
  ``collective_share_of_step`` = all-reduce time / 2-process step time.
- ``backtest_scaling_2proc``: backtest throughput (symbol-steps/s, ``equity`` record level,
  fast CPU loops) of 2 processes, books sharded over the symbols
  (:mod:`quantjax.backtest.sharded`), over 1 process running the same per-process symbols
  with the one-device engine; host gathers included.

Each figure is the median of ``--repeats`` interleaved runs (1 process, then 2 processes);
the 1-minute load average is recorded at the start and end, since the machine may be shared.

    python scripts/bench_scale.py                    # defaults below
    python scripts/bench_scale.py --quick            # smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# the benchmark's random markets are the tests' toy markets (tests/support/toy_market.py)
TESTS = os.path.join(ROOT, "tests")
sys.path.insert(0, TESTS)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _spawn(args, kind: str, nproc: int) -> dict:
    """Run the ``kind`` worker as ``nproc`` processes pinned one per core; process 0's JSON."""
    argv = [sys.executable, os.path.abspath(__file__), "--worker", kind, *args.forward]
    env = dict(os.environ, PYTHONPATH=ROOT, JAX_PLATFORMS="cpu", QUANTJAX_CPU_DEVICES="1")
    env.pop("XLA_FLAGS", None)
    port = _free_port()
    procs = []
    for i in range(nproc):
        e = dict(env)
        if nproc > 1:
            e.update(JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES=str(nproc),
                     JAX_PROCESS_ID=str(i), QUANTJAX_DISTRIBUTED="1",
                     QUANTJAX_DISTRIBUTED_TIMEOUT="120")
        procs.append(subprocess.Popen(argv, env=e, stdout=subprocess.PIPE, text=True,
                                      preexec_fn=lambda core=i: os.sched_setaffinity(0, {core})))
    outs = [p.communicate(timeout=args.timeout)[0] for p in procs]
    for p, o in zip(procs, outs, strict=True):
        if p.returncode:
            raise SystemExit(f"bench_scale: {kind} worker failed ({p.returncode}): {o[-2000:]}")
    return json.loads(outs[0].strip().splitlines()[-1])


def _start(args) -> None:
    if os.environ.get("QUANTJAX_DISTRIBUTED") == "1":
        from quantjax import distributed

        distributed.initialize()
    import jax

    if args.jax_cache:
        jax.config.update("jax_compilation_cache_dir", args.jax_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def worker_train(args) -> dict:
    import jax
    import jax.numpy as jnp
    import numpy as np
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    from quantjax import distributed
    from quantjax.config import load
    from quantjax.hft.config import HFTConfig
    from quantjax.hft.task import HFTArrays, make_hft_task
    from quantjax.train import parallel
    from quantjax.train.trainer import hparams_from_config, init_state, make_chunk_fn

    n = jax.process_count()
    batch = args.batch * n
    cfg = load(HFTConfig, args.config, list(args.set) + [f"train.batch_size={batch}"])
    L = cfg.model.sequence_length
    rng = np.random.default_rng(0)
    S, T, F = 4, args.train_rows // 4 + L, 32
    ends = np.arange(L - 1, T)
    train_index = np.stack(np.meshgrid(np.arange(S), ends, indexing="ij"), -1).reshape(-1, 2)
    data = HFTArrays(
        features=rng.standard_normal((S, T, F)).astype(np.float32),
        direction=rng.integers(0, 3, (S, T)).astype(np.int32),
        price_target=rng.standard_normal((S, T)).astype(np.float32),
        vol_target=np.abs(rng.standard_normal((S, T))).astype(np.float32),
        train_index=train_index.astype(np.int32), val_index=train_index[:64].astype(np.int32),
        val_weight=np.ones(64, np.float32), test_index=train_index[:64].astype(np.int32),
        test_weight=np.ones(64, np.float32))
    task = make_hft_task(cfg, data)
    mesh = parallel.data_mesh(cfg.train, batch)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 3)
    chunk = args.steps_per_call
    if mesh is None:
        run = jax.jit(make_chunk_fn(task, cfg.train, chunk))
        state = jax.jit(lambda h: init_state(task, cfg.train, h))(hp)
        data = jax.device_put(data)
    else:
        repl = parallel.replicated(mesh)
        run = jax.jit(make_chunk_fn(task, cfg.train, chunk, mesh), out_shardings=repl)
        hp = distributed.global_tree(hp, repl)
        state = jax.jit(lambda h: init_state(task, cfg.train, h), out_shardings=repl)(hp)
        data = distributed.global_tree(data, repl)
    t0 = time.perf_counter()
    state, stats = run(state, hp, data, 0, 0)
    jax.block_until_ready(state)
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        state, stats = run(state, hp, data, 0, 0)
        jax.block_until_ready(state)
        times.append(time.perf_counter() - t0)
    step_s = statistics.median(times) / chunk
    out = {"processes": n, "global_batch": batch, "step_ms": 1e3 * step_s,
           "samples_per_s": batch / step_s, "first_call_s": compile_s,
           "n_params": int(sum(np.size(a) for a in jax.tree.leaves(state.params)))}
    if mesh is not None:  # a gradient-sized all-reduce between the processes (gloo)
        size, ndev = out["n_params"], mesh.devices.size
        x = distributed.from_process_local(np.ones((jax.local_device_count(), size), np.float32),
                                           NamedSharding(mesh, P("data")), (ndev, size))
        reduce = jax.jit(lambda a: jnp.sum(a, axis=0), out_shardings=parallel.replicated(mesh))
        jax.block_until_ready(reduce(x))
        rt = []
        for _ in range(20):
            t0 = time.perf_counter()
            jax.block_until_ready(reduce(x))
            rt.append(time.perf_counter() - t0)
        out["allreduce_ms"] = 1e3 * statistics.median(rt)
        out["collective_share_of_step"] = statistics.median(rt) / step_s
    return out


def worker_backtest(args) -> dict:
    import dataclasses

    import jax
    import numpy as np

    from quantjax.backtest import pipeline, strategies
    from quantjax.backtest.config import BacktestConfig

    from support.toy_market import random_market

    n = jax.process_count()
    S, T = args.bt_symbols * n, args.bt_steps
    market = random_market(S, T, seed=1, bar_seconds=60)
    sig = np.where(market.mask, strategies.momentum_signal(market.field("close"), 5), np.nan)
    cfg = BacktestConfig()
    cfg = dataclasses.replace(cfg, risk=dataclasses.replace(cfg.risk, max_drawdown=0.0))
    t0 = time.perf_counter()
    pipeline.run_backtest(cfg, market, sig, record="equity")
    first = time.perf_counter() - t0
    times = []
    for _ in range(args.calls):
        t0 = time.perf_counter()
        pipeline.run_backtest(cfg, market, sig, record="equity")
        times.append(time.perf_counter() - t0)
    wall = statistics.median(times)
    return {"processes": n, "symbols": S, "steps": T, "wall_s": wall, "first_call_s": first,
            "symbol_steps_per_s": S * T / wall}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", choices=("train", "backtest"), help=argparse.SUPPRESS)
    ap.add_argument("--config", default="configs/hft_lstm_tiny.yaml")
    ap.add_argument("--set", action="append", default=[], help="override of the HFT config")
    ap.add_argument("--batch", type=int, default=128, help="training rows per process per step")
    ap.add_argument("--train-rows", type=int, default=40_000, help="training windows")
    ap.add_argument("--steps-per-call", type=int, default=10)
    ap.add_argument("--calls", type=int, default=5, help="timed calls per run (median)")
    ap.add_argument("--bt-symbols", type=int, default=256, help="backtest symbols per process")
    ap.add_argument("--bt-steps", type=int, default=20_000)
    ap.add_argument("--repeats", type=int, default=3, help="interleaved 1/2-process runs")
    ap.add_argument("--skip-train", action="store_true")
    ap.add_argument("--skip-backtest", action="store_true")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per worker run")
    ap.add_argument("--jax-cache", default=".jax_cache/bench")
    args = ap.parse_args()
    if args.quick:
        args.batch, args.train_rows, args.steps_per_call, args.calls = 32, 2_000, 3, 2
        args.bt_symbols, args.bt_steps, args.repeats = 16, 2_000, 1
    if args.worker:
        if args.worker == "backtest":
            from quantjax.platform import enable_fast_cpu_loops

            enable_fast_cpu_loops()  # what quantjax backtest does, before JAX starts
        _start(args)
        res = (worker_train if args.worker == "train" else worker_backtest)(args)
        import jax

        if jax.process_index() == 0:
            print(json.dumps(res), flush=True)
        return
    if len(os.sched_getaffinity(0)) < 2:
        raise SystemExit("bench_scale: needs 2 CPU cores (one per process)")
    args.forward = sys.argv[1:]  # the workers read the same flags (and --quick's sizes)
    out = {"machine_cores": os.cpu_count(), "load_avg_1min_at_start": os.getloadavg()[0],
           "batch_per_process": args.batch, "config": args.config, "set": args.set}
    for kind, key, rate in (("train", "train_scaling_2proc", "samples_per_s"),
                            ("backtest", "backtest_scaling_2proc", "symbol_steps_per_s")):
        if getattr(args, f"skip_{kind}"):
            continue
        runs = {1: [], 2: []}
        for _ in range(args.repeats):
            for nproc in (1, 2):
                runs[nproc].append(_spawn(args, kind, nproc))
        one = statistics.median(r[rate] for r in runs[1])
        two = statistics.median(r[rate] for r in runs[2])
        out[key] = two / one
        out[kind] = {"one_process": runs[1], "two_processes": runs[2],
                     f"median_{rate}_1proc": one, f"median_{rate}_2proc": two}
        if kind == "train":
            out["collective_share_of_step"] = statistics.median(
                r["collective_share_of_step"] for r in runs[2])
    out["load_avg_1min_at_end"] = os.getloadavg()[0]
    print(json.dumps(out, indent=1), flush=True)


if __name__ == "__main__":
    main()
