"""Prefetching host loop (data over train.device_data_limit_mb) and the Gaussian NLL vol loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from quantjax.hft.run import train_hft  # noqa: E402
from quantjax.hft.task import (  # noqa: E402
    host_batch,
    make_hft_task,
    prepare_arrays,
    task_losses,
)
from quantjax.train.loop import fit  # noqa: E402
from quantjax.train.prefetch import Prefetcher, chunk_rows  # noqa: E402
from quantjax.train.trainer import hparams_from_config  # noqa: E402

from support.hft_toy import tiny_config, toy_dataset

# one training config for the whole file (the Gaussian NLL vol loss included), so the device
# loop's compiled programs are shared by every test that trains
EXTRA = ["train.epochs=2", "train.steps_per_call=3", "train.async_checkpoints=false",
         "loss.volatility=gaussian_nll"]


def test_host_loop_matches_device_loop(tmp_path):
    ds = toy_dataset()
    dev = train_hft(tiny_config(EXTRA), ds, tmp_path / "dev", progress=False, log=lambda *a: None)
    logs = []
    host = train_hft(tiny_config(EXTRA + ["train.device_data_limit_mb=0"]), ds, tmp_path / "host",
                     progress=False, log=logs.append)
    assert any("gathered on the host" in str(m) for m in logs)
    assert host["steps"] == dev["steps"] and host["best_step"] == dev["best_step"]
    for k in ("directional_accuracy", "price_mae", "vol_r2"):
        assert host["test"][k] == pytest.approx(dev["test"][k], rel=1e-5, abs=1e-7), k
    a = np.load(tmp_path / "dev" / "predictions.npz")
    b = np.load(tmp_path / "host" / "predictions.npz")
    np.testing.assert_allclose(a["pred_return"], b["pred_return"], rtol=1e-5, atol=1e-8)


def test_host_loop_same_params_as_device(tmp_path):
    cfg = tiny_config(EXTRA)
    ds = toy_dataset()
    data, extra = prepare_arrays(ds, cfg)
    task = make_hft_task(cfg, data)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 3)
    r1 = fit(task, cfg.train, hp, data, tmp_path / "a", meta={}, progress=False, log=lambda *a: 0)
    cfg0 = tiny_config(EXTRA + ["train.device_data_limit_mb=0"])
    r2 = fit(task, cfg0.train, hp, data, tmp_path / "b", meta={}, progress=False,
             log=lambda *a: 0)
    for x, y in zip(jax.tree.leaves(r1.state.params), jax.tree.leaves(r2.state.params),
                    strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))  # bit-identical on CPU


def test_host_batch_equals_device_gather():
    cfg = tiny_config()
    data, _ = prepare_arrays(toy_dataset(), cfg)
    rows = np.array([0, 5, 17, 3])
    hb = host_batch(jax.device_get(data), rows, cfg.model.sequence_length)
    from quantjax.features.windows import gather_windows

    idx = data.train_index[rows]
    np.testing.assert_array_equal(hb["x"], np.asarray(gather_windows(data.features, idx, 8)))
    np.testing.assert_array_equal(hb["direction"], np.asarray(data.direction[idx[:, 0], idx[:, 1]]))


def test_prefetcher_order_padding_and_errors():
    perm = np.arange(14).reshape(7, 2)
    pieces = chunk_rows(perm, 3)
    assert [p.shape for p in pieces] == [(3, 2)] * 3 and (pieces[-1] == perm[-1]).all()
    with Prefetcher(lambda r: r * 2, pieces) as pf:
        got = [np.asarray(x) for x in pf]
    assert all((g == 2 * p).all() for g, p in zip(got, pieces, strict=True))

    def bad(r):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"), Prefetcher(bad, pieces) as pf:
        list(pf)


def test_gaussian_nll_vol_loss():
    cfg = tiny_config(["loss.volatility=gaussian_nll"])
    hp = hparams_from_config(cfg.train, 0.0, 3)
    y_vol = jnp.asarray([0.5, 1.0, 2.0, 1.5], jnp.float32)
    y_dir = jnp.zeros(4, jnp.int32)

    def vol_loss(sigma):
        out = {"price": jnp.zeros(4), "direction": jnp.zeros((4, 3)),
               "volatility": jnp.full(4, sigma)}
        return task_losses(cfg, out, y_dir, jnp.zeros(4), y_vol, hp)[1]["vol_loss"]

    # minimized at sigma = RMS of the realized vol (the per-bar return std)
    rms = float(jnp.sqrt(jnp.mean(y_vol**2)))
    assert abs(float(jax.grad(vol_loss)(rms))) < 1e-4
    assert vol_loss(rms) < vol_loss(0.8 * rms) and vol_loss(rms) < vol_loss(1.25 * rms)


def test_gaussian_nll_trains(tmp_path):
    cfg = tiny_config(EXTRA)
    assert cfg.loss.volatility == "gaussian_nll"
    out = train_hft(cfg, toy_dataset(), tmp_path / "g", progress=False, log=lambda *a: None)
    assert np.isfinite(out["test"]["vol_r2"]) and out["steps"] > 0
