"""The model plug-in point: models chosen by ``model.name``, the GRU baseline trained, exported,
scored and backtested through it, and the causal stream refusing it by name."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest

from quantjax.config import from_dict, load
from quantjax.errors import ConfigError, UserError
from quantjax.hft.config import HFTConfig
from quantjax.models.gru import GRUConfig, GRUModel
from quantjax.models.lstm_attention import LSTMAttentionConfig
from quantjax.models.registry import MODELS, build, get, init_hft_params, names

# compiled once per config (op by op, an init compiles ~50 small programs)
init_params = jax.jit(init_hft_params, static_argnums=(0, 1))
TINY_FEATURES = {"timeframes": [2, 5], "regime_window": 20, "stat_windows": [10],
                 "volume_window": 20, "groups": ["returns", "volatility", "microstructure"]}


def test_model_section_is_chosen_by_name():
    assert isinstance(HFTConfig().model, LSTMAttentionConfig)
    cfg = load(HFTConfig, "configs/hft_gru_tiny.yaml")
    assert isinstance(cfg.model, GRUConfig) and cfg.model.hidden_size == 16
    assert names("hft") == ["lstm_attention", "gru"] and get("gru").task == "hft"
    with pytest.raises(ConfigError, match="model.name: unknown model 'tcn'; valid: "
                                          "lstm_attention, gru"):
        from_dict(HFTConfig, {"model": {"name": "tcn"}})
    with pytest.raises(ConfigError, match="model.name: unknown model 'credit_transformer'"):
        from_dict(HFTConfig, {"model": {"name": "credit_transformer"}})
    # a key of another model is an unknown key of this one, listing the valid keys
    with pytest.raises(ConfigError, match="unknown config key 'model.attention_heads'.*hidden_size"):
        from_dict(HFTConfig, {"model": {"name": "gru", "attention_heads": 4}})


@pytest.mark.parametrize("name", [n for n in MODELS if MODELS[n].task == "hft"])
def test_hft_models_follow_the_contract(name):
    cfg = dataclasses.replace(get(name).config(), sequence_length=6, hidden_size=8)
    if hasattr(cfg, "attention_dropout"):  # dropout_rate=0 must switch every dropout off
        cfg = dataclasses.replace(cfg, attention_dropout=0.0, attention_heads=2)
    params = init_params(cfg, 3, jax.random.key(0))
    x = np.random.default_rng(1).standard_normal((4, 6, 3)).astype(np.float32)
    model = build(cfg)
    forward = jax.jit(model.apply, static_argnames="unroll")
    out = forward(params, x)
    assert out["price"].shape == (4,) and out["direction"].shape == (4, 3)
    assert out["volatility"].shape == (4,) and bool((out["volatility"] > 0).all())
    assert out["hidden"].shape[0] == 4
    # unroll changes the program, never the outputs; dropout needs a key and is traced
    unrolled = forward(params, x, unroll=True)
    np.testing.assert_allclose(unrolled["price"], out["price"], rtol=1e-5, atol=1e-6)
    train = jax.jit(lambda r: model.apply(params, x, train=True, dropout_rate=r,
                                          rngs={"dropout": jax.random.key(2)})["price"])
    np.testing.assert_allclose(train(0.0), out["price"], rtol=1e-5, atol=1e-6)
    assert not np.allclose(train(0.5), out["price"])


def test_gru_is_causal():
    cfg = GRUConfig(sequence_length=6, hidden_size=8)
    params = init_params(cfg, 3, jax.random.key(0))  # the contract test's GRU program
    x = np.random.default_rng(1).standard_normal((2, 6, 3)).astype(np.float32)
    hidden = jax.jit(lambda p, x: GRUModel(cfg).apply(p, x, capture_intermediates=True)[1][
        "intermediates"]["gru_0"]["__call__"][0])  # [B, L, H]
    seq = np.asarray(hidden(params, x))
    y = x.copy()
    y[:, 4:] += 1.0  # perturb the future of step 3
    seq2 = np.asarray(hidden(params, y))
    np.testing.assert_array_equal(seq[:, :4], seq2[:, :4])


def test_gru_trains_exports_scores_and_backtests(tmp_path):
    """The second model through the plug-in point alone: train (host loop, checkpoints),
    export a .qjx, score with the compiled predictor, drive a backtest from the checkpoint,
    and the causal stream refuses it by name."""
    from quantjax.cli.main import main
    from quantjax.inference.artifact import load_artifact
    from quantjax.inference.causal import CausalStream
    from quantjax.inference.export import export_checkpoint
    from quantjax.inference.model_fn import from_checkpoint
    from quantjax.train.checkpoint import load_for_inference

    run = tmp_path / "gru"
    rc = main(["train", "hft", "--config", "configs/hft_gru_tiny.yaml", "--synthetic",
               "--workdir", str(run), "--no-progress", "--set", "train.epochs=1",
               "--set", "data.synthetic.steps=600", "--set", "data.synthetic.symbols=2",
               "--set", f"data.features={TINY_FEATURES}"])
    assert rc == 0 and (run / "predictions.npz").is_file()
    assert not (run / "attention_samples.npz").exists()  # the GRU has no attention maps
    model_cfg, params, _, extra = load_for_inference(run)
    assert isinstance(model_cfg, GRUConfig) and extra["task"] == "hft"

    art = load_artifact(export_checkpoint(run, tmp_path / "gru.qjx"))
    assert art.config["model"]["name"] == "gru"
    mf = from_checkpoint(run)
    x = np.random.default_rng(0).standard_normal((5, *art.inputs[0].shape)).astype(np.float32)
    want = jax.jit(mf.fn)(mf.params, {"x": x})
    got = art.predictor(buckets=(8,), warmup=1).predict({"x": x})
    for k in ("direction_probs", "price", "volatility"):
        np.testing.assert_allclose(got[k], np.asarray(want[k]), rtol=1e-5, atol=1e-6)

    rc = main(["backtest", "--checkpoint", str(run), "--synthetic", "--out", str(tmp_path / "bt"),
               "--set", "synthetic.symbols=2", "--set", "synthetic.steps=600"])
    assert rc == 0
    with pytest.raises(UserError, match="model 'gru' has no causal streaming step"):
        CausalStream(params, dataclasses.asdict(model_cfg), extra)
