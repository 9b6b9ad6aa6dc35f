"""Memory-bounded backtests: a small ``backtest.memory_budget_mb`` cuts the run into many time
chunks, and every record level equals the one-shot run bit for bit (both modes)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from quantjax.backtest import budget, pipeline, strategies
from quantjax.backtest.config import BacktestConfig
from quantjax.cli.main import main
from quantjax.errors import UserError

from support.shared_market import STEPS, SYMBOLS, shared_market

S, T = SYMBOLS, STEPS  # the other backtest tests' shape: shared one-shot programs


def _cfg(mode: str, budget_mb: float) -> BacktestConfig:
    cfg = BacktestConfig()
    return dataclasses.replace(cfg, backtest=dataclasses.replace(
        cfg.backtest, mode=mode, memory_budget_mb=budget_mb), risk=dataclasses.replace(
        cfg.risk, trailing_stop=0.01, max_drawdown=0.05))


@pytest.mark.parametrize("mode, record", [
    ("independent", "full"), ("independent", "trades"), ("independent", "equity"),
    ("independent", "total"), ("portfolio", "trades"), ("portfolio", "total")])
def test_small_budget_many_chunks_bitwise_equal_to_one_shot(mode, record):
    m = shared_market(5, missing=0.05, bar_seconds=3600, vol=0.01)
    sig = np.where(m.mask, strategies.momentum_signal(m.field("close"), 3), np.nan)
    small = 0.004  # MB: ~4 KB per chunk
    steps = budget.chunk_steps(T, S, record, mode, budget.budget_bytes(small))
    assert T // steps >= 8, steps  # many chunks
    got = pipeline.run_backtest(_cfg(mode, small), m, sig, record=record)
    ref = pipeline.run_backtest(_cfg(mode, 0.0), m, sig, record=record)  # fits: one shot
    assert budget.chunk_steps(T, S, record, mode, budget.budget_bytes(0.0)) == T
    assert list(got.records) == list(ref.records)
    for k in ref.records:
        np.testing.assert_array_equal(np.asarray(got.records[k]), np.asarray(ref.records[k]),
                                      err_msg=k)
    if record == "trades":
        for k in ref.events:
            np.testing.assert_array_equal(got.events[k], ref.events[k], err_msg=k)


def test_chunk_steps_scale_with_the_budget():
    per = budget.bytes_per_step(100, "full", "independent")
    assert budget.chunk_steps(10**6, 100, "full", "independent", int(per * 1000)) == 1000
    assert budget.chunk_steps(500, 100, "full", "independent", int(per * 1000)) == 500
    assert budget.chunk_steps(500, 100, "full", "independent", 1) == 1  # at least one step
    # the trades level keeps far less per step than full on a CPU
    assert budget.bytes_per_step(100, "trades", "independent") < per / 2


@pytest.mark.parametrize("text, mb", [("512MB", 512), ("2GB", 2048), ("1.5g", 1536),
                                      ("300", 300), ("64 kb", 1 / 16)])
def test_parse_size(text, mb):
    assert budget.parse_size_mb(text) == pytest.approx(mb)


@pytest.mark.parametrize("text", ["", "abc", "-1GB", "0", "12 parsecs", "nanMB"])
def test_bad_size_is_one_line_error(text):
    with pytest.raises(UserError, match="--memory-budget: expected a positive size"):
        budget.parse_size_mb(text)


def test_cli_memory_budget(tmp_path, capsys):
    out = tmp_path / "bt"
    assert main(["backtest", "--synthetic", "--strategy", "momentum", "--out", str(out),
                 "--memory-budget", "bogus"]) == 2
    err = capsys.readouterr().err
    assert "--memory-budget: expected a positive size" in err and len(err.splitlines()) == 1
    args = ["backtest", "--synthetic", "--strategy", "momentum", "--set", "synthetic.symbols=2",
            "--set", "synthetic.steps=300"]
    assert main(args + ["--out", str(out), "--memory-budget", "4KB"]) == 0
    assert "memory_budget_mb: 0.00390625" in (out / "config.yaml").read_text()
    assert main(args + ["--out", str(tmp_path / "one")]) == 0
    for name in ("equity.parquet", "trades.parquet"):
        pd.testing.assert_frame_equal(pd.read_parquet(out / name),
                                      pd.read_parquet(tmp_path / "one" / name))
