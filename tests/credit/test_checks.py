"""Cheap checks of the credit code (no training): pooled CV metric settings, config/schema
mismatches, scoring output-name clashes, error-message values, boolean numeric columns,
the focal loss and the shipped credit configs."""

from __future__ import annotations

import math

import jax.numpy as jnp
import numpy as np
import pandas as pd
import pytest

from quantjax.cli.main import main
from quantjax.config import from_dict, load
from quantjax.config.credit_data import SynthCreditConfig
from quantjax.config.credit_schema import CreditSchema
from quantjax.credit import metrics as credit_metrics
from quantjax.credit import pipeline as credit_pipeline
from quantjax.credit.config import CreditConfig, CreditDecisionConfig, CreditModelConfig
from quantjax.credit.scoring import check_passthrough_columns, output_columns
from quantjax.credit.task import binary_loss
from quantjax.data.credit import check_credit_frame, read_credit_table, stratified_split
from quantjax.errors import ConfigError, DataError, UserError
from quantjax.models.credit import categorical_widths, check_model_inputs

from support.paths import GERMAN_CSV, ROOT

GERMAN = GERMAN_CSV
GERMAN_SCHEMA = ROOT / "configs" / "credit_schema_german.yaml"
TINY = ROOT / "configs" / "credit_transformer_tiny.yaml"


# --------------------------------------------------------------------------- pooled CV metrics


def _fold(rng, n: int, settings: dict | None) -> dict:
    y = np.r_[np.zeros(n // 2, int), np.ones(n - n // 2, int)]
    p = np.clip(0.3 * y + rng.uniform(0.0, 0.7, n), 0.0, 1.0)
    f = {"test": {"auc": credit_metrics.auc(y, p), "logreg_auc": 0.5},
         "calibration": {"temperature": 1.0, "logit_shift": 0.0},
         "_oof": {"y": y, "p": p, "p_logreg": rng.uniform(size=n)}}
    if settings is not None:
        f["metric_settings"] = settings
    return f


def test_pooled_cv_metrics_use_the_configured_threshold_and_bins():
    rng = np.random.default_rng(0)
    dc = from_dict(CreditDecisionConfig, {"threshold": 0.3, "ece_bins": 4})
    folds = [_fold(rng, 40, credit_pipeline.metric_settings(dc)) for _ in range(3)]
    y = np.concatenate([f["_oof"]["y"] for f in folds])
    p = np.concatenate([f["_oof"]["p"] for f in folds])
    want = credit_metrics.all_metrics(y, p, 0.3, 4)
    assert want["accuracy"] != credit_metrics.all_metrics(y, p)["accuracy"]  # the settings matter here
    assert want["ece"] != credit_metrics.all_metrics(y, p)["ece"]
    for out in (credit_pipeline.summarize_cv(folds), credit_pipeline.summarize_cv(folds, dc)):  # recorded or passed
        pooled = out["cv"]["pooled"]
        for k in ("accuracy", "precision", "recall", "f1", "fpr", "ece", "auc"):
            assert pooled[k] == pytest.approx(want[k]), k
        assert out["cv"]["metric_settings"] == {"threshold": 0.3, "ece_bins": 4}


def test_pooled_cv_metrics_refuse_mixed_or_unknown_settings():
    rng = np.random.default_rng(1)
    a, b = {"threshold": 0.5, "ece_bins": 10}, {"threshold": 0.4, "ece_bins": 10}
    with pytest.raises(UserError, match=r"cv fold 1: .*decision.threshold=0.4"):
        credit_pipeline.summarize_cv([_fold(rng, 20, a), _fold(rng, 20, b)])
    dc = from_dict(CreditDecisionConfig, {"threshold": 0.4})
    with pytest.raises(UserError, match="cv fold 0"):
        credit_pipeline.summarize_cv([_fold(rng, 20, a), _fold(rng, 20, a)], dc)
    with pytest.raises(UserError, match="metric_settings"):
        credit_pipeline.summarize_cv([_fold(rng, 20, None), _fold(rng, 20, None)])
    # given the config, folds without a record use it
    out = credit_pipeline.summarize_cv([_fold(rng, 20, None), _fold(rng, 20, None)], dc)
    assert out["cv"]["metric_settings"]["threshold"] == 0.4


# --------------------------------------------------------------------------- model vs schema


def test_split_tokenizer_narrower_than_categorical_features_is_a_config_error():
    with pytest.raises(ConfigError, match=r"model\.d_model: 8 .* 13 categorical.*"
                       r"model\.categorical_tokenizer"):
        categorical_widths(8, 13)
    cfg = from_dict(CreditModelConfig, {"d_model": 8, "n_heads": 2})
    with pytest.raises(ConfigError, match="model.d_model"):
        check_model_inputs(cfg, 13)
    check_model_inputs(cfg, 8)
    check_model_inputs(from_dict(CreditModelConfig, {"d_model": 8, "n_heads": 2,
                                                     "categorical_tokenizer": "per_feature"}), 13)


def test_train_credit_with_too_narrow_split_tokenizer_exits_2_before_training(tmp_path, capsys):
    work = tmp_path / "run"
    rc = main(["train", "credit", "--config", str(TINY), "--set", "model.d_model=8",
               "--set", "model.categorical_tokenizer=split", "--data", str(GERMAN),
               "--schema", str(GERMAN_SCHEMA), "--workdir", str(work), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "model.d_model" in err and "model.categorical_tokenizer" in err
    assert not work.exists()  # nothing was written: checked before training


# --------------------------------------------------------------------------- scoring output names


def test_scoring_input_columns_clashing_with_output_columns_are_named():
    schema = CreditSchema(numeric=("a",), categorical=("c",), text=None, time_series=(),
                          target="y", positive="bad")
    dc = CreditDecisionConfig()
    assert output_columns(dc, explain=False) == ["risk_score", "points", "risk_category",
                                                 "decision", "confidence"]
    assert "reason_4" in output_columns(dc) and "importance_text" in output_columns(dc)
    assert "reason_4_attribution" in output_columns(dc) and "reason_1_detail" in output_columns(dc)
    ok = ["id", "a", "c", "y", "note"]
    assert check_passthrough_columns(ok, schema, dc) == ["id", "note"]
    bad = ["id", "a", "risk_score", "c", "row", "reason_2", "importance_numerical"]
    with pytest.raises(UserError) as e:
        check_passthrough_columns(bad, schema, dc)
    msg = str(e.value)
    for c in ("'risk_score'", "'row'", "'reason_2'", "'importance_numerical'"):
        assert c in msg
    assert "'id'" not in msg
    # reason/importance columns are only written with explanations
    assert check_passthrough_columns(["reason_2"], schema, dc, explain=False) == ["reason_2"]
    with pytest.raises(UserError, match="'decision'"):
        check_passthrough_columns(["decision"], schema, dc, explain=False)


# --------------------------------------------------------------------------- data messages


def _schema() -> CreditSchema:
    return CreditSchema(numeric=("a",), categorical=("c",), text=None, time_series=(),
                        target="y", positive="bad")


def test_error_messages_show_plain_values():
    df = pd.DataFrame({"a": [1.0, 2.0], "c": [1.0, 0.5], "y": ["bad", "good"]})
    with pytest.raises(DataError) as e:
        check_credit_frame(df, _schema())
    assert "(e.g. 0.5 at row 1)" in str(e.value) and "np." not in str(e.value)
    df = pd.DataFrame({"a": [1.0, 2.0], "c": ["x", "y"], "y": [1.0, 2.5]})
    with pytest.raises(DataError) as e:
        check_credit_frame(df, _schema())
    assert "value 2.5 at row 1" in str(e.value) and "np." not in str(e.value)
    df = pd.DataFrame({"a": np.array([1.0, "x"], dtype=object), "c": ["x", "y"],
                       "y": ["bad", "good"]})
    with pytest.raises(DataError, match=r"value 'x' at row 1"):
        check_credit_frame(df, _schema())
    with pytest.raises(UserError) as e:
        stratified_split(np.array([0, 1, 0, 1]), np.array([0.5, 0.6]))
    assert "[0.5, 0.6]" in str(e.value) and "np." not in str(e.value)
    with pytest.raises(DataError) as e:
        stratified_split(np.array([0, 1, 2]))
    assert "value 2 at row 2" in str(e.value)


def test_boolean_numeric_column_is_read_as_0_1(tmp_path):
    df = pd.DataFrame({"a": [True, False, True], "c": ["x", "y", "x"],
                       "y": ["bad", "good", "good"]})
    assert check_credit_frame(df, _schema())["a"].tolist() == [1.0, 0.0, 1.0]
    # pandas reads true/false (any case) in a CSV as booleans; missing stays missing
    p = tmp_path / "b.csv"
    p.write_text("a,c,y\ntrue,x,bad\nFALSE,y,good\n,x,good\n")
    out = read_credit_table(p, _schema())["a"].to_numpy()
    np.testing.assert_array_equal(out[:2], [1.0, 0.0])
    assert np.isnan(out[2])
    p.write_text("a,c,y\nyes,x,bad\nno,y,good\n")  # other words are not numbers
    with pytest.raises(DataError, match="column 'a' must be numeric: value 'yes' at row 0"):
        read_credit_table(p, _schema())
    p.write_text("a,c,y\n5,x,bad\ntrue,y,good\n")  # next to numbers, not a boolean either
    with pytest.raises(DataError, match="column 'a' must be numeric: value 'true' at row 1"):
        read_credit_table(p, _schema())


# --------------------------------------------------------------------------- focal loss


def test_focal_loss_matches_hand_computation_and_gamma_0_is_weighted_bce():
    z = [2.0, -1.0, 0.5, -3.0]
    y = [1, 0, 0, 1]
    w = (1.0, 3.0)  # (repaid, default)
    gamma = 2.0
    num = den = 0.0
    for zi, yi in zip(z, y, strict=True):
        p = 1.0 / (1.0 + math.exp(-zi))
        pt = p if yi else 1.0 - p
        num += w[yi] * (1.0 - pt) ** gamma * -math.log(pt)
        den += w[yi]
    zj, yj, wj = jnp.array(z), jnp.array(y), jnp.array(w)
    got = float(binary_loss(zj, yj, wj, "focal", gamma))
    assert got == pytest.approx(num / den, rel=1e-5)
    bce = float(binary_loss(zj, yj, wj, "weighted_bce"))
    assert float(binary_loss(zj, yj, wj, "focal", 0.0)) == pytest.approx(bce, rel=1e-6)
    assert got < bce  # down-weights the easy rows


# --------------------------------------------------------------------------- shipped configs


def test_spec_config_loads_with_spec_defaults():
    cfg = load(CreditConfig, ROOT / "configs" / "credit_transformer.yaml")
    m = cfg.model
    assert isinstance(m, CreditModelConfig) and isinstance(cfg.decision, CreditDecisionConfig)
    assert (m.n_layers, m.n_heads, m.d_model, m.ffn_mult) == (6, 8, 256, 4)
    assert m.dropout == 0.1 and isinstance(m.dropout, float)
    assert m.categorical_tokenizer == "split"
    assert cfg.data.split == (0.7, 0.15, 0.15) and isinstance(cfg.data.split, tuple)
    assert isinstance(cfg.train.learning_rate, float) and isinstance(cfg.train.epochs, int)
    assert (cfg.decision.low, cfg.decision.high) == (0.1, 0.3)
    from_dict(SynthCreditConfig, dict(cfg.data.synthetic))
    check_model_inputs(m, len(load(CreditSchema, GERMAN_SCHEMA).categorical))


def test_synth_config_loads():
    cfg = load(CreditConfig, ROOT / "configs" / "credit_transformer_synth.yaml")
    assert isinstance(cfg.model, CreditModelConfig)
    assert (cfg.model.d_model, cfg.model.n_heads, cfg.model.n_layers) == (16, 2, 1)
    assert cfg.data.vocab_size == 256 and cfg.train.epochs == 12
    synth = from_dict(SynthCreditConfig, dict(cfg.data.synthetic))
    assert synth.rows == 20000
