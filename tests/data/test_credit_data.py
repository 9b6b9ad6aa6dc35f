"""Synthetic credit generator, schema loading, the credit table reader, encoder and splits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.config import load
from quantjax.config.credit_data import SynthCreditConfig
from quantjax.config.credit_schema import CreditSchema
from quantjax.data.credit import (
    CreditBatch,
    CreditEncoder,
    encode,
    fit_encoder,
    read_credit_table,
    stratified_kfold,
    stratified_split,
    target_array,
    tokenize,
)
from quantjax.data.synth_credit import (
    expected_auc,
    generate_credit,
    make_german_like,
    read_credit_meta,
    roc_auc,
    write_credit,
)
from quantjax.errors import ConfigError, DataError, UserError

from support.paths import GERMAN_CSV, ROOT

GERMAN_CSV = GERMAN_CSV
SYNTH_SCHEMA = ROOT / "configs" / "credit_schema_synthetic.yaml"
GERMAN_SCHEMA = ROOT / "configs" / "credit_schema_german.yaml"


@pytest.fixture(scope="module")
def synth():
    return generate_credit(SynthCreditConfig(rows=1500, seed=1))


def small_schema(**kw) -> CreditSchema:
    base = dict(numeric=("a", "b"), categorical=("c",), text="t", time_series=("s1", "s2"),
                target="y", positive="bad")
    base.update(kw)
    return CreditSchema(**base)


def small_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "a": [1.0, 2.0, np.nan, 4.0, 10.0],
        "b": [5.0, 5.0, 5.0, 5.0, 5.0],
        "c": ["x", "y", None, "x", "z"],
        "t": ["Hello world", "hello, WORLD again", "", None, "foo_bar hello"],
        "s1": [1.0, 2.0, 3.0, np.nan, 5.0],
        "s2": [2.0, 4.0, np.nan, 8.0, 10.0],
        "y": ["good", "bad", "good", "bad", "good"],
    })


# --------------------------------------------------------------------------- generator


def test_generator_shapes_defaults_and_metadata(synth):
    df, meta = synth
    cols = meta["columns"]
    assert len(cols["numeric"]) == 50
    assert cols["categorical"] == ["purpose", "region", "occupation"]
    assert len(cols["time_series"]) == 12 and cols["time_series"][0] == "ts_balance_m01"
    assert len(df) == 1500 and df.shape[1] == 1 + 50 + 3 + 1 + 12 + 2
    for name, k in zip(cols["categorical"], (10, 20, 15), strict=True):
        assert df[name].nunique() <= k
        assert df[name].isna().any()  # missing categories exist
    assert df[cols["numeric"]].isna().to_numpy().mean() == pytest.approx(0.02, abs=0.005)
    assert set(df["default"].unique()) <= {0, 1}
    assert 0.15 < meta["default_rate"] < 0.25
    assert ((df["true_pd"] > 0) & (df["true_pd"] < 1)).all()
    assert 0.5 < meta["bayes_auc"] < 1 and 0.5 < meta["bayes_auc_expected"] < 1
    assert abs(meta["bayes_auc"] - meta["bayes_auc_expected"]) < 0.05
    assert meta["config"]["cardinalities"] == [10, 20, 15]
    for key in ("seed", "model_seed", "rows", "intercept", "known_model", "default_rate_target"):
        assert key in meta
    words = df["description"].str.split()
    assert words.str.len().max() <= 40
    assert (df["description"] == "").any()  # some empty texts
    json.dumps(meta, allow_nan=False)


def test_generator_reproduces_known_model(synth):
    """true_pd = sigmoid(intercept + f + g + h + k) using only the metadata's description."""
    df, meta = synth
    km, cols = meta["known_model"], meta["columns"]
    cfg = meta["config"]
    ok = ~df[cols["numeric"] + cols["categorical"] + cols["time_series"]].isna().any(axis=1)
    ok &= df["description"] != ""
    d = df[ok].reset_index(drop=True)
    z = {}
    for f in km["numeric"]["features"]:
        v = d[f["name"]].to_numpy()
        v = np.log(v) if f["kind"] == "log" else v
        z[f["name"]] = (v - f["location"]) / f["scale"]
    names = [f["name"] for f in km["numeric"]["features"]]
    f_part = sum(f["beta"] * z[f["name"]] for f in km["numeric"]["features"])
    f_part = cfg["numeric_signal"] * (f_part + cfg["numeric_interaction"] * z[names[0]] * z[names[1]])
    g_part = sum(
        d[c].map({v: e["effect"] for v, e in vals.items()}).to_numpy()
        for c, vals in km["categorical"]["features"].items()
    )
    g_part = cfg["categorical_signal"] * g_part / np.sqrt(len(cols["categorical"]))
    h_part = np.zeros(len(d))
    for items in km["text"]["slots"].values():
        for it in items:
            h_part += np.where(d["description"].str.contains(" " + it["phrase"] + " ", regex=False)
                               | d["description"].str.endswith(" " + it["phrase"]),
                               it["effect"], 0.0)
    h_part = cfg["text_signal"] * (h_part - km["text"]["slot_mean"]) / km["text"]["slot_std"]
    s = d[cols["time_series"]].to_numpy()
    t = np.arange(s.shape[1]) / (s.shape[1] - 1) - 0.5
    slope = (s - s.mean(1, keepdims=True)) @ t / (t @ t)
    vol = np.diff(s, axis=1).std(axis=1) / np.sqrt(2)
    k_part = cfg["series_signal"] * (slope / 0.2 + 0.5 * (np.log(vol + 1e-4) - np.log(0.03)) / 0.5
                                     + 0.5 * (s.mean(1) - 0.4) / 0.2)
    logit = meta["intercept"] + f_part + g_part + h_part + k_part
    np.testing.assert_allclose(1 / (1 + np.exp(-logit)), d["true_pd"], atol=2e-6)


def test_generator_same_seed_identical_bytes(tmp_path):
    cfg = SynthCreditConfig(rows=300, seed=5)
    for suffix in (".csv", ".parquet"):
        a, ma = write_credit(*generate_credit(cfg), tmp_path / f"a{suffix}")
        b, mb = write_credit(*generate_credit(cfg), tmp_path / f"b{suffix}")
        assert a.read_bytes() == b.read_bytes()
        assert ma.read_bytes() == mb.read_bytes()
        assert ma.name == f"a{suffix}.meta.json"
    assert read_credit_meta(tmp_path / "a.csv")["rows"] == 300
    other, _ = generate_credit(SynthCreditConfig(rows=300, seed=6))
    assert not other.equals(generate_credit(cfg)[0])


def test_model_seed_fixes_the_model_across_seeds():
    _, m1 = generate_credit(SynthCreditConfig(rows=50, seed=1))
    _, m2 = generate_credit(SynthCreditConfig(rows=50, seed=2))
    assert m1["known_model"] == m2["known_model"] and m1["intercept"] == m2["intercept"]
    _, m3 = generate_credit(SynthCreditConfig(rows=50, seed=1, model_seed=9))
    assert m3["known_model"] != m1["known_model"]


def test_generator_knobs():
    cfg = SynthCreditConfig(rows=400, vocab_size=150, cardinalities=(3, 4, 5, 6), n_numeric=5,
                            n_informative=3, series_len=6, missing_fraction=0.0,
                            missing_category_fraction=0.0, default_rate=0.5)
    df, meta = generate_credit(cfg)
    words = {w for t in df["description"] for w in t.split()}
    assert len(words) <= 150
    assert meta["text"]["grammar_words"] + meta["text"]["noise_words"] == 150
    assert meta["columns"]["categorical"][3] == "category_4"
    assert len(meta["columns"]["numeric"]) == 5 and len(meta["columns"]["time_series"]) == 6
    assert not df[meta["columns"]["numeric"]].isna().any().any()
    assert 0.4 < meta["default_rate"] < 0.6
    with pytest.raises(ConfigError, match="n_informative"):
        load(SynthCreditConfig, None, ["n_informative=60"])
    with pytest.raises(ConfigError, match="vocab_size"):
        load(SynthCreditConfig, None, ["vocab_size=20000"])


def test_synth_config_yaml_matches_dataclass_defaults():
    assert load(SynthCreditConfig, ROOT / "configs" / "synth_credit.yaml") == SynthCreditConfig()


def test_auc_helpers():
    s = np.array([0.1, 0.4, 0.4, 0.8, 0.2])
    y = np.array([0, 1, 0, 1, 0])
    pairs = [(i, j) for i in range(5) for j in range(5) if y[i] == 1 and y[j] == 0]
    brute = np.mean([1.0 if s[i] > s[j] else 0.5 if s[i] == s[j] else 0.0 for i, j in pairs])
    assert roc_auc(s, y) == pytest.approx(brute)
    rng = np.random.default_rng(0)
    p = rng.uniform(0.05, 0.6, 200)
    mc = np.mean([roc_auc(p, rng.random(200) < p) for _ in range(400)])
    assert expected_auc(p) == pytest.approx(mc, abs=0.01)


def test_german_like_file_is_reproducible():
    df = make_german_like(200, 0)
    assert df.shape == (200, 21)
    assert df.to_csv(index=False, lineterminator="\n") == GERMAN_CSV.read_text()


# --------------------------------------------------------------------------- schema


def test_schema_files_load():
    g = load(CreditSchema, GERMAN_SCHEMA)
    assert len(g.numeric) == 7 and len(g.categorical) == 13
    assert g.text is None and g.time_series == () and g.target == "class" and g.positive == "bad"
    s = load(CreditSchema, SYNTH_SCHEMA)
    assert len(s.numeric) == 50 and len(s.time_series) == 12 and s.positive == "1"


def test_schema_strictness(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("numeric: [a]\ntarget: y\npositive: bad\nnumerics: [b]\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'numerics'; valid keys: numeric, "):
        load(CreditSchema, p)
    p.write_text("numeric: [a]\ntarget: y\npositive: 1\n")
    assert load(CreditSchema, p).positive == "1"
    p.write_text("numeric: [a]\ntarget: y\npositive: yes\n")
    with pytest.raises(ConfigError, match="quote the label"):
        load(CreditSchema, p)
    p.write_text("numeric: [a]\ncategorical: [a]\ntarget: y\npositive: bad\n")
    with pytest.raises(ConfigError, match="'a' is listed twice"):
        load(CreditSchema, p)
    p.write_text("numeric: [a]\npositive: bad\n")
    with pytest.raises(ConfigError, match="missing required config key 'target'"):
        load(CreditSchema, p)
    p.write_text("numeric: a\ntarget: y\npositive: bad\n")
    with pytest.raises(ConfigError, match="numeric"):
        load(CreditSchema, p)
    p.write_text("target: y\npositive: bad\n")
    with pytest.raises(ConfigError, match="no input columns"):
        load(CreditSchema, p)


# --------------------------------------------------------------------------- reader


def write_csv(tmp_path, text: str, name: str = "x.csv") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_read_errors_name_column_and_row(tmp_path):
    s = small_schema()
    head = "a,b,c,t,s1,s2,y\n"
    p = write_csv(tmp_path, "a,c,t,s1,s2,y\n1,x,hi,1,2,bad\n")
    with pytest.raises(DataError, match="missing column 'b'"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, head + "1,2,x,hi,1,2,bad\n3,oops,y,hi,1,2,good\n")
    with pytest.raises(DataError, match=r"column 'b' must be numeric: value 'oops' at row 1"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, head + "1,2,x,hi,1,2,bad\n3,4,y,hi,x1,2,good\n")
    with pytest.raises(DataError, match=r"column 's1' must be numeric: value 'x1' at row 1"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, head + "1,inf,x,hi,1,2,bad\n")
    with pytest.raises(DataError, match="column 'b': infinite value at row 0"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, head + "1,2,x,hi,1,2,good\n3,4,y,hi,1,2,good\n")
    with pytest.raises(DataError, match="positive label 'bad' not found in target column 'y'"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, head + "1,2,x,hi,1,2,good\n3,4,y,hi,1,2,bad\n3,4,y,hi,1,2,Bad\n")
    with pytest.raises(DataError, match="target column 'y' has 3 distinct values"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, head + "1,2,x,hi,1,2,good\n3,4,y,hi,1,2,\n")
    with pytest.raises(DataError, match="target column 'y': missing value at row 1"):
        read_credit_table(p, s)
    p = write_csv(tmp_path, "a,b,c,t,s1,s2\n1,2,x,hi,1,2\n")
    with pytest.raises(DataError, match="missing target column 'y'"):
        read_credit_table(p, s)
    with pytest.raises(DataError, match="not found"):
        read_credit_table(tmp_path / "nope.csv", s)
    with pytest.raises(DataError, match="empty"):
        read_credit_table(write_csv(tmp_path, ""), s)
    with pytest.raises(DataError, match="unsupported file type"):
        read_credit_table(write_csv(tmp_path, "a\n", "x.xlsx"), s)


def test_read_type_errors_in_parquet(tmp_path):
    s = small_schema()
    df = small_frame()
    df["c"] = [1.5, 2.0, 3.0, 4.0, 5.0]
    df.to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match=r"column 'c' is categorical but holds non-integer .* row 0"):
        read_credit_table(tmp_path / "x.parquet", s)
    df = small_frame()
    df["t"] = [1, 2, 3, 4, 5]
    df.to_parquet(tmp_path / "x.parquet")
    with pytest.raises(DataError, match="column 't' is the text column but holds numbers"):
        read_credit_table(tmp_path / "x.parquet", s)


def test_scoring_file_without_target(tmp_path):
    s = small_schema()
    df = small_frame()
    enc = fit_encoder(df, s)
    p = tmp_path / "score.csv"
    df.drop(columns="y").to_csv(p, index=False)
    scored = read_credit_table(p, s, require_target=False)
    assert (encode(enc, scored).target == -1).all()
    df2 = df.copy()
    df2.loc[2, "y"] = None
    assert encode(enc, df2).target.tolist() == [0, 1, -1, 1, 0]


def test_integer_categories_and_codes_are_strings(tmp_path):
    s = small_schema()
    p = write_csv(tmp_path, "a,b,c,t,s1,s2,y\n1,2,007,hi,1,2,bad\n3,4,7,hi,1,2,good\n")
    df = read_credit_table(p, s)
    assert df["c"].tolist() == ["007", "7"]
    d = small_frame()
    d["c"] = [1.0, 2.0, np.nan, 1.0, 3.0]  # integer codes with a missing value (float in pandas)
    enc = fit_encoder(d, s)
    assert enc.categories == (("1", "2", "3"),)
    assert encode(enc, d).categorical[:, 0].tolist() == [2, 3, 1, 2, 4]


def test_csv_and_parquet_encode_identically(tmp_path, synth):
    df, _ = synth
    s = load(CreditSchema, SYNTH_SCHEMA)
    df.to_csv(tmp_path / "c.csv", index=False)
    df.to_parquet(tmp_path / "c.parquet", index=False)
    a = read_credit_table(tmp_path / "c.csv", s)
    b = read_credit_table(tmp_path / "c.parquet", s)
    enc = fit_encoder(a.iloc[:1000], s)
    assert enc == fit_encoder(b.iloc[:1000], s)
    for x, y in zip(encode(enc, a), encode(enc, b), strict=True):
        np.testing.assert_array_equal(x, y)


# --------------------------------------------------------------------------- encoder


def test_numeric_rules():
    s = small_schema()
    df = small_frame()
    enc = fit_encoder(df, s)
    # train stats on observed values; imputed with the median
    obs = np.array([1.0, 2.0, 4.0, 10.0])
    assert enc.numeric_median[0] == 3.0
    assert enc.numeric_mean[0] == pytest.approx(obs.mean())
    assert enc.numeric_std[0] == pytest.approx(obs.std())
    assert enc.numeric_std[1] == 1.0  # constant column
    assert enc.indicator_columns == ("a",)  # only features with missing values in train
    assert enc.numeric_names == ("a", "b", "a_missing")
    b = encode(enc, df)
    assert b.numeric.dtype == np.float32 and b.numeric.shape == (5, 3)
    np.testing.assert_allclose(b.numeric[:, 0], (np.array([1, 2, 3, 4, 10]) - obs.mean()) / obs.std(),
                               rtol=1e-6)
    np.testing.assert_array_equal(b.numeric[:, 1], 0.0)
    np.testing.assert_array_equal(b.numeric[:, 2], [0, 0, 1, 0, 0])
    # a value missing at scoring time in a feature with no missing in train: median, no flag
    new = df.copy()
    new.loc[0, "b"] = np.nan
    assert encode(enc, new).numeric[0, 1] == 0.0
    bad = df.copy()
    bad["a"] = np.nan
    with pytest.raises(DataError, match="numeric column 'a' has no values"):
        fit_encoder(bad, s)


def test_categorical_rules():
    s = small_schema()
    enc = fit_encoder(small_frame(), s)
    assert enc.categories == (("x", "y", "z"),)
    assert enc.cardinalities == (5,)
    assert enc.categorical_names == ("c",)
    new = small_frame()
    new["c"] = ["z", "never-seen", None, "x", "y"]
    b = encode(enc, new)
    assert b.categorical.dtype == np.int32
    assert b.categorical[:, 0].tolist() == [4, 0, 1, 2, 3]  # unseen -> 0, missing -> 1


def test_text_rules():
    assert tokenize("Hello, WORLD_again! 42x") == ["hello", "world", "again", "42x"]
    assert tokenize("") == [] and tokenize(None) == []
    s = small_schema()
    enc = fit_encoder(small_frame(), s, max_text_len=3)
    # hello x4, world x2, then again/bar/foo once each (alphabetical)
    assert enc.vocab == ("<pad>", "<oov>", "hello", "world", "again", "bar", "foo")
    assert enc.vocab_size == 7 and enc.text_len == 3
    new = small_frame()
    new["t"] = ["hello zebra world again foo", "", None, "WORLD", "unknown"]
    b = encode(enc, new)
    assert b.text.dtype == np.int32 and b.text.shape == (5, 3)
    assert b.text.tolist() == [[2, 1, 3], [0, 0, 0], [0, 0, 0], [3, 0, 0], [1, 0, 0]]
    capped = fit_encoder(small_frame(), s, vocab_size=4)
    assert capped.vocab == ("<pad>", "<oov>", "hello", "world")
    frequent = fit_encoder(small_frame(), s, min_freq=2)
    assert frequent.vocab == ("<pad>", "<oov>", "hello", "world")


def test_time_series_rules():
    s = small_schema()
    df = small_frame()
    enc = fit_encoder(df, s)
    assert enc.series_len == 2 and enc.series_median == (2.5, 6.0)
    obs = np.array([1, 2, 3, 5, 2, 4, 8, 10], dtype=float)
    assert enc.series_mean == pytest.approx(obs.mean())
    b = encode(enc, df)
    assert b.time_series.shape == (5, 2, 1) and b.time_series.dtype == np.float32
    filled = np.array([[1, 2], [2, 4], [3, 6], [2.5, 8], [5, 10]], dtype=float)
    np.testing.assert_allclose(b.time_series[:, :, 0], (filled - obs.mean()) / obs.std(), rtol=1e-6)


def test_schema_without_text_or_series():
    s = small_schema(text=None, time_series=())
    df = small_frame()
    enc = fit_encoder(df, s)
    b = encode(enc, df)
    assert b.text.shape == (5, 0) and b.time_series.shape == (5, 0, 1)
    assert enc.vocab_size == 2 and enc.text_len == 0 and enc.series_len == 0


def test_encoder_round_trip_through_json(synth):
    df, _ = synth
    s = load(CreditSchema, SYNTH_SCHEMA)
    enc = fit_encoder(df.iloc[:800], s)
    back = CreditEncoder.from_dict(json.loads(json.dumps(enc.to_dict())))
    assert back == enc
    for x, y in zip(encode(enc, df.iloc[800:]), encode(back, df.iloc[800:]), strict=True):
        np.testing.assert_array_equal(x, y)
    with pytest.raises(UserError, match="not a credit encoder"):
        CreditEncoder.from_dict({"format": "something else"})


def test_synthetic_batch_contract(synth):
    df, meta = synth
    s = load(CreditSchema, SYNTH_SCHEMA)
    y = target_array(df, s)
    np.testing.assert_array_equal(y, df["default"].to_numpy())
    tr, va, te = stratified_split(y, seed=0)
    enc = fit_encoder(df.iloc[tr], s)
    b = encode(enc, df.iloc[te])
    assert isinstance(b, CreditBatch)
    n = len(te)
    assert b.numeric.shape == (n, enc.numeric_dim) == (n, len(enc.numeric_names))
    assert enc.numeric_dim == 100  # every feature had missing values in train at 2%
    assert b.categorical.shape == (n, 3) and (b.categorical < np.array(enc.cardinalities)).all()
    assert b.text.shape == (n, 32) and b.text.max() < enc.vocab_size
    assert b.time_series.shape == (n, 12, 1) and np.isfinite(b.time_series).all()
    assert b.target.dtype == np.int32 and set(np.unique(b.target)) == {0, 1}
    assert enc.vocab_size <= 10_000
    assert (b.text[:, -1] > 0).any()  # some descriptions were truncated at 32 tokens


def test_german_like_end_to_end():
    s = load(CreditSchema, GERMAN_SCHEMA)
    df = read_credit_table(GERMAN_CSV, s)
    y = target_array(df, s)
    assert y.mean() == pytest.approx((df["class"] == "bad").mean())
    tr, va, te = stratified_split(y, seed=3)
    enc = fit_encoder(df.iloc[tr], s)
    b = encode(enc, df.iloc[va])
    assert b.numeric.shape == (len(va), 7) and b.categorical.shape == (len(va), 13)
    assert b.text.shape == (len(va), 0) and b.time_series.shape == (len(va), 0, 1)
    assert enc.cardinalities[enc.categorical_names.index("foreign_worker")] == 4


# --------------------------------------------------------------------------- splits


def test_stratified_split_basic():
    y = np.array([0] * 80 + [1] * 20)
    tr, va, te = stratified_split(y, (0.7, 0.15, 0.15), seed=1)
    assert (len(tr), len(va), len(te)) == (70, 15, 15)
    assert y[tr].sum() == 14 and y[va].sum() == 3 and y[te].sum() == 3
    again = stratified_split(y, (0.7, 0.15, 0.15), seed=1)
    assert all(np.array_equal(a, b) for a, b in zip((tr, va, te), again, strict=True))
    other = stratified_split(y, seed=2)
    assert not np.array_equal(tr, other[0])
    with pytest.raises(UserError, match="fractions"):
        stratified_split(y, (0.5, 0.2), seed=0)
    with pytest.raises(DataError, match="value -1 at row 2"):
        stratified_split(np.array([0, 1, -1]), seed=0)


def test_stratified_kfold_basic():
    y = np.array([0] * 23 + [1] * 7)
    folds = stratified_kfold(y, 5, seed=0)
    assert len(folds) == 5
    tests = np.concatenate([te for _, te in folds])
    assert np.array_equal(np.sort(tests), np.arange(30))
    for tr, te in folds:
        assert np.intersect1d(tr, te).size == 0 and tr.size + te.size == 30
        assert y[te].sum() in (1, 2)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, stratified_kfold(y, 5, 0),
                                                           strict=True))
    with pytest.raises(DataError, match="class 1 has 3 rows, fewer than k=5"):
        stratified_kfold(np.array([0] * 10 + [1] * 3), 5, seed=0)
    with pytest.raises(UserError, match="k must be >= 2"):
        stratified_kfold(y, 1, seed=0)


@settings(max_examples=25, deadline=None)
@given(
    n0=st.integers(0, 60), n1=st.integers(1, 30), seed=st.integers(0, 1000),
    f0=st.floats(0.2, 0.8),
)
def test_split_is_a_stratified_partition(n0, n1, seed, f0):
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.array([0] * n0 + [1] * n1))
    fr = (f0, (1 - f0) / 2, (1 - f0) / 2)
    parts = stratified_split(y, fr, seed=seed)
    allidx = np.concatenate(parts)
    assert np.array_equal(np.sort(allidx), np.arange(y.size))
    for part, f in zip(parts, fr, strict=True):
        for cls, n in ((0, n0), (1, n1)):
            assert abs((y[part] == cls).sum() - f * n) <= 1.0


@settings(max_examples=20, deadline=None)
@given(
    cats=st.lists(st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"])), min_size=4,
                  max_size=12),
    texts=st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=4, max_size=12),
    nums=st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=4, max_size=12),
)
def test_encode_never_drops_rows_and_stays_in_range(cats, texts, nums):
    n = min(len(cats), len(texts), len(nums))
    nums = [1.0, *nums[1:n]]  # at least one observed value in train
    df = pd.DataFrame({"a": nums, "b": np.arange(n, dtype=float), "c": cats[:n], "t": texts[:n],
                       "s1": 1.0, "s2": 2.0})
    s = small_schema()
    enc = fit_encoder(df.iloc[: max(1, n // 2)], s, max_text_len=5)
    b = encode(enc, df)
    assert all(len(x) == n for x in b)
    assert np.isfinite(b.numeric).all() and np.isfinite(b.time_series).all()
    assert ((b.categorical >= 0) & (b.categorical < np.array(enc.cardinalities))).all()
    assert ((b.text >= 0) & (b.text < enc.vocab_size)).all()
    assert (b.target == -1).all()
