"""The synthetic market generator: shape, consistency, determinism, planted signal, oracle."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.config import from_dict
from quantjax.config.data import SynthMarketConfig
from quantjax.data.market_io import load_market, market_from_frame, write_market
from quantjax.data.synth_market import COLUMNS, direction_labels, generate, meta_path
from quantjax.errors import ConfigError
from quantjax.jsonio import write_json

from support.paths import ROOT

SMALL = {"oracle_states": 300, "oracle_paths": 200}


def cfg(**kw) -> SynthMarketConfig:
    return SynthMarketConfig(**{"symbols": 3, "steps": 600, "seed": 0, **SMALL, **kw})


@pytest.fixture(scope="module")
def data():
    return generate(cfg())


def test_frame_columns_and_types(data):
    df, meta = data
    assert tuple(df.columns) == COLUMNS
    assert str(df["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert len(df) == 3 * 600 and df["symbol"].nunique() == 3
    for c in COLUMNS[2:]:
        assert df[c].dtype == np.float64 and np.isfinite(df[c]).all()
    # sorted by (timestamp, symbol), all symbols on the same timestamps
    assert df["timestamp"].is_monotonic_increasing
    counts = df.groupby("timestamp").size()
    assert (counts == 3).all()


def test_path_consistency(data):
    df, _ = data
    assert (df["high"] >= df[["open", "close"]].max(axis=1)).all()
    assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
    assert (df["low"] > 0).all() and (df["volume"] >= 0).all()
    assert (df["bid"] < df["ask"]).all()
    assert (df["bid_volume"] > 0).all() and (df["ask_volume"] > 0).all()
    np.testing.assert_allclose((df["bid"] + df["ask"]) / 2, df["close"], rtol=1e-12)
    # open = previous close of the same symbol
    for _, g in df.groupby("symbol"):
        np.testing.assert_array_equal(g["open"].to_numpy()[1:], g["close"].to_numpy()[:-1])


def test_loads_cleanly(data):
    m, r = market_from_frame(data[0])
    assert m.has_quotes and m.mask.all() and r.n_unsorted_fixed == 0
    assert m.symbols == ("SYM000", "SYM001", "SYM002")


def test_meta_keys(data):
    _, meta = data
    for key in ("oracle_accuracy", "oracle_accuracy_se", "label_horizon", "label_threshold",
                "seed", "params", "quantjax_version", "class_frequencies",
                "oracle_conditions_on", "oracle_method", "sigma_bar", "symbols"):
        assert key in meta
    assert meta["params"] == {**meta["params"], "symbols": 3, "steps": 600, "seed": 0}
    assert set(meta["params"]) == set(SynthMarketConfig.__dataclass_fields__)
    assert abs(sum(meta["class_frequencies"].values()) - 1) < 1e-9
    json.dumps(meta, allow_nan=False)


def test_session_hours_and_multiple_days():
    df, meta = generate(cfg(symbols=1, steps=800, freq="1min"))
    ts = df["timestamp"]
    assert ts.dt.normalize().nunique() == 3  # 390 bars per session
    minutes = ts.dt.hour * 60 + ts.dt.minute
    assert minutes.min() >= 9 * 60 + 31 and minutes.max() <= 16 * 60
    assert (ts.dt.day_of_week < 5).all()
    assert meta["start"] == "2024-01-02T09:31:00Z"


def test_daily_bars_on_business_days():
    df, _ = generate(cfg(symbols=2, steps=10, freq="1D", label_horizon=2))
    ts = df["timestamp"].drop_duplicates()
    assert len(ts) == 10 and (ts.dt.day_of_week < 5).all() and (ts.dt.hour == 16).all()


@pytest.mark.parametrize("ext", ["csv", "parquet"])
def test_same_seed_byte_identical_files(tmp_path, ext):
    paths = []
    for i, seed in enumerate((7, 7, 8)):
        df, meta = generate(cfg(seed=seed, steps=200))
        p = write_market(df, tmp_path / f"{i}.{ext}")
        write_json(meta_path(p), meta)
        paths.append(p)
    a, b, c = (p.read_bytes() for p in paths)
    assert a == b and a != c
    assert meta_path(paths[0]).read_bytes() == meta_path(paths[1]).read_bytes()
    assert meta_path(paths[0]).name == f"0.{ext}.meta.json"


def test_missing_fraction_masks_bars(tmp_path):
    df, meta = generate(cfg(missing_fraction=0.1))
    m, r = load_market(write_market(df, tmp_path / "m.parquet"))
    assert meta["n_missing_bars"] == r.n_missing == int((~m.mask).sum()) > 0
    assert np.isnan(m.values[~m.mask]).all()


def test_planted_signal_in_the_data():
    """OFI observed at t (from depth volumes) predicts the next mid return for beta > 0."""
    def corr(beta):
        df, _ = generate(cfg(symbols=4, steps=3000, signal_strength=beta))
        out = []
        for _, g in df.groupby("symbol"):
            ofi = ((g["bid_volume"] - g["ask_volume"]) / (g["bid_volume"] + g["ask_volume"]))
            mid = (g["bid"] + g["ask"]) / 2
            ret = np.log(mid).diff().shift(-1)
            out.append(np.corrcoef(ofi[:-1], ret[:-1])[0, 1])
        return float(np.mean(out))

    assert abs(corr(0.0)) < 0.05
    assert corr(1.0) > 0.2


def test_oracle_sane_and_increasing_in_signal():
    accs = [generate(cfg(signal_strength=b))[1] for b in (0.0, 1.0, 3.0)]
    values = [m["oracle_accuracy"] for m in accs]
    for m in accs:
        assert 1 / 3 < m["oracle_accuracy"] < 1
        assert m["oracle_accuracy"] >= max(m["class_frequencies"].values()) - 0.05
        assert abs(m["oracle_realized_accuracy"] - m["oracle_accuracy"]) < 0.1
    assert values[0] < values[1] < values[2]


def test_direction_labels():
    mid = np.array([100.0, 101.0, 101.0, 99.0, 99.0, 99.0])
    labels, valid = direction_labels(mid, horizon=2, threshold=0.001)
    np.testing.assert_array_equal(valid, [True, True, True, True, False, False])
    # t=0: mean(101,101)/100-1 = +1%; t=1: mean(101,99)/101-1 < 0; t=2: -2%; t=3: 0 -> flat
    np.testing.assert_array_equal(labels, [1, -1, -1, 0, 0, 0])
    labels2, _ = direction_labels(np.stack([mid, mid]), 2, 0.001)
    np.testing.assert_array_equal(labels2[1], labels)


@pytest.mark.parametrize(
    "bad",
    [{"freq": "2x"}, {"freq": "2D"}, {"freq": "7h"}, {"session_open": "9:30"},
     {"session_close": "09:00"}, {"label_horizon": 600}, {"start": "Jan 2"},
     {"signal_strength": -1.0}, {"missing_fraction": 1.0}],
)
def test_config_rejects_bad_values(bad):
    with pytest.raises(ConfigError):
        from_dict(SynthMarketConfig, {"steps": 600, **bad})


def test_default_config_file_matches_dataclass():

    from quantjax.config import load

    yaml_path = ROOT / "configs" / "synth_market.yaml"
    assert load(SynthMarketConfig, yaml_path) == SynthMarketConfig()


def test_frame_index_is_plain_range(data):
    assert isinstance(data[0].index, pd.RangeIndex)


def test_csv_and_parquet_load_to_the_same_arrays(tmp_path):
    df, _ = generate(cfg(steps=100, missing_fraction=0.05))
    a, _ = load_market(write_market(df, tmp_path / "m.csv"))
    b, _ = load_market(write_market(df, tmp_path / "m.parquet"))
    np.testing.assert_array_equal(a.values, b.values)
    np.testing.assert_array_equal(a.mask, b.mask)
    np.testing.assert_array_equal(a.timestamps, b.timestamps)


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    freq=st.sampled_from(["1s", "5s", "1min", "1h", "1D"]),
    beta=st.floats(0, 3),
    jump_prob=st.floats(0, 0.05),
    vol_of_vol=st.floats(0, 1.5),
)
def test_property_bars_always_valid(seed, freq, beta, jump_prob, vol_of_vol):
    c = cfg(symbols=2, steps=120, seed=seed, freq=freq, signal_strength=beta,
            jump_prob=jump_prob, vol_of_vol=vol_of_vol, oracle_states=20, oracle_paths=20)
    df, meta = generate(c)
    assert (df["high"] >= df[["open", "close"]].max(axis=1)).all()
    assert (df["low"] <= df[["open", "close"]].min(axis=1)).all()
    assert (df["bid"] < df["ask"]).all() and (df["volume"] >= 0).all()
    m, r = market_from_frame(df)  # passes every validation rule
    assert m.mask.all() and r.rows == 240
    assert 0 <= meta["oracle_accuracy"] <= 1
