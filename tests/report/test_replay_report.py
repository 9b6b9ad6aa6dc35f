"""``quantjax report`` of a ``quantjax replay`` folder: the last step of the real-recording
chain (the session fixture ``real_ticks_replay``: import of the Binance recording, the tiny
model trained on its 1 s bars, export, replay with its decisions executed on the ticks)."""

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

pytest.importorskip("matplotlib")


@pytest.fixture(scope="module")
def replay_dir(real_ticks_replay):
    return real_ticks_replay / "replay"


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
