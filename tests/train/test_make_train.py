"""The pure make_train(...) is vmappable over traced hyperparameters (sweeps), and the CLI
reports user mistakes on one line."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.cli.main import main  # noqa: E402
from quantjax.hft.task import make_hft_task, prepare_arrays  # noqa: E402
from quantjax.train.trainer import HParams, hparams_from_config, make_train  # noqa: E402

from support.hft_toy import tiny_config, toy_dataset


def test_vmapped_train_matches_single_runs():
    cfg = tiny_config(["train.epochs=2", "train.max_steps=30", "model.num_layers=1"])
    data, _ = prepare_arrays(toy_dataset(T=200), cfg)
    task = make_hft_task(cfg, data)
    train = make_train(task, cfg.train)
    hp = hparams_from_config(cfg.train, 0.1, 3)
    hps = jax.tree.map(lambda a: jnp.stack([a, a]), hp)
    hps = hps._replace(learning_rate=jnp.array([1e-3, 1e-2]), seed=jnp.array([0, 1], jnp.int32),
                       dropout_rate=jnp.array([0.0, 0.3]))
    states, hist, best = jax.jit(jax.vmap(train, in_axes=(0, None)))(hps, data)
    assert hist.train_loss.shape == (2, 2) and states.step.tolist() == [30, 30]
    single = jax.jit(train)
    for i in range(2):
        s_i, h_i, b_i = single(HParams(*[a[i] for a in hps]), data)
        # (params are not compared leaf by leaf: Adam turns float noise in the exactly-zero
        # gradient of the attention key bias into +-lr steps)
        np.testing.assert_allclose(h_i.train_loss, hist.train_loss[i], rtol=1e-3)
        np.testing.assert_allclose(h_i.val_loss, hist.val_loss[i], rtol=1e-3)
        assert int(b_i["step"]) == int(best["step"][i])
    # different hyperparameters give different models
    a0, a1 = (np.asarray(jax.tree.leaves(states.params)[0][i]) for i in range(2))
    assert not np.allclose(a0, a1)


def test_cli_errors_are_one_line(capsys, tmp_path):
    assert main(["train", "hft", "--config", "configs/hft_lstm_tiny.yaml", "--data",
                 str(tmp_path / "missing.csv"), "--workdir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("quantjax: error:") and "\n" not in err
    assert main(["train", "hft", "--config", "configs/hft_lstm_tiny.yaml", "--synthetic",
                 "--set", "model.hiden_size=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert "model.hiden_size" in err and "\n" not in err


def test_toy_dataset_contract():
    ds = toy_dataset()
    assert ds.features.shape == (2, 300, 4) and ds.features.dtype == np.float32
    assert ds.label_valid[ds.train_index[:, 0], ds.train_index[:, 1]].all()
    assert set(np.unique(ds.direction)) <= {0, 1, 2}
