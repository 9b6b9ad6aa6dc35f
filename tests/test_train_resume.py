"""Exact resume after SIGKILL, NaN guard, checkpoint loader, metrics files."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from test_train_toy import tiny_config, toy_dataset  # noqa: E402

from quantjax.train.checkpoint import load_for_inference  # noqa: E402
from quantjax.train.hft_task import make_hft_task, prepare_arrays, train_hft  # noqa: E402
from quantjax.train.loop import TrainingDiverged, fit  # noqa: E402
from quantjax.train.trainer import hparams_from_config  # noqa: E402

TOY = Path(__file__).parent / "test_train_toy.py"


def _child(workdir: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, str(TOY), str(workdir), *extra], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _params(run_dir: Path):
    _, params, _, extra = load_for_inference(run_dir)
    return params, extra


@pytest.fixture(scope="module")
def ref_run(tmp_path_factory):
    """An uninterrupted 6-epoch tiny run (same config as the child process)."""
    ref = tmp_path_factory.mktemp("ref")
    m = train_hft(tiny_config(["train.epochs=6"]), toy_dataset(), ref, progress=False,
                  log=lambda *a: None)
    return ref, m


def test_sigkill_then_resume_is_bit_identical(tmp_path, ref_run):
    ref, _ = ref_run
    killed = tmp_path / "killed"
    p = _child(killed)
    ck = killed / "checkpoints"
    deadline = time.time() + 60
    # kill as soon as the first epoch's checkpoint is committed (mid-training)
    while time.time() < deadline and p.poll() is None:
        if ck.is_dir() and any(d.name.isdigit() for d in ck.iterdir()):
            break
        time.sleep(0.02)
    assert p.poll() is None, p.stdout.read()
    p.send_signal(signal.SIGKILL)
    p.wait()
    r = _child(killed, "--resume")
    out, _ = r.communicate(timeout=120)
    assert r.returncode == 0, out
    assert "resumed from step" in out
    (pa, ea), (pb, eb) = _params(ref), _params(killed)
    assert ea["step"] == eb["step"]
    for a, b in zip(jax.tree.leaves(pa), jax.tree.leaves(pb), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # metrics.jsonl has one record per epoch, no duplicates after the resume
    recs = [json.loads(x) for x in (killed / "metrics.jsonl").read_text().splitlines()]
    assert [r_["epoch"] for r_ in recs] == list(range(6))


def test_nan_guard_keeps_last_good_checkpoint(tmp_path, ref_run):
    ref, _ = ref_run
    run = tmp_path / "run"
    shutil.copytree(ref, run)
    ck = run / "checkpoints"
    steps = sorted(int(d.name) for d in ck.iterdir() if d.name.isdigit())
    for s in steps[1:]:  # pretend the run stopped after its first checkpoint
        shutil.rmtree(ck / str(s))
    cfg = tiny_config(["train.epochs=6"])
    data, extra = prepare_arrays(toy_dataset(), cfg)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 3)
    bad = hp._replace(loss_weights=hp.loss_weights.at[0].set(np.nan))
    with pytest.raises(TrainingDiverged, match="non-finite training loss.*last good checkpoint"):
        fit(make_hft_task(cfg, data), cfg.train, bad, data, run, meta={"extra": extra},
            resume=True, progress=False, log=lambda *a: None)
    assert sorted(int(d.name) for d in ck.iterdir() if d.name.isdigit()) == steps[:1]


def test_metrics_loader_and_resume_required(ref_run):
    from quantjax.errors import UserError

    ref, m = ref_run
    for k in ("directional_accuracy", "macro_f1", "price_mae", "vol_r2",
              "majority_baseline_accuracy", "persistence_baseline_accuracy", "confusion_matrix"):
        assert k in m["test"]
    assert m["steps"] == 6 * (406 // 16) and 0 < m["best_step"] <= m["steps"]
    # the trained model beats the majority class on the planted toy signal
    assert m["test"]["directional_accuracy"] > m["test"]["majority_baseline_accuracy"]
    with pytest.raises(UserError, match="--resume"):
        train_hft(tiny_config(["train.epochs=6"]), toy_dataset(), ref, progress=False)
    model_cfg, params, scaler, extra = load_for_inference(ref)
    assert model_cfg.hidden_size == 8 and scaler.mean.shape == (4,)
    assert extra["feature_names"] == ("f0", "f1", "f2", "f3") and extra["price_scale"] > 0
    assert extra["step"] == m["best_step"]
