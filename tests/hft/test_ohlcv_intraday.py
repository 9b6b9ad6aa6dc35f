"""Real intraday OHLCV works by default: an hourly-like file without quotes trains the tiny HFT
model with the default cross timeframes (the ones that do not fit are switched off with one
warning line), then backtests and reports end to end."""

from __future__ import annotations

import json

import yaml

from quantjax.cli.main import main
from quantjax.config.data import SynthMarketConfig
from quantjax.data.synth_market import generate

from support.hft_runs import TINY_CONFIG, tiny_overrides

GROUPS = "[returns, volatility, microstructure, volume, trend, rsi, macd, bollinger, atr, cross_timeframe]"
DEFAULT_TF = ["data.features.timeframes=[5, 60, 300]", f"data.features.groups={GROUPS}"]


def _ohlcv_file(tmp_path):
    df, _ = generate(SynthMarketConfig(symbols=2, steps=420, seed=4, freq="1h",
                                       oracle_states=10, oracle_paths=10))
    df = df[["timestamp", "symbol", "open", "high", "low", "close", "volume"]]
    path = tmp_path / "hourly.csv"
    df.to_csv(path, index=False)
    return path


def _sets(extra=()):
    return [a for o in tiny_overrides() + DEFAULT_TF + list(extra) for a in ("--set", o)]


def test_hourly_ohlcv_trains_backtests_and_reports(tmp_path, capsys):
    data = _ohlcv_file(tmp_path)
    run = tmp_path / "hft"
    assert main(["train", "hft", "--config", str(TINY_CONFIG), "--data", str(data),
                 "--workdir", str(run), "--no-progress", *_sets()]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert out.count("switched off the cross-timeframe features") == 1
    assert "momentum_tf60/volatility_tf60 (600 bars)" in out and "tf300" in out
    assert "--set data.features.timeframes=[5]" in out
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["data"]["features"]["timeframes"] == [5]  # the adapted warm-up is the run's config
    m = json.loads((run / "metrics.json").read_text())
    assert m["data"]["dropped_timeframes"] == [60, 300]
    assert m["test"]["n"] > 0 and m["test"]["ic_kind"] == "time_series"
    bt = tmp_path / "bt"
    assert main(["backtest", "--checkpoint", str(run), "--data", str(data), "--out", str(bt),
                 "--set", "backtest.benchmark=equal_weight"]) == 0
    mb = json.loads((bt / "metrics.json").read_text())
    ann = mb["portfolio"]["annualization"]
    assert ann["basis"] == "daily" and ann["n_days"] == 70 and ann["annualized"]
    for name in ("hft", "bt"):
        assert main(["report", "--run", str(tmp_path / name)]) == 0
        assert (tmp_path / name / "report.html").is_file()


def test_warmup_that_does_not_fit_names_the_set_when_adaptation_is_off(tmp_path, capsys):
    data = _ohlcv_file(tmp_path)
    rc = main(["train", "hft", "--config", str(TINY_CONFIG), "--data", str(data), "--workdir",
               str(tmp_path / "r"), *_sets(["data.features.adapt_warmup=false"])])
    err = capsys.readouterr().err
    assert rc == 2 and len(err.strip().splitlines()) == 1
    assert "use --set data.features.timeframes=[5]" in err
