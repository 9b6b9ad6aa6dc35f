"""Multi-process runs on one machine: 2 processes on localhost (``jax.distributed``, CPU
collectives over gloo, one CPU device each) against one process with 2 devices and with 1
device, for (a) data-parallel HFT training, (b) a training sweep, (c) a backtest with the
symbols sharded across the processes and (d) credit scoring of a file split across them.
The work is :mod:`support.distributed_worker`, run once for the module (3 subprocesses, each
with a timeout; the 1-device training run in this process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from support.distributed_worker import train_hft
from support.paths import ROOT

WORKER = ROOT / "tests" / "support" / "distributed_worker.py"
TIMEOUT_S = 900
#: the attention key bias gets no gradient (softmax ignores a shift of all logits), so its
#: Adam updates normalize float32 rounding noise of the reduction: it is compared loosely
GRADIENT_FREE = ("['params']['attention']['key']['bias']",)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_credit_run):
    out = tmp_path_factory.mktemp("distributed")
    base = dict(os.environ, JAX_PLATFORMS="cpu",
                PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]))
    base.pop("XLA_FLAGS", None)
    port = _free_port()
    procs = {"ref": subprocess.Popen(
        [sys.executable, str(WORKER), "ref", str(out), str(tiny_credit_run)],
        env=dict(base, XLA_FLAGS="--xla_force_host_platform_device_count=2"),
        stdout=open(out / "ref.log", "w"), stderr=subprocess.STDOUT)}
    for i in range(2):
        env = dict(base, JAX_COORDINATOR_ADDRESS=f"127.0.0.1:{port}", JAX_NUM_PROCESSES="2",
                   JAX_PROCESS_ID=str(i), QUANTJAX_DISTRIBUTED_TIMEOUT="60",
                   QUANTJAX_CPU_DEVICES="1")
        procs[f"mp{i}"] = subprocess.Popen(
            [sys.executable, str(WORKER), "mp", str(out), str(tiny_credit_run)], env=env,
            stdout=open(out / f"mp{i}.log", "w"), stderr=subprocess.STDOUT)
    try:
        # (a) on 1 device, here (one CPU device) while the children run
        (out / "ref").mkdir(parents=True, exist_ok=True)
        train_hft(out / "ref", "1dev", ["train.data_parallel=never"])
        for name, p in procs.items():
            rc = p.wait(timeout=TIMEOUT_S)
            log = (out / f"{name}.log").read_text()[-3000:]
            assert rc == 0, f"{name} exited with {rc}:\n{log}"
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.kill()
                p.wait()
    return out


def test_data_parallel_training_2_processes_equals_2_devices_equals_1_device(runs):
    ref, mp = runs / "ref", runs / "mp"
    one, two = np.load(ref / "hft_1dev.npz"), np.load(ref / "hft_2dev.npz")
    procs = np.load(mp / "hft_2proc.npz")
    assert one.files == two.files == procs.files
    for k in one.files:
        # 2 processes x 1 device and 1 process x 2 devices: the same partitioned program
        np.testing.assert_array_equal(procs[k], two[k], err_msg=k)
        # 1 device: another summation order of the batch's gradients
        if k in GRADIENT_FREE:
            np.testing.assert_allclose(procs[k], one[k], atol=1e-3, err_msg=k)
        else:
            np.testing.assert_allclose(procs[k], one[k], rtol=1e-5, atol=1e-6, err_msg=k)
    summaries = [json.loads((d / f"hft_{t}.json").read_text())
                 for d, t in ((ref, "1dev"), (ref, "2dev"), (mp, "2proc"))]
    assert len({s["best_step"] for s in summaries}) == 1
    assert summaries[0]["steps"] == summaries[2]["steps"] == 24
    np.testing.assert_allclose(summaries[2]["val_score"], summaries[0]["val_score"], rtol=1e-6)
    # process 0 wrote the run files (orbax's own multi-process checkpointing aside)
    assert (mp / "hft_2proc" / "predictions.npz").is_file()


def test_only_process_0_writes_run_files(runs):
    wrote = json.loads((runs / "wrote_1.json").read_text())
    # orbax's multi-process checkpointing: every process writes its array metadata
    outside = [p for p in wrote if "/checkpoints/" not in p]
    assert outside == [], outside


def test_sweep_trial_table_is_bitwise_the_same_on_1_2_devices_and_2_processes(runs):
    one = json.loads((runs / "ref" / "sweep_1dev.json").read_text())
    two = json.loads((runs / "ref" / "sweep_2dev.json").read_text())
    procs = json.loads((runs / "mp" / "sweep_2proc.json").read_text())
    assert len(one["rows"]) == 6
    for other in (two, procs):
        assert other["rows"] == one["rows"]
        assert other["best"] == one["best"]
        assert other["params"] == one["params"]
    assert [g["layout"] for g in procs["groups"]] == ["devices"]
    assert procs["groups"][0]["chunk"] == one["groups"][0]["chunk"] == 2
    # the best trial's checkpoint, written by process 0 alone
    from quantjax.train.checkpoint import CheckpointStore

    store = CheckpointStore(runs / "mp" / "sweep_2proc_best" / "checkpoints", async_save=False)
    try:
        saved = store.restore_params(store.latest_step())
    finally:
        store.close()
    for name, value in one["params"].items():
        np.testing.assert_array_equal(np.asarray(saved[name]), np.asarray(value))
    # layout spmd (one shard_map program over both processes): equal to float32 rounding
    spmd = json.loads((runs / "mp" / "sweep_2proc_spmd.json").read_text())
    assert spmd["best"] == one["best"]
    for a, b in zip(spmd["rows"], one["rows"], strict=True):
        for k, v in b.items():
            if isinstance(v, float):
                np.testing.assert_allclose(a[k], v, rtol=1e-5, err_msg=k)
            else:
                assert a[k] == v, k


def test_backtest_symbols_sharded_across_processes_is_bitwise_one_device(runs):
    one = np.load(runs / "ref" / "backtest_1dev.npz")
    two = np.load(runs / "ref" / "backtest_2dev.npz")
    procs = np.load(runs / "mp" / "backtest_2proc.npz")  # also in many memory-bounded chunks
    assert one.files == two.files == procs.files
    assert {"trades.equity", "full.cash", "equity.equity", "events.step"} <= set(one.files)
    assert len(one["events.step"]) > 0
    for k in one.files:
        np.testing.assert_array_equal(two[k], one[k], err_msg=k)
        np.testing.assert_array_equal(procs[k], one[k], err_msg=k)


def test_credit_scoring_of_a_file_split_across_processes(runs):
    one = pd.read_csv(runs / "ref" / "score_1proc.csv")
    procs = pd.read_csv(runs / "mp" / "score_2proc.csv")
    assert len(one) == len(procs) == 200
    pd.testing.assert_frame_equal(procs, one)
