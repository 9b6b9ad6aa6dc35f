"""quantjax features against the pandas reference, causality and degenerate inputs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantjax.config.data import SynthMarketConfig
from quantjax.data.market import MarketArrays
from quantjax.data.market_io import market_from_frame
from quantjax.data.synth_market import generate
from quantjax.features import rolling
from quantjax.features.batch import QUOTE_FEATURES, feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.features.market_features import compute_features

from support.reference_pandas import reference_features, symbol_frame

CFG = FeaturesConfig(timeframes=(3, 20), regime_window=50)
RTOL = 1e-5
# Features that read only a few bars of their lookback (lags, strided cross-timeframe): pandas
# gives a value when an unread bar inside the span is missing; quantjax marks it invalid.
SPARSE = ("returns_lag_", "volatility_lag_", "momentum_tf", "volatility_tf")


def _market(missing: float, seed: int = 3, steps: int = 1200) -> MarketArrays:
    df, _ = generate(
        SynthMarketConfig(
            symbols=2, steps=steps, seed=seed, missing_fraction=missing,
            oracle_states=10, oracle_paths=10,
        )
    )
    return market_from_frame(df)[0]


@pytest.fixture(scope="module")
def clean():
    m = _market(0.0)
    return m, compute_features(m, CFG)


def _compare(m, fs, allow_extra_invalid=(), cfg=CFG):
    for s in range(m.n_symbols):
        ref = reference_features(symbol_frame(m, s), cfg)
        for i, name in enumerate(fs.names):
            r = ref[name].to_numpy()
            v = fs.values[s, :, i]
            ok = fs.feature_valid[s, :, i]
            finite = np.isfinite(r)
            assert not (ok & ~finite).any(), f"{name}: valid where pandas is NaN"
            extra = ~ok & finite
            if not name.startswith(allow_extra_invalid):
                assert not extra.any(), f"{name}: invalid where pandas has a value"
            # absolute floor: RTOL x the RMS of the reference column
            floor = RTOL * np.sqrt(np.mean(r[finite] ** 2)) if finite.any() else 0.0
            err = np.abs(v[ok] - r[ok])
            bad = err > RTOL * np.abs(r[ok]) + floor
            assert not bad.any(), f"{name}: max err {err.max():.3g} (symbol {s})"


def test_matches_pandas(clean):
    m, fs = clean
    assert fs.names == feature_names(CFG, True)
    assert fs.values.dtype == np.float32
    _compare(m, fs)
    assert fs.valid.sum() > 0.5 * fs.valid.size


def test_matches_pandas_with_missing_bars():
    m = _market(0.03, seed=4)
    assert (~m.mask).sum() > 0
    fs = compute_features(m, CFG)
    _compare(m, fs, allow_extra_invalid=SPARSE)
    # a missing bar invalidates every feature at that bar
    assert not fs.feature_valid[~m.mask].any()


def test_regime_matches_pandas_above_crossover():
    """A regime window above the crossover takes the O(T log W) sorted rank count."""
    W = rolling.COUNT_BELOW_CROSSOVER + 1
    cfg = dataclasses.replace(CFG, groups=("regime",), regime_window=W)
    m = _market(0.0, seed=5, steps=W + 600)
    fs = compute_features(m, cfg)
    assert fs.names == ("volatility_regime",)
    assert fs.feature_valid.sum() > 1000
    assert 0 < fs.values[fs.feature_valid].mean() < 1  # both regimes occur
    _compare(m, fs, cfg=cfg)


def test_finite_everywhere(clean):
    _, fs = clean
    assert np.isfinite(fs.values).all()
    assert (fs.values[~fs.feature_valid] == 0).all()


@settings(max_examples=4, deadline=None)
@given(t=st.integers(min_value=0, max_value=1198), scale=st.floats(0.5, 2.0))
def test_causal(clean, t, scale):
    m, fs = clean
    values = m.values.copy()
    values[:, t + 1 :, :] *= scale
    values[:, t + 1 :, 4] += 7.0  # volume
    fs2 = compute_features(m._replace(values=values), CFG)
    np.testing.assert_array_equal(fs.values[:, : t + 1], fs2.values[:, : t + 1])
    np.testing.assert_array_equal(fs.feature_valid[:, : t + 1], fs2.feature_valid[:, : t + 1])


def _degenerate_market(T: int = 1200, quotes: bool = True) -> MarketArrays:
    """Two symbols (the compiled shape of the other tests): constant prices, high == low,
    zero volume and zero depth."""
    fields = ("open", "high", "low", "close", "volume")
    if quotes:
        fields += ("bid", "ask", "bid_volume", "ask_volume")
    v = np.zeros((2, T, len(fields)))
    v[..., :4] = 50.0
    if quotes:
        v[..., 5:7] = 50.0
    ts = (np.arange(T) * 1_000_000_000 + 1_700_000_000 * 10**9).astype(np.int64)
    return MarketArrays(v, np.ones((2, T), bool), ts, ("A", "B"), fields)


def test_degenerate_inputs_are_finite_by_rule():
    fs = compute_features(_degenerate_market(), CFG)
    assert np.isfinite(fs.values).all()
    last = dict(zip(fs.names, fs.values[0, -1], strict=True))
    assert last["returns"] == 0 and last["volatility_5"] == 0
    assert last["volatility_ratio_5"] == 1.0  # 0/0 -> 1
    assert last["rsi"] == 50.0 and last["stoch_k"] == 50.0 and last["bb_position"] == 0.5
    assert last["trend_strength"] == 0.0 and last["returns_skew_10"] == 0.0
    assert last["returns_kurt_60"] == 0.0 and last["volatility_tf20"] == 0.0
    assert last["order_flow_imbalance"] == 0.0 and last["liquidity_ratio"] == 0.0
    assert last["price_to_vwap"] == 1.0 and last["vwap"] == 50.0
    assert last["volume_intensity"] == 1.0 and last["macd"] == 0.0
    assert fs.valid[:, -1].all()


def test_missing_quotes_drop_features_with_note():
    cfg = dataclasses.replace(CFG, groups=("returns", "microstructure", "rsi"))
    fs = compute_features(_degenerate_market(quotes=False), cfg)
    assert not set(QUOTE_FEATURES) & set(fs.names)
    assert fs.names == ("returns", "log_returns", "price_acceleration", "rsi")
    assert fs.notes and "bid_ask_spread" in fs.notes[0]
    assert np.isfinite(fs.values).all()


def test_chunked_equals_unchunked(clean):
    m, fs = clean
    m3 = m._replace(
        values=np.concatenate([m.values, m.values[:1]]),
        mask=np.concatenate([m.mask, m.mask[:1]]),
        symbols=m.symbols + ("X",),
    )
    fs3 = compute_features(m3, CFG, chunk_symbols=2)
    np.testing.assert_array_equal(fs3.values[:2], fs.values)
    np.testing.assert_array_equal(fs3.values[2], fs.values[0])
