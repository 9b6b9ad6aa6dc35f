"""O(F) incremental streaming features: equal to the batch features on long streams (float32
drift of the running sums), on flat stretches (exact fallbacks), per-tick step == scan."""

from __future__ import annotations

import numpy as np

from quantjax.features.batch import feature_names
from quantjax.features.config import FeaturesConfig
from quantjax.features.market_features import compute_features
from quantjax.features.scaler import Scaler, apply_scaler
from quantjax.features.streaming import StreamingFeatures


def _market(steps, symbols=2, seed=3, missing=0.0, flat=None, drop_quotes=False):
    from quantjax.config.data import SynthMarketConfig
    from quantjax.data.market_io import market_from_frame
    from quantjax.data.synth_market import generate

    df, _ = generate(SynthMarketConfig(symbols=symbols, steps=steps, seed=seed))
    if flat is not None:  # a stretch of constant prices and zero volume (stale feed)
        a, b = flat
        sym0 = df["symbol"] == df["symbol"].iloc[0]
        ts = np.sort(df["timestamp"].unique())
        stale = sym0 & df["timestamp"].isin(ts[a:b])
        ref = df[sym0 & (df["timestamp"] == ts[a - 1])].iloc[0]
        for c in ("open", "high", "low", "close", "bid", "ask"):
            df.loc[stale, c] = ref[c]
        for c in ("volume", "bid_volume", "ask_volume"):
            df.loc[stale, c] = 0.0
    if drop_quotes:
        df = df.drop(columns=["bid", "ask", "bid_volume", "ask_volume"])
    if missing:
        rng = np.random.default_rng(1)
        df = df[~(rng.random(len(df)) < missing)]
    return market_from_frame(df)[0]


def _compare(m, cfg, L=4, atol=1e-4):
    fs = compute_features(m, cfg)
    flat = fs.values[fs.valid]
    sc = Scaler(flat.mean(0).astype(np.float32), (flat.std(0) + 1e-3).astype(np.float32))
    batch = apply_scaler(sc, fs.values, fs.valid, clip=cfg.clip)
    sf = StreamingFeatures(cfg, m.fields, sc.mean, sc.std, L)
    assert sf.names == fs.names
    _, out = sf.scan_raw(sf.init(m.n_symbols), sf.make_ticks(m))
    rows, oks, vals, fvalid = (np.asarray(a).swapaxes(0, 1) for a in out)
    np.testing.assert_array_equal(oks, fs.valid)
    err = np.abs(rows - batch).max(axis=(0, 1))
    worst = {n: float(e) for n, e in zip(fs.names, err, strict=True) if e > atol}
    assert not worst, worst
    # per feature (also where the row is invalid): same validity, same raw values
    np.testing.assert_array_equal(fvalid, fs.feature_valid)
    err = (np.abs(vals - fs.values) / sc.std).max(axis=(0, 1))
    worst = {n: float(e) for n, e in zip(fs.names, err, strict=True) if e > atol}
    assert not worst, worst
    return fs, sf


def test_long_stream_default_config_equals_batch():
    """10,000 bars, every feature group with the default (long) windows: no float32 drift."""
    m = _market(10_000, symbols=1, missing=0.0003)
    fs, sf = _compare(m, FeaturesConfig())
    assert fs.valid.sum() > 3_000  # many rows past the default 3000-bar lookback
    # O(F) state: ring buffers of bounded length, independent of the stream length
    assert sf.state_scalars < 20_000


# same config and shapes as tests/test_stream.py: compiled functions are shared
FCFG = FeaturesConfig(timeframes=(2, 5), regime_window=20, stat_windows=(10,), volume_window=20,
                      lags=(1, 3))


def test_flat_stretch_gives_exact_fallbacks():
    """Constant prices / zero volume: RSI 50, skew/kurt 0, trend 0 ... like the batch path,
    also after the running sums saw non-zero values."""
    m = _market(160, symbols=3, flat=(40, 130))
    fs, _ = _compare(m, FCFG)
    i = fs.names.index("rsi")
    assert fs.valid[0, 120] and fs.values[0, 120, i] == 50.0


def test_step_equals_scan_and_window_order():
    cfg = FCFG
    m = _market(160, symbols=3, missing=0.03)
    F = len(feature_names(cfg, m.has_quotes))
    L = 6  # as tests/inference/test_stream.py: the same compiled scan
    sf = StreamingFeatures(cfg, m.fields, np.zeros(F), np.ones(F), L)
    ticks = sf.make_ticks(m)
    _, (rows, oks, runs) = sf.scan(sf.init(m.n_symbols), ticks)
    st = sf.init(m.n_symbols)
    n = 70  # past every lookback of FCFG
    for t in range(n):
        tick = type(ticks)(*(a[t] for a in ticks))
        st, (row, ok) = sf.step(st, tick)
        np.testing.assert_allclose(np.asarray(row), np.asarray(rows[t]), atol=1e-6)
        np.testing.assert_array_equal(np.asarray(ok), np.asarray(oks[t]))
    assert np.asarray(oks[:n]).any()
    np.testing.assert_array_equal(np.asarray(st.run), np.asarray(runs[n - 1]))
    np.testing.assert_allclose(np.asarray(sf.window(st)),
                               np.asarray(rows[n - L:n]).swapaxes(0, 1), atol=1e-6)


def test_subset_of_groups_without_quotes():
    cfg = FeaturesConfig(groups=("returns", "macd", "volume", "stochastic", "atr"),
                         volume_window=20)
    _compare(_market(300, symbols=2, missing=0.02, drop_quotes=True), cfg)
