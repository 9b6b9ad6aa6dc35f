"""The bar replay charges carry over the time between bars, as the vectorized backtester does:
with borrow cost and funding on, its records equal ``backtest.runner.run`` bit for bit."""

from __future__ import annotations

import dataclasses

import numpy as np

from quantjax.backtest.config import BacktestConfig
from quantjax.backtest.pipeline import risk_params
from quantjax.backtest.runner import run
from quantjax.config import load
from quantjax.inference.artifact import load_artifact
from quantjax.inference.config import InferenceConfig
from quantjax.inference.replay import ReplayEngine, replay_market

from support.hft_runs import slice_market, tiny_market
from support.paths import CONFIGS


def test_replay_with_carry_equals_vectorized_backtest(tiny_hft_artifact, tmp_path):
    icfg = load(InferenceConfig, CONFIGS / "inference.yaml",
                ["strategy.confidence=0.0", "strategy.vol_target=1.0", "predictor.buckets=[2]",
                 "predictor.warmup=0", "predictor.tune=false"])
    bcfg = load(BacktestConfig, CONFIGS / "backtest.yaml")
    bcfg = dataclasses.replace(bcfg, risk=dataclasses.replace(
        bcfg.risk, borrow_rate=50.0, funding_rate=20.0))  # large, so carry shows in 80 bars
    risk = risk_params(bcfg)
    market = slice_market(tiny_market(2, 500, seed=3), 0, 80)
    art = load_artifact(tiny_hft_artifact)
    eng = ReplayEngine(art, risk, market.symbols, market.fields, icfg,
                       alerts_path=tmp_path / "alerts.jsonl")
    res = replay_market(eng, market)
    bt = run(risk, market, res.signals)
    assert np.count_nonzero(res.records["position"]) > 0
    assert np.all(np.asarray(bt.state.execution.carry_paid) != 0)
    for k in ("equity", "position", "order_qty", "exit_qty", "cash"):
        np.testing.assert_array_equal(res.records[k], bt.records[k], err_msg=k)
    np.testing.assert_array_equal(res.final_state.execution.carry_paid,
                                  bt.state.execution.carry_paid)
