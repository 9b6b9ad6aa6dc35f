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

from quantjax.hft.run import train_hft  # noqa: E402
from quantjax.hft.task import make_hft_task, prepare_arrays  # noqa: E402
from quantjax.train.checkpoint import load_for_inference  # noqa: E402
from quantjax.train.loop import TrainingDiverged, fit  # noqa: E402
from quantjax.train.trainer import hparams_from_config  # noqa: E402

from support.hft_toy import TINY_OVERRIDES, tiny_config, toy_dataset
from support.paths import ROOT

TOY = ROOT / "tests" / "support" / "hft_toy.py"
#: the run of these tests (toy data; the child process trains the same config). One feature
#: group: the synthetic market that the refused-resume test loads computes only that group
RUN = ["train.epochs=6", "data.features.groups=[returns]"]


def _child(workdir: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    return subprocess.Popen([sys.executable, str(TOY), str(workdir), *extra, *RUN], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _params(run_dir: Path):
    _, params, _, extra = load_for_inference(run_dir)
    return params, extra


def _latest(run_dir: Path):
    """``(step, {"params", "train"})`` of the latest checkpoint, restored without templates."""
    import orbax.checkpoint as ocp

    from quantjax.train.checkpoint import CheckpointStore

    store = CheckpointStore(run_dir / "checkpoints", async_save=False)
    try:
        step = store.latest_step()
        out = store.manager.restore(step, args=ocp.args.Composite(
            params=ocp.args.StandardRestore(), train=ocp.args.StandardRestore()))
    finally:
        store.close()
    return step, {"params": out["params"], "train": out["train"]}


@pytest.fixture(scope="module")
def ref_run(tmp_path_factory):
    """An uninterrupted 6-epoch tiny run (same config as the child process)."""
    ref = tmp_path_factory.mktemp("ref")
    m = train_hft(tiny_config(RUN), toy_dataset(), ref, progress=False, log=lambda *a: None)
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
    # the final (latest) checkpoint too: params AND optimizer state, step and RNG key
    (sa, ta), (sb, tb) = _latest(ref), _latest(killed)
    assert sa == sb
    la, lb = jax.tree.leaves(ta), jax.tree.leaves(tb)
    assert len(la) == len(lb) > len(jax.tree.leaves(pa))
    for a, b in zip(la, lb, strict=True):
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
    cfg = tiny_config(RUN)
    data, extra = prepare_arrays(toy_dataset(), cfg)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 3)
    bad = hp._replace(loss_weights=hp.loss_weights.at[0].set(np.nan))
    with pytest.raises(TrainingDiverged, match="non-finite training loss.*last good checkpoint"):
        fit(make_hft_task(cfg, data), cfg.train, bad, data, run, meta={"extra": extra},
            resume=True, progress=False, log=lambda *a: None)
    assert sorted(int(d.name) for d in ck.iterdir() if d.name.isdigit()) == steps[:1]


def test_nan_guard_checks_params_not_only_losses(tmp_path):
    """A finite loss whose update makes the params non-finite (the last step of epoch 0) must
    stop the run before that state is checkpointed as 'last good'."""
    import jax.numpy as jnp

    from quantjax.train.config import TrainConfig
    from quantjax.train.trainer import Task

    def loss_fn(params, data, rows, hp, key):  # 0 at w == x, with an infinite gradient there
        return jnp.mean(jnp.sqrt(jnp.abs(params["w"] - data["x"][rows]))), {}

    task = Task(lambda key: {"w": jnp.zeros(2)}, loss_fn,
                lambda p, hp, d: {"score": jnp.float32(0), "loss": jnp.float32(0)}, n_train=4)
    cfg = TrainConfig(batch_size=4, epochs=3, async_checkpoints=False)  # 1 step per epoch
    with pytest.raises(TrainingDiverged, match=r"non-finite parameters \(every training loss "
                       r"was finite\) in epoch 0 .*no checkpoint was written yet"):
        fit(task, cfg, hparams_from_config(cfg, 0.0, 2), {"x": jnp.zeros((4, 2))}, tmp_path,
            meta={}, progress=False, log=lambda *a: None)
    assert not [d for d in (tmp_path / "checkpoints").iterdir() if d.name.isdigit()]


def test_refused_runs_write_nothing(tmp_path, ref_run):
    """No --resume: the existing run's config.yaml survives. --resume with another config:
    an error naming the changed keys (old -> new); train.epochs may change."""
    from quantjax.config import to_dict
    from quantjax.errors import UserError
    from quantjax.hft.run import train_hft_run
    from quantjax.train.loop import check_workdir

    run = tmp_path / "run"
    shutil.copytree(ref_run[0], run)
    (run / "config.yaml").write_text("sentinel: 1\n")
    before = sorted(p.name for p in run.iterdir())
    same = TINY_OVERRIDES + RUN
    with pytest.raises(UserError, match="already holds checkpoints.*--resume"):
        train_hft_run(None, run, overrides=same, progress=False)
    with pytest.raises(UserError, match=r"model\.hidden_size: 8 -> 16; train\.learning_rate: "
                       r"0\.001 -> 0\.01\. An exact resume needs the same config"):
        train_hft_run(None, run, resume=True, progress=False,
                      overrides=same + ["train.learning_rate=0.01", "model.hidden_size=16"])
    assert (run / "config.yaml").read_text() == "sentinel: 1\n"
    assert sorted(p.name for p in run.iterdir()) == before
    logs = []
    check_workdir(run, resume=True, config=to_dict(tiny_config([*RUN, "train.epochs=7"])),
                  log=logs.append)
    assert logs == ["resuming with a changed train.epochs: 6 -> 7"]


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
        train_hft(tiny_config(RUN), toy_dataset(), ref, progress=False)
    model_cfg, params, scaler, extra = load_for_inference(ref)
    assert model_cfg.hidden_size == 8 and scaler.mean.shape == (4,)
    assert extra["feature_names"] == ("f0", "f1", "f2", "f3") and extra["price_scale"] > 0
    assert extra["step"] == m["best_step"]


# --- early stopping with train.start_from_epoch (scripted validation scores) ---------------

class _ScriptedScores:
    """Validation score of epoch ``e`` is ``scores[e]`` (host callback counting the calls);
    ``crash_at=k`` raises inside the k-th call, i.e. the run dies before epoch k is saved."""

    def __init__(self, scores, crash_at=None, start=0):
        self.scores, self.crash_at, self.calls = list(scores), crash_at, start

    def __call__(self):
        e, self.calls = self.calls, self.calls + 1
        if e == self.crash_at:
            raise RuntimeError(f"killed in epoch {e}")
        return np.float32(self.scores[e])


def _scripted_task(scores):
    import jax.numpy as jnp

    from quantjax.train.trainer import Task

    def loss_fn(params, data, rows, hp, key):
        return jnp.mean((params["w"] - data["x"][rows]) ** 2), {}

    def val_score(params, hp, data):
        s = jax.pure_callback(scores, jax.ShapeDtypeStruct((), jnp.float32))
        return {"score": s, "loss": -s}

    return Task(lambda key: {"w": jnp.zeros(2)}, loss_fn, val_score, n_train=8)


def _scripted_fit(workdir, scores, resume=False, **cfg_kw):
    import jax.numpy as jnp

    from quantjax.train.config import TrainConfig

    cfg = TrainConfig(**{"batch_size": 4, "epochs": 10, "patience": 2, "max_to_keep": 1,
                         "async_checkpoints": False, **cfg_kw})
    data = {"x": jnp.linspace(0.0, 1.0, 16).reshape(8, 2)}
    hp = hparams_from_config(cfg, 0.0, 2)
    return fit(_scripted_task(scores), cfg, hp, data, workdir, meta={}, resume=resume,
               progress=False, log=lambda *a: None)


# the first two epochs score highest; from epoch 2 the score rises until epoch 4, then falls
SCORES = [0.9, 0.8, 0.1, 0.2, 0.3, 0.25, 0.2, 0.1, 0.05, 0.0]  # 2 steps per epoch


def _records(run):
    return [{k: v for k, v in json.loads(x).items() if k != "time"}
            for x in (run / "metrics.jsonl").read_text().splitlines()]


def test_start_from_epoch_best_and_patience(tmp_path):
    r0 = _scripted_fit(tmp_path / "a", _ScriptedScores(SCORES))  # default: today's behaviour
    assert (r0.best_step, r0.epochs_run) == (2, 3)  # epoch 0 best, patience 2 stops after 2
    r = _scripted_fit(tmp_path / "b", _ScriptedScores(SCORES), start_from_epoch=2)
    # epochs 0-1 are never best although they score highest, and do not count toward patience
    assert (r.best_step, r.epochs_run, r.steps) == (10, 7, 14)  # best epoch 4, stop after 6
    recs = _records(tmp_path / "b")
    assert [x["best_step"] for x in recs] == [None, None, 6, 8, 10, 10, 10]
    assert [round(x["val_score"], 2) for x in recs] == SCORES[:7]  # still logged
    # best-N retention (max_to_keep=1) keeps the best eligible step + the latest, not step 2
    from quantjax.train.checkpoint import CheckpointStore

    store = CheckpointStore(tmp_path / "b" / "checkpoints", 1, async_save=False)
    try:
        assert sorted(store.steps()) == [10, 14]
    finally:
        store.close()


@pytest.mark.parametrize("crash_at", [1, 3, 5])  # killed before / at / after start_from_epoch
def test_start_from_epoch_resume(tmp_path, crash_at):
    ref = _scripted_fit(tmp_path / "ref", _ScriptedScores(SCORES), start_from_epoch=3)
    run = tmp_path / "run"
    with pytest.raises(Exception, match=f"killed in epoch {crash_at}"):
        _scripted_fit(run, _ScriptedScores(SCORES, crash_at=crash_at), start_from_epoch=3)
    res = _scripted_fit(run, _ScriptedScores(SCORES, start=crash_at), resume=True,
                        start_from_epoch=3)
    assert (res.best_step, res.epochs_run, res.steps) == (ref.best_step, ref.epochs_run, ref.steps)
    assert _records(run) == _records(tmp_path / "ref")
    for a, b in zip(jax.tree.leaves(res.best_params), jax.tree.leaves(ref.best_params),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_start_from_epoch_validation(tmp_path):
    from quantjax.config import from_dict
    from quantjax.errors import ConfigError, UserError
    from quantjax.train.config import TrainConfig

    assert from_dict(TrainConfig, {"epochs": 5, "start_from_epoch": 4}).start_from_epoch == 4
    with pytest.raises(ConfigError, match=r"train\.start_from_epoch.*train\.epochs \(5\)"):
        from_dict(TrainConfig, {"epochs": 5, "start_from_epoch": 5})
    with pytest.raises(ConfigError, match="start_from_epoch"):
        from_dict(TrainConfig, {"start_from_epoch": -1})
    # max_steps cuts the run to 2 epochs (2 steps each): caught before any training
    with pytest.raises(UserError, match=r"train\.start_from_epoch=2 must be < the 2 epochs"):
        _scripted_fit(tmp_path / "c", _ScriptedScores(SCORES), start_from_epoch=2, max_steps=4)
    assert not (tmp_path / "c" / "checkpoints").exists()


def test_make_train_honours_start_from_epoch():
    """The pure make_train (what sweeps vmap) applies start_from_epoch as fit does."""
    import jax.numpy as jnp

    from quantjax.train.config import TrainConfig
    from quantjax.train.trainer import make_train

    cfg = TrainConfig(batch_size=4, epochs=10, patience=2, start_from_epoch=2,
                      async_checkpoints=False)
    data = {"x": jnp.linspace(0.0, 1.0, 16).reshape(8, 2)}
    train = make_train(_scripted_task(_ScriptedScores(SCORES)), cfg)
    _, hist, best = train(hparams_from_config(cfg, 0.0, 2), data)
    assert (int(best["epoch"]), int(best["step"])) == (4, 10)  # as fit: best epoch 4
    assert np.asarray(hist.active).sum() == 7  # patience counts from epoch 2: stops after 6
