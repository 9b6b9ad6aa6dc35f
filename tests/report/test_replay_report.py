"""``quantjax report`` of a ``quantjax replay`` folder: the tiny session model replayed on the
real Binance recording's 1 s bars, its decisions executed on the recording's ticks."""

from __future__ import annotations

import json
import re
import shutil
from html import unescape

import numpy as np
import pandas as pd
import pytest

from quantjax.cli.main import main
from quantjax.report import build_html, detect_kind
from quantjax.report.fmt import fmt_value, lookup

from support.feeds import BINANCE_RECORDING

pytest.importorskip("matplotlib")

#: every execution rule on, so the tick section has fills and execution counters
RISK = """\
backtest: {mode: independent}
risk: {latency: 20.0, limit_orders: 1.0, queue_model: 1.0, limit_expiry: 2000.0,
       impact_k: 0.5, funding_rate: 0.1095, stop_loss: 0.0, take_profit: 0.0}
"""


@pytest.fixture(scope="module")
def replay_dir(tiny_hft_artifact, tmp_path_factory):
    root = tmp_path_factory.mktemp("replay_report")
    imp, out = root / "imp", root / "replay"
    (root / "risk.yaml").write_text(RISK)
    assert main(["data", "import", "binance", str(BINANCE_RECORDING), "--out", str(imp),
                 "--bar", "1s", "--no-progress"]) == 0
    assert main(["replay", "--artifact", str(tiny_hft_artifact), "--data",
                 str(imp / "bars.parquet"), "--ticks", str(imp / "ticks.parquet"), "--risk",
                 str(root / "risk.yaml"), "--out", str(out), "--no-progress",
                 "--set", "predictor.buckets=[1]", "--set", "predictor.warmup=0",
                 "--set", "predictor.tune=false", "--set", "strategy.confidence=0"]) == 0
    return out


def test_replay_parquet_equity_ends_at_the_final_equity(replay_dir):
    m = json.loads((replay_dir / "metrics.json").read_text())
    frame = pd.read_parquet(replay_dir / "replay.parquet")
    assert list(frame.columns) == ["timestamp", "symbol", "signal", "p_down", "p_flat", "p_up",
                                   "position", "equity"]
    last = frame.groupby("symbol", sort=False)["equity"].last()
    np.testing.assert_allclose(last.sum(), m["final_equity"], rtol=1e-6)


def test_report_of_a_replay(replay_dir, tmp_path):
    assert detect_kind(replay_dir) == "replay"
    html, kind = build_html(replay_dir)
    assert kind == "replay"
    m = json.loads((replay_dir / "metrics.json").read_text())
    keyed = [(json.loads(unescape(k)), unescape(v))
             for k, v in re.findall(r'data-key="([^"]+)">([^<]*)<', html)]
    shown = {tuple(k) for k, _ in keyed}
    for path in [("bars",), ("predictions",), ("pnl",), ("latency_p50_us",),
                 ("latency_p99_us",), ("tick_execution", "fills"),
                 ("tick_execution", "execution", "n_sent")]:
        assert path in shown, path
    for path, text in keyed:
        assert text == fmt_value(lookup(m, tuple(path))), (path, text)
    assert m["tick_execution"]["fills"] > 0
    assert html.count("<img") == 3  # decisions, probabilities, fill prices
    assert 'data-source="fills.parquet"' in html and 'data-source="replay.parquet"' in html
    # the CLI writes it; a folder without replay.parquet / fills.parquet gets notes instead
    bare = tmp_path / "bare"
    shutil.copytree(replay_dir, bare)
    (bare / "replay.parquet").unlink()
    (bare / "fills.parquet").unlink()
    assert main(["report", "--run", str(bare)]) == 0
    page = (bare / "report.html").read_text()
    assert "replay.parquet is missing" in page and "fills.parquet is missing" in page
    assert page.count("<img") == 0
