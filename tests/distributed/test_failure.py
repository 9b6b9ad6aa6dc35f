"""A process of a multi-process run is SIGKILLed mid-run: ``quantjax launch`` stops the other
process within a timeout with one line naming the dead one, and ``--resume`` (again 2
processes) finishes the run from the last checkpoint."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from support.hft_runs import tiny_overrides
from support.paths import CONFIGS, ROOT

DEADLINE_S = 600  # a stopped or finished run within this (2 processes on 2 shared cores)
STOP_S = 30  # the launcher stops the survivor within this after the kill
EPOCHS = 2


def _launch(workdir: Path, *extra: str) -> subprocess.Popen:
    # one feature group: what is tested is the launcher and the resume, not the features;
    # 2 epochs: killed after the first epoch's checkpoint, the resume trains the second
    overrides = tiny_overrides() + ["train.max_steps=null", f"train.epochs={EPOCHS}",
                                    "train.steps_per_call=4", "train.patience=10",
                                    "data.features.groups=[returns]"]
    cmd = [sys.executable, "-m", "quantjax.cli.main", "launch", "-n", "2", "--timeout", "60",
           "--", "train", "hft", "--config", str(CONFIGS / "hft_lstm_tiny.yaml"), "--synthetic",
           "--workdir", str(workdir), "--no-progress", *extra]
    for o in overrides:
        cmd += ["--set", o]
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    env.pop("XLA_FLAGS", None)
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _process(launcher: subprocess.Popen, index: int) -> int | None:
    """pid of the launcher's child with JAX_PROCESS_ID=index (Linux /proc)."""
    path = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children")
    for pid in path.read_text().split():
        try:
            env = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if f"JAX_PROCESS_ID={index}".encode() in env:
            return int(pid)
    return None


def test_sigkill_of_one_process_stops_the_run_and_resume_finishes_it(tmp_path):
    work = tmp_path / "run"
    launcher = _launch(work)
    ck = work / "checkpoints"
    deadline = time.time() + DEADLINE_S
    try:
        while time.time() < deadline and launcher.poll() is None:  # the first epoch's checkpoint
            if ck.is_dir() and any(d.name.isdigit() for d in ck.iterdir()):
                break
            time.sleep(0.05)
        assert launcher.poll() is None, launcher.communicate()
        victim = _process(launcher, 1)
        assert victim is not None
        os.kill(victim, signal.SIGKILL)
        killed = time.time()
        _, err = launcher.communicate(timeout=STOP_S + 10)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    assert time.time() - killed < STOP_S
    assert launcher.returncode == 128 + signal.SIGKILL
    assert "quantjax launch: process 1/2 was killed by SIGKILL; stopping the other 1 process(es)" \
        in err, err
    assert not (work / "metrics.json").exists()

    resumed = _launch(work, "--resume")
    out, err = resumed.communicate(timeout=DEADLINE_S)
    assert resumed.returncode == 0, err[-3000:]
    assert "resumed from step" in out
    m = json.loads((work / "metrics.json").read_text())
    epochs = [json.loads(ln)["epoch"] for ln in (work / "metrics.jsonl").read_text().splitlines()]
    assert epochs == sorted(set(epochs)) and epochs[-1] == m["epochs"] - 1
    assert m["epochs"] == EPOCHS and epochs == list(range(EPOCHS))
