"""The real Binance recording end to end, built once per test session (conftest fixture
``real_ticks_replay``): ``quantjax data import binance`` (1 s bars and ticks), ``train hft``
of the tiny config on those bars, ``export``, and ``replay`` of the artifact on the bars with
its decisions executed on every tick (every execution rule on). Read by
tests/inference/test_replay_ticks.py and tests/report/test_replay_report.py."""

from __future__ import annotations

from pathlib import Path

from quantjax.cli.main import main

from support.feeds import BINANCE_RECORDING
from support.hft_runs import TINY_CONFIG, tiny_overrides

#: every execution rule on: latency, limit orders with the probabilistic queue, impact, funding
RISK = """\
backtest: {mode: independent}
risk: {latency: 20.0, limit_orders: 1.0, queue_model: 1.0, limit_expiry: 2000.0,
       impact_k: 0.5, funding_rate: 0.1095, stop_loss: 0.0, take_profit: 0.0}
"""
#: the replay predicts one symbol per bar: buckets 1 and 2 only, untuned (tuning has its own
#: tests in test_inference.py; the defaults compile 10 executables up to 512 rows); every
#: prediction trades (confidence 0), so orders reach the execution rules by design
REPLAY_SETTINGS = ["predictor.buckets=[1,2]", "predictor.tune=false", "predictor.warmup=0",
                   "strategy.confidence=0"]


def _sets(overrides: list[str]) -> list[str]:
    return [a for o in overrides for a in ("--set", o)]


def build_real_ticks_replay(root: Path) -> None:
    """``root/imp`` (bars.parquet, ticks.parquet), ``root/run``, ``root/hft.qjx`` and
    ``root/replay`` (the replay's folder: metrics.json, replay.parquet, fills.parquet ...)."""
    imp, run, art, out = root / "imp", root / "run", root / "hft.qjx", root / "replay"
    root.mkdir(parents=True, exist_ok=True)
    assert main(["data", "import", "binance", str(BINANCE_RECORDING), "--out", str(imp),
                 "--bar", "1s", "--no-progress"]) == 0
    # 1 s bars of BTCUSDT rarely move 1 bp in 5 bars: with the tiny config's threshold nearly
    # every label is flat, so is every prediction, and no order is ever sized
    overrides = [o for o in tiny_overrides() if not o.startswith("data.synthetic")]
    overrides.append("data.direction_threshold=0.00001")
    assert main(["train", "hft", "--config", str(TINY_CONFIG), "--data",
                 str(imp / "bars.parquet"), "--workdir", str(run), "--no-progress",
                 *_sets(overrides)]) == 0
    assert main(["export", "--checkpoint", str(run), "--out", str(art)]) == 0
    (root / "risk.yaml").write_text(RISK)
    assert main(["replay", "--artifact", str(art), "--data", str(imp / "bars.parquet"),
                 "--ticks", str(imp / "ticks.parquet"), "--risk", str(root / "risk.yaml"),
                 "--out", str(out), "--no-progress", *_sets(REPLAY_SETTINGS)]) == 0
