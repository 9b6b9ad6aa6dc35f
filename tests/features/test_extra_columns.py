"""Extra columns as model inputs: reading, NaN policy, train-only scaler, streaming equal to
batch, the look-ahead check, and the whole path (train, backtest, export, replay)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from quantjax.cli.main import main
from quantjax.config.data import SynthMarketConfig
from quantjax.data.extra_columns import extra_from_frame, read_extra_columns
from quantjax.data.market_io import market_from_frame
from quantjax.data.synth_market import generate
from quantjax.errors import DataError
from quantjax.features.causality import lookahead_scan, prefix_invariance
from quantjax.features.config import FeaturesConfig
from quantjax.features.extra import extra_features
from quantjax.features.market_features import compute_features
from quantjax.features.scaler import Scaler, apply_scaler
from quantjax.features.streaming import StreamingFeatures, with_extra_fields
from quantjax.hft.dataset import build_hft_dataset

from support.hft_runs import TINY_CONFIG, tiny_overrides

FCFG = FeaturesConfig(groups=("returns", "volatility", "microstructure"), vol_windows=(5,),
                      vol_ref_window=5)


def _frame(symbols=3, steps=300, seed=2) -> pd.DataFrame:
    df, _ = generate(SynthMarketConfig(symbols=symbols, steps=steps, seed=seed,
                                       oracle_states=10, oracle_paths=10))
    df = df.sort_values(["symbol", "timestamp"]).reset_index(drop=True)
    g = df.groupby("symbol")["close"]
    df["ofi"] = (df.bid_volume - df.ask_volume) / (df.bid_volume + df.ask_volume)
    df["future_return"] = g.shift(-5) / df.close - 1.0  # leaks the future
    df["note"] = "x"  # not numeric
    return df


def test_read_extra_columns_aligns_on_the_grid_and_names_bad_columns(tmp_path):
    df = _frame()
    path = tmp_path / "m.parquet"
    df.to_parquet(path)
    market = market_from_frame(df)[0]
    ex = read_extra_columns(path, market, ("ofi",))
    s = market.symbols.index("SYM001")
    t = int(np.searchsorted(market.timestamps, df.timestamp.iloc[350].value))
    assert ex.names == ("ofi",) and ex.values.shape == (3, 300, 1)
    assert ex.values[s, t, 0] == df.ofi.iloc[350]
    assert read_extra_columns(path, market, "all").names == ("ofi", "future_return")
    with pytest.raises(DataError, match=r"extra column 'nope' not found \(numeric extra columns: "
                                        r"ofi, future_return\)"):
        read_extra_columns(path, market, ("nope",))
    with pytest.raises(DataError, match="extra column 'note' is not numeric"):
        read_extra_columns(path, market, ("note",))
    with pytest.raises(DataError, match="'close' is a market field"):
        read_extra_columns(path, market, ("close",))
    df.loc[4, "ofi"] = np.inf
    with pytest.raises(DataError, match=r"row 5 \(symbol 'SYM000'\), extra column 'ofi': infinite"):
        extra_from_frame(df, market, ("ofi",))


def test_nan_policies():
    df = _frame(symbols=1, steps=12)
    df.loc[[0, 3, 4], "ofi"] = np.nan
    market = market_from_frame(df)[0]
    ex = extra_from_frame(df, market, ("ofi",))
    with pytest.raises(DataError, match=r"symbol 'SYM000', timestamp \S+, extra column 'ofi': "
                                        r"NaN \(set data.features.extra_nan"):
        extra_features(ex, market.mask, "error", market.symbols, market.timestamps)
    x = df.ofi.to_numpy()
    v, ok, n = extra_features(ex, market.mask, "ffill")
    assert n == 3 and not ok[0, 0, 0] and ok[0, 1:, 0].all()
    assert v[0, 3, 0] == v[0, 4, 0] == np.float32(x[2])  # the last value before, never later
    v, ok, n = extra_features(ex, market.mask, "zero")
    assert n == 3 and ok.all() and v[0, 0, 0] == 0 and v[0, 5, 0] == np.float32(x[5])


def test_extra_columns_use_the_train_only_scaler():
    df = _frame()
    market = market_from_frame(df)[0]
    ex = extra_from_frame(df, market, ("ofi",))
    cfg = dataclasses.replace(FCFG, extra_columns=("ofi",), extra_nan="ffill")
    ds = build_hft_dataset(market, cfg, seq_len=8, horizon=5, threshold=1e-4, extra=ex)
    assert ds.feature_names[-1] == "ofi"
    assert any("extra columns ofi: NaN policy ffill" in n for n in ds.notes)
    tr = ds.train_index
    rows = np.zeros(ds.valid.shape, bool)
    rows[np.unique(tr[:, 0]), : tr[:, 1].max() + 1] = True
    rows &= ds.valid
    raw = ex.values[..., 0].astype(np.float32)[rows].astype(np.float64)
    assert ds.scaler.mean[-1] == pytest.approx(raw.mean(), rel=1e-5)
    assert ds.scaler.std[-1] == pytest.approx(raw.std(), rel=1e-4)
    with pytest.raises(DataError, match="no extra column values"):
        compute_features(market, cfg)


def test_streaming_carries_extra_columns_and_equals_batch():
    df = _frame(steps=120)
    rng = np.random.default_rng(0)
    df.loc[rng.random(len(df)) < 0.1, "ofi"] = np.nan
    df = df[rng.random(len(df)) > 0.03]  # some missing bars
    market = market_from_frame(df)[0]
    ex = extra_from_frame(df, market, ("ofi", "future_return"))
    cfg = dataclasses.replace(FCFG, extra_columns=("ofi", "future_return"), extra_nan="ffill")
    fs = compute_features(market, cfg, extra=ex)
    flat = fs.values[fs.valid]
    sc = Scaler(flat.mean(0).astype(np.float32), (flat.std(0) + 1e-3).astype(np.float32))
    batch = apply_scaler(sc, fs.values, fs.valid, clip=cfg.clip)
    m2 = with_extra_fields(market, ex)
    sf = StreamingFeatures(cfg, m2.fields, sc.mean, sc.std, 4)
    assert sf.names == fs.names and sf.names[-2:] == ("ofi", "future_return")
    _, (rows, oks, values, valid) = sf.scan_raw(sf.init(market.n_symbols), sf.make_ticks(m2))
    sw = lambda a: np.asarray(a).swapaxes(0, 1)  # noqa: E731
    np.testing.assert_array_equal(sw(valid)[..., -2:], fs.feature_valid[..., -2:])
    np.testing.assert_array_equal(sw(values)[..., -2:], fs.values[..., -2:])  # bit for bit
    np.testing.assert_array_equal(sw(oks), fs.valid)
    np.testing.assert_allclose(sw(rows), batch, atol=1e-4)
    with pytest.raises(ValueError, match="no extra column 'ofi'"):
        StreamingFeatures(cfg, market.fields, sc.mean, sc.std, 4)


def test_lookahead_check_catches_a_leaking_column(tmp_path, capsys):
    df = _frame(symbols=4, steps=1500)
    path = tmp_path / "m.parquet"
    df.drop(columns=["note"]).to_parquet(path)
    market = market_from_frame(df)[0]
    res = lookahead_scan(market, extra_from_frame(df, market, "all"))
    assert res["future_return"]["leak"] and res["future_return"]["max_abs_forward"] > 0.9
    assert not res["ofi"]["leak"] and res["ofi"]["max_abs_forward"] < 0.5  # a causal signal
    rc = main(["data", "check-causality", "--data", str(path), "--out", str(tmp_path / "c.json")])
    out = capsys.readouterr().out
    assert rc == 1 and "future_return: LOOK-AHEAD" in out and "ofi: ok" in out
    assert json.loads((tmp_path / "c.json").read_text())["flagged"] == ["future_return"]
    assert main(["data", "check-causality", "--data", str(path), "--columns", "ofi"]) == 0
    # the exact check for feature code: a causal function passes, a look-ahead one fails
    causal = lambda m: compute_features(m, FCFG).values  # noqa: E731
    leaky = lambda m: np.roll(m.field("close"), -1, axis=1)  # noqa: E731
    # 3 symbols x 300 bars, the cut after bar 119 leaves 120 bars: the feature programs of
    # the tests above (3 x 300, 3 x 120 bars, same features) are reused
    small = market._replace(values=market.values[:3, :300], mask=market.mask[:3, :300],
                            timestamps=market.timestamps[:300], symbols=market.symbols[:3])
    assert prefix_invariance(causal, small, cuts=[50, 119]) == []
    assert prefix_invariance(leaky, small, cuts=[50, 119]) == [50, 119]


def test_extra_columns_train_backtest_export_and_replay(tmp_path):
    df = _frame(symbols=2, steps=500, seed=0).drop(columns=["note", "future_return"])
    data = tmp_path / "m.parquet"
    df.to_parquet(data)
    run = tmp_path / "hft"
    sets = [a for o in tiny_overrides() + ["data.features.extra_columns=[ofi]"]
            for a in ("--set", o)]
    assert main(["train", "hft", "--config", str(TINY_CONFIG), "--data", str(data),
                 "--workdir", str(run), "--no-progress", *sets]) == 0
    m = json.loads((run / "metrics.json").read_text())
    assert m["data"]["features"]["extra_columns"] == ["ofi"]
    assert main(["backtest", "--checkpoint", str(run), "--data", str(data), "--out",
                 str(tmp_path / "bt")]) == 0
    assert main(["backtest", "--checkpoint", str(run), "--synthetic", "--out",
                 str(tmp_path / "bt2")]) == 2
    art = tmp_path / "hft.qjx"
    assert main(["export", "--checkpoint", str(run), "--out", str(art)]) == 0
    from quantjax.inference.artifact import load_artifact

    a = load_artifact(art)
    assert a.extra["feature_names"][-1] == "ofi"
    assert main(["replay", "--artifact", str(art), "--data", str(data), "--out",
                 str(tmp_path / "replay"), "--no-progress", "--set", "predictor.buckets=[1,2]",
                 "--set", "predictor.tune=false", "--set", "predictor.warmup=0"]) == 0
    rm = json.loads((tmp_path / "replay" / "metrics.json").read_text())
    assert rm["predictions"] > 0 and rm["rejected_ticks"] == 0
