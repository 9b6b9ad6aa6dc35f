"""HFT loss options, class weights, optimizer schedule and clipping (pure functions), and
evaluation on host-resident data (the prefetching host loop)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from quantjax.hft.evaluate import attention_samples, split_predictions  # noqa: E402
from quantjax.hft.task import make_hft_task, prepare_arrays, task_losses  # noqa: E402
from quantjax.train.config import TrainConfig  # noqa: E402
from quantjax.train.trainer import (  # noqa: E402
    hparams_from_config,
    lr_schedule,
    make_optimizer,
    set_hyperparams,
    total_steps,
)

from support.hft_toy import tiny_config, toy_dataset

Y_DIR = jnp.asarray([0, 1, 2, 2], jnp.int32)
LOGITS = jnp.asarray([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0], [0.0, 1.0, 3.0], [1.0, 0.0, 0.0]])


def _losses(overrides, price=(0.0,) * 4, y_price=(0.0,) * 4, vol=(1.0,) * 4, y_vol=(1.0,) * 4):
    cfg = tiny_config(overrides)
    hp = hparams_from_config(cfg.train, 0.0, 3)
    out = {"price": jnp.asarray(price), "direction": LOGITS, "volatility": jnp.asarray(vol)}
    total, parts = task_losses(cfg, out, Y_DIR, jnp.asarray(y_price), jnp.asarray(y_vol), hp)
    return float(total), {k: float(v) for k, v in parts.items()}


def test_price_loss_mse_vs_huber():
    errs = dict(price=(0.5, -3.0, 0.0, 0.0), y_price=(0.0,) * 4)  # |errors| 0.5 and 3
    _, mse = _losses(["loss.price=mse"], **errs)
    _, hub = _losses(["loss.price=huber", "loss.huber_delta=1.0"], **errs)
    _, hub2 = _losses(["loss.price=huber", "loss.huber_delta=2.0"], **errs)
    assert mse["price_loss"] == pytest.approx((0.25 + 9.0) / 4)
    assert hub["price_loss"] == pytest.approx((0.125 + 2.5) / 4)  # 0.5 e^2 | d (|e| - d/2)
    assert hub2["price_loss"] == pytest.approx((0.125 + 4.0) / 4)


def test_vol_loss_mse_vs_log_mse():
    v = dict(vol=(1.0, 2.0, 4.0, 2.0), y_vol=(2.0, 2.0, 2.0, 2.0))
    _, mse = _losses(["loss.volatility=mse"], **v)
    _, log = _losses(["loss.volatility=log_mse"], **v)
    assert mse["vol_loss"] == pytest.approx((1.0 + 0.0 + 4.0 + 0.0) / 4)
    assert log["vol_loss"] == pytest.approx(2 * math.log(2.0) ** 2 / 4, rel=1e-5)


def test_class_weights_in_direction_cross_entropy():
    logp = np.asarray(jax.nn.log_softmax(LOGITS, -1))
    ce = -logp[np.arange(4), np.asarray(Y_DIR)]
    w = np.array([1.0, 2.0, 4.0])[np.asarray(Y_DIR)]
    _, plain = _losses([])
    total, weighted = _losses(["train.class_weights=[1, 2, 4]", "train.loss_weights=[0, 1, 0]"])
    assert plain["direction_loss"] == pytest.approx(ce.mean(), rel=1e-6)
    assert weighted["direction_loss"] == pytest.approx((w * ce).sum() / w.sum(), rel=1e-6)
    assert total == pytest.approx(weighted["direction_loss"])  # loss_weights pick the task


def test_schedule_warmup_then_cosine_over_total_steps():
    """Linear warmup over int(warmup_fraction x total steps), total shortened by max_steps,
    then cosine to min_lr_ratio x learning_rate at the last step."""
    cfg = TrainConfig(batch_size=4, epochs=10, max_steps=20, learning_rate=0.1,
                      weight_decay=0.0, warmup_fraction=0.25, min_lr_ratio=0.1,
                      grad_clip_norm=1e6)
    n = total_steps(cfg, 40)
    assert n == 20  # not the 100 steps of 10 epochs
    opt, unit = make_optimizer(cfg), lr_schedule(cfg, n)
    params = {"w": jnp.zeros(())}
    grads = {"w": jnp.ones(())}  # constant gradient: each Adam update is -lr(step)

    @jax.jit
    def lr_of_step(state, step):  # as the trainer's step: peak lr x schedule, then the update
        state = set_hyperparams(state, learning_rate=cfg.learning_rate * unit(step))
        u, state = opt.update(grads, state, params)
        return state, -u["w"]

    state, lrs = set_hyperparams(opt.init(params), weight_decay=0.0), []
    for step in range(n + 1):
        state, lr = lr_of_step(state, step)
        lrs.append(float(lr))
    w = 5  # int(0.25 * 20)
    want = [0.1 * s / w if s < w else
            0.01 + 0.09 * 0.5 * (1 + math.cos(math.pi * (s - w) / (n - w))) for s in range(n + 1)]
    np.testing.assert_allclose(lrs, want, rtol=1e-4, atol=1e-7)
    assert lrs[w] == pytest.approx(0.1, rel=1e-4) and lrs[n] == pytest.approx(0.01, rel=1e-4)


def test_global_norm_clipping():
    cfg = TrainConfig(grad_clip_norm=1.0, weight_decay=0.0)
    opt = make_optimizer(cfg)
    params = {"a": jnp.zeros(1), "b": jnp.zeros(1)}

    def first_moment(g):  # Adam's mu after one step = (1 - b1) x the clipped gradient
        _, st = opt.update(g, set_hyperparams(opt.init(params), learning_rate=1e-3), params)
        mu = optax.tree_utils.tree_get(st, "mu")
        return np.concatenate([np.asarray(mu["a"]), np.asarray(mu["b"])]) / 0.1

    # global norm 5 over both leaves -> scaled to norm 1; norm 0.5 is left alone
    big = first_moment({"a": jnp.asarray([3.0]), "b": jnp.asarray([4.0])})
    small = first_moment({"a": jnp.asarray([0.3]), "b": jnp.asarray([0.4])})
    np.testing.assert_allclose(big, [0.6, 0.8], rtol=1e-5)
    np.testing.assert_allclose(small, [0.3, 0.4], rtol=1e-5)


@pytest.fixture(scope="module")
def placed():
    """(cfg, ds, params, host arrays, device arrays, extra) of the tiny toy setup."""
    cfg = tiny_config()
    ds = toy_dataset()
    host, extra = prepare_arrays(ds, cfg, device=False)
    dev, _ = prepare_arrays(ds, cfg)
    assert isinstance(host.features, np.ndarray) and isinstance(dev.features, jax.Array)
    params = make_hft_task(cfg, dev).init_params(jax.random.PRNGKey(0))
    return cfg, ds, params, host, dev, extra


def test_host_validation_gathers_batches_on_the_host(placed):
    cfg, _, params, host, dev, _ = placed
    task = make_hft_task(cfg, host)
    hp = hparams_from_config(cfg.train, cfg.model.dropout, 3)
    want = jax.jit(task.val_score)(params, hp, dev)
    task.host_val_score(params, hp, host)  # compile outside the guard
    # passing the host feature array to a compiled function would be an implicit transfer
    with jax.transfer_guard("disallow"):
        got = task.host_val_score(params, hp, host)
    for k in ("score", "loss", "accuracy", "macro_f1"):
        assert float(got[k]) == pytest.approx(float(want[k]), rel=1e-5, abs=1e-7), k


def test_host_predictions_equal_device_predictions(placed):
    cfg, ds, params, host, dev, extra = placed
    a = split_predictions(cfg, params, ds, dev, extra, "test")
    b = split_predictions(cfg, params, ds, host, extra, "test")
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-7, err_msg=k)
    att_a, pick_a = attention_samples(cfg, params, dev.features, a["index"])
    att_b, pick_b = attention_samples(cfg, params, host.features, a["index"])
    np.testing.assert_array_equal(pick_a, pick_b)
    np.testing.assert_allclose(att_a, att_b, rtol=1e-5, atol=1e-7)


def test_too_short_data_names_the_config_key():
    """The hint names the key where the features config sits (data.features of train hft)."""

    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import market_from_frame
    from quantjax.data.synth_market import generate
    from quantjax.errors import DataError
    from quantjax.features.config import FeaturesConfig
    from quantjax.hft.dataset import build_hft_dataset

    df, _ = generate(SynthMarketConfig(symbols=2, steps=120, seed=3, oracle_states=10,
                                       oracle_paths=10))
    market = market_from_frame(df)[0]
    cfg = FeaturesConfig(groups=("returns", "cross_timeframe"), timeframes=(3, 20))
    with pytest.raises(DataError, match=r"warm-up 200 bars \(longest: volatility_tf20\).*"
                       r"--set data\.features\.timeframes=\[5\] \(quantjax train hft"):
        build_hft_dataset(market, cfg, seq_len=8, horizon=2, threshold=1e-4)
    with pytest.raises(DataError, match=r"e\.g\. timeframes=\[5\]$"):
        build_hft_dataset(market, cfg, seq_len=8, horizon=2, threshold=1e-4, key_prefix="")
