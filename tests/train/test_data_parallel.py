"""Data-parallel training (``train.data_parallel``): 8 forced CPU devices (in a subprocess,
:mod:`support.data_parallel_worker`) against 1 (this process; 2 devices and 2 processes:
tests/distributed). Params equal within rtol 1e-5 and the same best step; the host loop,
the NaN guard and checkpoints work sharded; a checkpoint written on 8 devices loads and
resumes on 1. Also: bf16 compute (``train.precision``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

from quantjax.errors import ConfigError
from quantjax.hft.run import train_hft
from quantjax.train.checkpoint import load_for_inference

from support.data_parallel_worker import OVERRIDES, save_params, train
from support.hft_toy import tiny_config, toy_dataset
from support.paths import ROOT

WORKER = ROOT / "tests" / "support" / "data_parallel_worker.py"
#: no gradient reaches it (softmax ignores a shift of all logits): Adam normalizes the
#: rounding noise of the gradient reduction, so it is compared loosely
GRADIENT_FREE = "['params']['attention']['key']['bias']"


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("dp")
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8",
               JAX_PLATFORMS="cpu", PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]))
    res = subprocess.run([sys.executable, str(WORKER), str(out)], env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stderr[-3000:]
    # the one-device reference, in this one-device process (under 8 visible devices its
    # programs are other cache keys): the same run as tests/distributed's 1-device reference
    assert jax.device_count() == 1, jax.devices()
    train(out, "dp1", ["train.data_parallel=never"])
    return out


def _close(a, b, err=""):
    assert a.files == b.files
    for k in a.files:
        if k == GRADIENT_FREE:
            np.testing.assert_allclose(a[k], b[k], atol=1e-3, err_msg=err + k)
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=err + k)


def test_8_devices_equal_1_device(runs):
    dp8, dp1 = np.load(runs / "dp8.npz"), np.load(runs / "dp1.npz")
    _close(dp8, dp1)
    s8, s1 = (json.loads((runs / f"{n}.json").read_text()) for n in ("dp8", "dp1"))
    assert s8["best_step"] == s1["best_step"] and s8["steps"] == s1["steps"] == 24
    np.testing.assert_allclose(s8["val_score"], s1["val_score"], rtol=1e-6)


def test_host_loop_prefetch_works_sharded(runs):
    _close(np.load(runs / "dp8_host.npz"), np.load(runs / "dp8.npz"), "host loop ")


def test_nan_guard_works_sharded(runs):
    msg = (runs / "nan.txt").read_text()
    assert "non-finite training loss in epoch 0" in msg and "no checkpoint was written" in msg


def test_checkpoint_of_8_devices_loads_and_resumes_on_1_device(runs, tmp_path):
    # the CPU-side restore of a sharded checkpoint (as one written on GPUs would be)
    _, params, _, extra = load_for_inference(runs / "dp8")
    leaf = jax.tree.leaves(params)[0]
    assert len(leaf.sharding.device_set) == 1 and extra["step"] == 24
    run = tmp_path / "resumed"  # the 8-device run as if stopped after its first epoch
    shutil.copytree(runs / "dp8", run)
    shutil.rmtree(run / "checkpoints" / "24")
    m = train_hft(tiny_config(OVERRIDES), toy_dataset(), run, resume=True, progress=False,
                  log=lambda *a, **k: None)  # the second epoch on this process's 1 device
    assert m["steps"] == 24
    save_params(run, tmp_path / "resumed.npz")
    _close(np.load(tmp_path / "resumed.npz"), np.load(runs / "dp1.npz"), "resumed ")


def test_a_batch_that_does_not_split_is_a_config_error(runs):
    msg = (runs / "odd_batch.txt").read_text()
    assert msg.startswith("train.batch_size: the global batch of 36 does not split evenly "
                          "over the 8 devices")


def test_data_parallel_key_is_checked():
    with pytest.raises(ConfigError, match="train.data_parallel"):
        tiny_config(["train.data_parallel=sometimes"])
    with pytest.raises(ConfigError, match="train.precision"):
        tiny_config(["train.precision=fp16"])


def test_bf16_compute_with_fp32_params_and_optimizer_state(tmp_path):
    from quantjax.hft.task import make_hft_task, prepare_arrays
    from quantjax.train.checkpoint import CheckpointStore
    from quantjax.train.trainer import hparams_from_config, init_state, make_step_fn

    cfg = tiny_config(OVERRIDES + ["train.precision=bf16"])
    data, _ = prepare_arrays(toy_dataset(), cfg)
    task = make_hft_task(cfg, data)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 3)
    state = init_state(task, cfg.train, hp)
    step = make_step_fn(task, cfg.train)
    # the step's types from its jaxpr (no separate compile of the step: the run below
    # compiles the training program, and its losses are the finite values)
    closed = jax.make_jaxpr(step, return_shape=True)(state, hp, data, np.arange(32))
    jaxpr, (new, (loss, _)) = str(closed[0]), closed[1]
    assert "bf16" in jaxpr and "dot_general" in jaxpr  # the model runs in bfloat16
    assert loss.dtype == np.float32
    for tree in (new.params, new.opt_state):
        for a in jax.tree.leaves(tree):
            assert a.dtype != jax.numpy.bfloat16
    m = train_hft(cfg, toy_dataset(), tmp_path / "bf16", progress=False, log=lambda *a, **k: None)
    assert m["steps"] == 24 and np.isfinite(m["test"]["directional_accuracy"])
    losses = [json.loads(ln)["train_loss"]
              for ln in (tmp_path / "bf16" / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 2 and np.all(np.isfinite(losses))
    store = CheckpointStore(tmp_path / "bf16" / "checkpoints", async_save=False)
    try:
        saved = store.restore_params(store.latest_step())
    finally:
        store.close()
    assert {str(a.dtype) for a in jax.tree.leaves(saved)} == {"float32"}
