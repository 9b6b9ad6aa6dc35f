"""The credit transformer: shapes, tokenizers, masking, determinism, integrated gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.credit.config import CreditModelConfig
from quantjax.credit.explain import feature_space, integrated_gradients
from quantjax.data.credit import CreditBatch
from quantjax.models.credit import N_SERIES_STATS, build_model, categorical_widths, series_stats

CARDS = (4, 6, 3)


def _batch(n=4, dn=5, lt=6, t=12, seed=0):
    rng = np.random.default_rng(seed)
    text = rng.integers(2, 30, (n, lt)).astype(np.int32)
    text[0, 2:] = 0
    text[1, :] = 0  # empty text
    return CreditBatch(rng.normal(size=(n, dn)).astype(np.float32),
                       np.stack([rng.integers(0, c, n) for c in CARDS], 1).astype(np.int32),
                       text, rng.normal(size=(n, t, 1)).astype(np.float32),
                       np.zeros(n, np.int32))


def _model(**kw):
    base = dict(d_model=16, n_heads=2, n_layers=1, ffn_mult=2)
    base.update(kw)
    return build_model(CreditModelConfig(**base), 5, CARDS, 30)


@settings(max_examples=25, deadline=None)
@given(st.integers(8, 300), st.integers(1, 8))
def test_categorical_widths_sum_to_d_model(d, c):
    w = categorical_widths(d, c)
    assert sum(w) == d and len(w) == c and max(w) - min(w) <= 1


@pytest.mark.parametrize("nt,ct,tt,cls", [
    ("linear", "split", "linear", True), ("per_feature", "per_feature", "per_step", False),
    ("per_feature_mlp", "split", "per_step", True), ("linear", "split", "linear_stats", True)])
def test_all_tokenizers_give_finite_logits(nt, ct, tt, cls):
    m = _model(numerical_tokenizer=nt, categorical_tokenizer=ct, time_series_tokenizer=tt,
               use_cls=cls)
    b = _batch()
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])
    z = jax.jit(m.apply)(p, *b[:4])
    assert z.shape == (4,) and np.isfinite(np.asarray(z)).all()


def test_series_stats_values_and_finite_gradients():
    s = jnp.asarray([[1.0, 2.0, 4.0, 3.0], [0.5, 0.5, 0.5, 0.5]])
    st_ = np.asarray(series_stats(s))
    d = np.diff(np.asarray(s[0]))
    trend = np.polyfit(np.arange(4), np.asarray(s[0]), 1)[0] * 3
    np.testing.assert_allclose(st_[0], [2.5, np.sqrt(1.25 + 1e-6), 1, 4, 3, trend,
                                        np.sqrt(d.var() + 1e-6), np.log(np.sqrt(d.var() + 1e-6))],
                               rtol=1e-5)
    assert st_[1, 6] == pytest.approx(1e-3) and np.isfinite(st_).all()  # constant series
    g = jax.grad(lambda x: series_stats(x).sum())(s)
    assert np.isfinite(np.asarray(g)).all()
    assert np.asarray(series_stats(s[:, :1]))[:, 5:].tolist() == [[0, 0, 0]] * 2  # T = 1
    # the linear skip sees the statistics too: its kernel has T + 8 series inputs
    m = _model(time_series_tokenizer="linear_stats", linear_skip=True)
    b = _batch()
    p = jax.eval_shape(m.init, jax.random.key(0), *b[:4])  # shapes only
    p0 = jax.eval_shape(_model(linear_skip=True).init, jax.random.key(0), *b[:4])
    assert (p["params"]["skip"]["kernel"].shape[0]
            == p0["params"]["skip"]["kernel"].shape[0] + N_SERIES_STATS)
    assert p["params"]["ts_proj"]["kernel"].shape[0] == b[3].shape[1] + N_SERIES_STATS


def test_d_model_not_divisible_by_categorical_features():
    # the spec's 256 // 3 breaks; here 10 = 4 + 3 + 3 (and 256 = 86 + 85 + 85)
    assert categorical_widths(256, 3) == (86, 85, 85)
    m = _model(d_model=10, n_heads=2)
    b = _batch()
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])
    shapes = [p["params"][f"cat_embed_{i}"]["embedding"].shape[1] for i in range(3)]
    assert shapes == [4, 3, 3]
    assert np.isfinite(np.asarray(jax.jit(m.apply)(p, *b[:4]))).all()


def test_padding_is_masked():
    m = _model(linear_skip=True)
    b = _batch()
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])
    z = jax.jit(m.apply)(p, *b[:4])
    longer = np.concatenate([b.text, np.zeros((4, 5), np.int32)], axis=1)  # more PAD
    z2 = jax.jit(m.apply)(p, b.numeric, b.categorical, longer, b.time_series)
    np.testing.assert_allclose(np.asarray(z), np.asarray(z2), rtol=1e-5, atol=1e-5)


def test_no_text_and_no_series_modalities():
    m = build_model(CreditModelConfig(d_model=16, n_heads=2, n_layers=1), 5, CARDS, 2)
    b = _batch(lt=0, t=0)
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])
    assert jax.jit(m.apply)(p, *b[:4]).shape == (4,)


def test_dropout_is_deterministic_per_key_and_off_in_eval():
    m = _model()  # the default dropout (0.1 on branches and attention); the init program is
    b = _batch()  # the tokenizer test's first case (shared compile)
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])
    # compiled once each (op-by-op, the forward pass compiles ~140 small programs)
    train_mode = jax.jit(lambda key: m.apply(p, *b[:4], deterministic=False,
                                             rngs={"dropout": key}))
    eval_mode = jax.jit(m.apply)
    a1, a2 = train_mode(jax.random.key(1)), train_mode(jax.random.key(1))
    np.testing.assert_array_equal(np.asarray(a1), np.asarray(a2))
    assert not np.array_equal(np.asarray(a1), np.asarray(train_mode(jax.random.key(2))))
    e1, e2 = eval_mode(p, *b[:4]), eval_mode(p, *b[:4])
    np.testing.assert_array_equal(np.asarray(e1), np.asarray(e2))


def test_dropout_rate_is_traced_and_vmappable():
    m = _model(attention_dropout=0.0)  # branch dropout: the default 0.1, overridden by the rate
    b = _batch()
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])
    key = jax.random.key(1)

    @jax.jit
    def train_mode(rate):
        return m.apply(p, *b[:4], deterministic=False, dropout_rate=rate, rngs={"dropout": key})

    # rate 0 in train mode is the eval forward pass; one compiled function serves every rate
    np.testing.assert_allclose(np.asarray(train_mode(0.0)),
                               np.asarray(jax.jit(m.apply)(p, *b[:4])), rtol=1e-6, atol=1e-6)
    rates = np.asarray([0.0, 0.1, 0.5], np.float32)
    z = jax.vmap(train_mode)(rates)
    assert z.shape == (3, 4)
    np.testing.assert_allclose(np.asarray(z[0]), np.asarray(train_mode(0.0)), atol=1e-6)
    assert not np.allclose(np.asarray(z[1]), np.asarray(z[2]))


def test_integrated_gradients_completeness():
    m = _model(categorical_tokenizer="split", numerical_tokenizer="per_feature", linear_skip=True)
    b = _batch()
    p = jax.jit(m.init)(jax.random.key(0), *b[:4])["params"]
    # give the zero-initialised deep head some weight so the check is not trivial
    p = jax.tree.map(lambda a: a + 0.1 if a.ndim == 2 and a.shape[1] == 1 else a, p)
    att = integrated_gradients(m, p, b, steps=64)
    assert att.values.shape == (4, 5 + 3 + 1 + 1)
    np.testing.assert_allclose(att.values.sum(1), att.logit - att.baseline_logit, atol=2e-2)


def test_feature_space_names():
    from quantjax.data.credit import CreditEncoder

    enc = CreditEncoder(("a", "b"), (0.0, 0.0), (0.0, 0.0), (1.0, 1.0), ("b",), ("c",),
                        (("x", "y"),), "desc", ("<pad>", "<oov>", "w"), 4,
                        ("bal_m01", "bal_m02"), (0.0, 0.0), 0.0, 1.0, "t", "1")
    fs = feature_space(enc)
    assert fs.names == ("a", "b", "b_missing", "c", "bal history", "desc")
    assert fs.modality.tolist() == [0, 0, 0, 1, 2, 3]


def test_length_bucketed_scoring_matches_padded():
    from quantjax.credit.bucketing import bucketed_logits, plan_chunks, text_lengths

    m = _model(linear_skip=True)
    # parameters do not depend on the batch size or the text length: the padding test's init
    p = jax.jit(m.init)(jax.random.key(0), *_batch()[:4])["params"]
    b = _batch(n=11, lt=9, seed=3)
    rng = np.random.default_rng(1)
    lens = rng.integers(0, 10, 11)
    text = np.where(np.arange(9)[None] < lens[:, None], b.text + 2, 0).astype(np.int32)
    b = b._replace(text=text)
    assert text_lengths(text).tolist() == lens.tolist()
    plan = plan_chunks(text, 4, multiple=2)
    assert sorted(np.concatenate([c.rows for c in plan]).tolist()) == list(range(11))
    assert all(2 <= c.text_len <= 9 and lens[c.rows].max() <= c.text_len for c in plan)
    ref = np.asarray(jax.jit(m.apply)({"params": p}, *b[:4]))
    got = bucketed_logits(m, p, b, chunk=4, multiple=2)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)
    # every chunk through the CPU-tuned executable (YNNPACK fusions off): same logits
    tuned = bucketed_logits(m, p, b, chunk=4, multiple=2, tuned_min_rows=1)
    np.testing.assert_allclose(tuned, ref, rtol=1e-5, atol=1e-5)


def test_credit_task_loss_uses_traced_dropout_rate():
    from quantjax.credit.config import CreditConfig
    from quantjax.credit.task import make_task, to_arrays
    from quantjax.train.trainer import hparams_from_config

    cfg = CreditConfig(model=CreditModelConfig(d_model=16, n_heads=2, n_layers=1, ffn_mult=2,
                                               attention_dropout=0.0))
    m = build_model(cfg.model, 5, CARDS, 30)
    # the traced-rate test's model and batch shapes: its init and eval programs are reused
    data = to_arrays(_batch(n=4, seed=4))
    task = make_task(m, cfg, 4, data)
    # everything compiled (op-by-op, init and the loss compile ~260 small programs)
    params = jax.jit(m.init)(jax.random.key(0), *data[:4])["params"]
    hp = hparams_from_config(cfg.train, 0.0, 2)
    rows = np.arange(4)

    def loss(rate):
        return task.loss_fn(params, {"train": data}, rows, hp._replace(dropout_rate=rate),
                            jax.random.key(2))[0]

    losses = jax.jit(jax.vmap(loss))(np.asarray([0.0, 0.0, 0.6], np.float32))
    assert losses[0] == losses[1] and losses[0] != losses[2]
    eval_logits = jax.jit(m.apply)({"params": params}, *data[:4])
    unbatched = jax.jit(lambda: task.loss_fn(params, {"train": data}, rows, hp,
                                             jax.random.key(2))[0])
    np.testing.assert_allclose(float(losses[0]), float(unbatched()), rtol=1e-6)
    assert np.isfinite(np.asarray(eval_logits)).all()
