"""build_hft_dataset contract: shapes, finiteness, train-only scaler, valid sample indices."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantjax.config.data import SynthMarketConfig
from quantjax.data.market_io import market_from_frame
from quantjax.data.synth_market import generate
from quantjax.errors import DataError
from quantjax.features.config import FeaturesConfig
from quantjax.features.scaler import Scaler, apply_scaler, fit_scaler
from quantjax.features.windows import gather_windows
from quantjax.hft.dataset import HFTDataset, build_hft_dataset

CFG = FeaturesConfig(timeframes=(3, 20), regime_window=50)


@pytest.fixture(scope="module")
def market():
    df, _ = generate(SynthMarketConfig(symbols=2, steps=1200, seed=3, oracle_states=10,
                                       oracle_paths=10))
    return market_from_frame(df)[0]


def test_dataset_contract(market):
    L, k = 20, 5
    ds = build_hft_dataset(market, CFG, seq_len=L, horizon=k, threshold=1e-4)
    assert isinstance(ds, HFTDataset)
    S, T, F = ds.features.shape
    assert (S, T, F) == (2, 1200, len(ds.feature_names))
    assert ds.features.dtype == np.float32 and np.isfinite(ds.features).all()
    assert ds.direction.dtype == np.int32 and set(np.unique(ds.direction)) <= {0, 1, 2}
    for idx in (ds.train_index, ds.val_index, ds.test_index):
        assert idx.dtype == np.int32 and idx.shape[1] == 2 and len(idx) > 0
        s, t = idx[:, 0], idx[:, 1]
        assert ds.label_valid[s, t].all()
        for off in range(L):
            assert ds.valid[s, t - off].all()
    g = k + L
    assert ds.val_index[:, 1].min() - ds.train_index[:, 1].max() > g - 1
    assert ds.test_index[:, 1].min() - ds.val_index[:, 1].max() > g - 1
    w = gather_windows(ds.features, ds.test_index[:4], L)
    assert w.shape == (4, L, F)
    assert ds.past_return.shape == (S, T) and ds.past_vol.dtype == np.float32
    # the scaler is fitted on the training rows only
    rows = np.zeros((S, T), bool)
    rows[:, : ds.train_index[:, 1].max() + 1] = True
    z = ds.features[rows & ds.valid]
    assert np.abs(np.median(z, axis=0)).max() < 3
    assert json.dumps(ds.scaler.to_dict())


def test_scaler_fit_apply_roundtrip():
    rng = np.random.default_rng(0)
    x = rng.normal(3.0, 2.0, (2, 100, 3)).astype(np.float32)
    x[:, 60:] += 100.0  # a shift after the training period must not leak into the fit
    valid = np.ones((2, 100), bool)
    train = np.array([[0, t] for t in range(10, 50)] + [[1, 49]], np.int32)
    sc = fit_scaler(x, valid, train)
    np.testing.assert_allclose(sc.mean, x[:, :50].reshape(-1, 3).mean(0), rtol=1e-5)
    z = apply_scaler(sc, x, valid)
    assert np.abs(z[:, :50].mean()) < 1e-5
    sc2 = Scaler.from_dict(json.loads(json.dumps(sc.to_dict())))
    np.testing.assert_array_equal(sc2.mean, sc.mean)
    np.testing.assert_array_equal(sc2.std, sc.std)


def test_too_short_data_is_a_user_error(market):
    # keep the compiled shape: only the first 150 bars exist (CFG warm-up is 200 bars)
    mask = market.mask.copy()
    mask[:, 150:] = False
    values = market.values.copy()
    values[:, 150:] = np.nan
    short = market._replace(values=values, mask=mask)
    with pytest.raises(DataError, match="no valid samples"):
        build_hft_dataset(short, CFG, seq_len=60, horizon=5, threshold=1e-4)
