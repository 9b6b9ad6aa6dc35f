"""The work of the multi-process tests (tests/distributed), run as a script in three settings:

- ``mp``: one of 2 processes of a ``jax.distributed`` run (coordinator from the environment,
  as ``quantjax launch`` sets it), one CPU device each;
- ``ref``: one process with 2 CPU devices (``--xla_force_host_platform_device_count=2``),
  which also runs pieces (b)-(d) on 1 device. The 1-device training run of (a) is the test
  process's own (:func:`train_hft`, called in-process): the programs of a process with one
  visible CPU device, which the data-parallel test (tests/train) compiles too, whereas the
  compilation cache keys the programs of a 2-device process apart (the CPU topology).

``python distributed_worker.py ROLE OUT CREDIT_RUN`` runs (a) tiny HFT data-parallel training,
(b) a training sweep (toy kind, ``sweep.chunk=2``), (c) a backtest with the symbols sharded
over the devices, memory-bounded in time chunks, and (d) credit scoring of a file split
across the processes, and writes what the tests compare into ``OUT/ROLE/`` (process 0 only:
every other process records, with a Python audit hook, each file under ``OUT`` that it opened
for writing, and lists them in ``OUT/wrote_<i>.json``, which must be empty).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: 6 trials, sweep.chunk=2: 3 chunks, i.e. rounds of 2 and 1 chunks on 2 devices
SWEEP_PARAMS = {"train.learning_rate": [0.01, 0.1], "train.seed": [0, 1, 2]}


def _params_npz(run_dir: Path, out: Path) -> None:
    import jax
    import numpy as np

    from quantjax.train.checkpoint import load_for_inference

    _, params, _, extra = load_for_inference(run_dir)
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    np.savez(out, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})


def train_hft(work: Path, tag: str, extra: list[str]) -> None:
    """(a) the tiny toy-data HFT run; params, best step and per-epoch validation."""
    from quantjax.distributed import is_main_process
    from quantjax.hft.run import train_hft as train

    from support.data_parallel_worker import OVERRIDES
    from support.hft_toy import tiny_config, toy_dataset

    run = work / f"hft_{tag}"
    # the data-parallel test's run (support.data_parallel_worker.OVERRIDES)
    cfg = tiny_config([*OVERRIDES, *extra])
    m = train(cfg, toy_dataset(), run, progress=False, log=lambda *a, **k: None)
    if is_main_process():
        _params_npz(run, work / f"hft_{tag}.npz")
        hist = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
        (work / f"hft_{tag}.json").write_text(json.dumps(
            {"best_step": m["best_step"], "steps": m["steps"],
             "val_score": [h["val_score"] for h in hist], "test": m["test"]}, default=float))


def sweep(work: Path, tag: str, shard: bool, layout: str) -> None:
    """(b) a toy training sweep, chunk 2; rows, best trial and its params."""
    import jax
    import numpy as np

    from quantjax.config import from_dict
    from quantjax.distributed import is_main_process
    from quantjax.sweep.config import SweepConfig
    from quantjax.sweep.run import _write_best
    from quantjax.sweep.space import make_trials
    from quantjax.sweep.train_sweep import run_train_sweep

    from support.toy_sweep import TOY_BASE, toy_kind

    base = work / "toy.yaml"
    if is_main_process():
        base.write_text(TOY_BASE)
    from quantjax.distributed import barrier

    barrier("toy-base")
    cfg = from_dict(SweepConfig, {
        "sweep": {"kind": "hft", "base_config": str(base), "shard": shard, "chunk": 2,
                  "train_layout": layout},
        "search": {"method": "grid", "params": SWEEP_PARAMS}})
    trials = make_trials(cfg.search)
    res = run_train_sweep(cfg, trials, kind=toy_kind(), log=lambda s: None)
    if is_main_process():
        best = res["best"]
        _write_best("hft", best, work / f"sweep_{tag}_best", trials[best["index"]])
        params = jax.tree.map(lambda a: np.asarray(a).tolist(), best["state"].params)
        (work / f"sweep_{tag}.json").write_text(json.dumps(
            {"rows": res["rows"], "best": best["index"], "params": params,
             "groups": res["groups"]}, default=float))


def backtest(work: Path, tag: str, shard: bool, budget_mb: float) -> None:
    """(c) momentum backtest of 5 symbols (padded to the devices) at every record level."""
    import dataclasses

    import numpy as np

    from quantjax.backtest import pipeline
    from quantjax.backtest.config import BacktestConfig
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import market_from_frame
    from quantjax.data.synth_market import generate
    from quantjax.distributed import is_main_process

    df, _ = generate(SynthMarketConfig(symbols=5, steps=300, seed=3))
    market = market_from_frame(df)[0]
    cfg = BacktestConfig()
    cfg = dataclasses.replace(cfg, backtest=dataclasses.replace(
        cfg.backtest, memory_budget_mb=budget_mb), strategy=dataclasses.replace(
        cfg.strategy, name="momentum", lookback=5))
    sig = pipeline.builtin_signals(cfg, market)
    out = {}
    for record in ("trades", "full", "equity"):
        res = pipeline.run_backtest(cfg, market, sig, record=record, shard=shard)
        for k in res.records:
            out[f"{record}.{k}"] = np.asarray(res.records[k])
        if record == "trades":
            out.update({f"events.{k}": v for k, v in res.events.items()})
    if is_main_process():
        np.savez(work / f"backtest_{tag}.npz", **out)


def score(work: Path, tag: str, credit_run: str, split: bool) -> None:
    """(d) scoring the German-like file (split across the processes, or in one)."""
    from quantjax.credit.distributed_scoring import score_file_split
    from quantjax.credit.scoring import score_file

    from support.paths import GERMAN_CSV

    fn = score_file_split if split else score_file
    fn(credit_run, GERMAN_CSV, work / f"score_{tag}.csv", batch_size=64)


def main() -> None:
    role, out, credit_run = sys.argv[1], Path(sys.argv[2]), sys.argv[3]
    work = out / role
    if role == "mp":
        from quantjax import distributed

        distributed.initialize()
    # the compilation cache: the suite's, from the environment (tests/conftest.py)
    import jax

    from quantjax.distributed import is_main_process

    work.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    if not is_main_process():
        root = str(out.resolve())

        def audit(event, args):
            if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
                mode = str(args[1] or "")
                path = os.path.abspath(os.fsdecode(args[0]))
                if path.startswith(root) and any(c in mode for c in "wax+"):
                    written.append(path)

        sys.addaudithook(audit)
    if role == "ref":  # 1 process: 2 devices and 1 device (the 1-device training: the test's)
        assert jax.device_count() == 2, jax.devices()
        train_hft(work, "2dev", [])
        sweep(work, "2dev", True, "devices")
        sweep(work, "1dev", False, "devices")
        backtest(work, "2dev", True, 0.0)
        backtest(work, "1dev", False, 0.0)
        score(work, "1proc", credit_run, False)
    else:  # 2 processes x 1 device
        assert jax.process_count() == 2 and jax.device_count() == 2, jax.devices()
        train_hft(work, "2proc", [])
        sweep(work, "2proc", True, "devices")
        sweep(work, "2proc_spmd", True, "spmd")
        backtest(work, "2proc", True, 0.002)  # ~2 KB per chunk: many time chunks
        score(work, "2proc", credit_run, True)
    if not is_main_process():
        found = sorted(set(written))
        (out / f"wrote_{jax.process_index()}.json").write_text(json.dumps(found))
    print(f"{role} {jax.process_index()} done", flush=True)


if __name__ == "__main__":
    main()
