"""Walk-forward retraining: purged and embargoed folds, out-of-sample predictions only, and no
prediction from a model that saw its label (labels perturbed after each fold's cut-off)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from quantjax.cli.main import main
from quantjax.config import load
from quantjax.data.market_io import write_market
from quantjax.errors import DataError
from quantjax.hft.config import HFTConfig
from quantjax.hft.dataset import features_config, prepare_source
from quantjax.hft.walk_forward import fold_ranges, gap, oos_market_predictions, run_walk_forward

from support.hft_runs import TINY_CONFIG, slice_market, tiny_market, tiny_overrides

WF = ["walk_forward.folds=2", "walk_forward.test_fraction=0.4", "train.max_steps=4"]


def _cfg(extra=()):
    return load(HFTConfig, TINY_CONFIG, tiny_overrides() + WF + list(extra))


@pytest.mark.parametrize("mode", ["expanding", "rolling"])
def test_folds_are_purged_embargoed_and_cover_the_end(mode):
    cfg = _cfg([f"walk_forward.mode={mode}", "walk_forward.train_size=150",
                "walk_forward.folds=3"])
    folds = fold_ranges(60, 499, cfg)
    g = gap(cfg)
    assert g == cfg.data.prediction_horizon + cfg.model.sequence_length
    assert folds[-1].test.stop == 500
    for i, f in enumerate(folds):
        assert f.train.stop + g == f.val.start and f.val.stop + g == f.test.start
        # the last training / validation label window (t, t + h] ends before any test window
        assert f.val.stop - 1 + cfg.data.prediction_horizon < f.test.start - cfg.model.sequence_length + 1
        if i:
            assert f.test.start == folds[i - 1].test.stop
        if mode == "rolling":
            assert f.train.stop - f.train.start + (f.val.stop - f.val.start) + g == 150
        else:
            assert f.train.start == 60


def test_no_prediction_comes_from_a_model_that_saw_its_label():
    cfg = _cfg()
    market = tiny_market()
    src = prepare_source(market, features_config(cfg), cfg.model.sequence_length,
                         cfg.data.prediction_horizon, cfg.data.direction_threshold)
    base = run_walk_forward(cfg, src, log=lambda *a: None)
    rng = np.random.default_rng(0)
    K = len(base.folds)
    for k, fold in enumerate(base.folds):
        cutoff = fold.val.stop - 1  # the last label fold k trained or validated on
        assert base.oos[k]["index"][:, 1].min() > cutoff + cfg.data.prediction_horizon
        lab = src.labels
        later = np.zeros(lab.direction.shape, bool)
        later[:, cutoff + 1:] = True
        bad = lab._replace(
            direction=np.where(later, rng.integers(0, 3, later.shape), lab.direction).astype(np.int32),
            future_return=np.where(later, rng.normal(0, 0.01, later.shape),
                                   lab.future_return).astype(np.float32),
            future_vol=np.where(later, rng.random(later.shape) * 0.01,
                                lab.future_vol).astype(np.float32))
        res = run_walk_forward(cfg, src._replace(labels=bad), log=lambda *a: None)
        for j in range(k + 1):  # every model trained before the cut-off is unchanged, bit for bit
            for key in ("direction_probs", "pred_return", "pred_vol"):
                np.testing.assert_array_equal(res.oos[j][key], base.oos[j][key])
        if k + 1 < K:  # ... and the perturbation does reach the later folds' models
            assert not np.array_equal(res.oos[k + 1]["pred_return"], base.oos[k + 1]["pred_return"])


def test_cli_walk_forward_backtest_and_report_use_oos_predictions_only(tmp_path):
    market = slice_market(tiny_market(), 0, 500)
    data = write_market(market, tmp_path / "m.parquet")
    run = tmp_path / "wf"
    sets = [a for o in tiny_overrides() + WF for a in ("--set", o)]
    assert main(["train", "hft", "--walk-forward", "--config", str(TINY_CONFIG), "--data",
                 str(data), "--workdir", str(run), "--no-progress", *sets]) == 0
    m = json.loads((run / "metrics.json").read_text())
    wf = m["walk_forward"]
    assert len(wf["folds"]) == 2 and m["test"] == wf["pooled"]
    assert wf["pooled"]["n"] == sum(f["n_test"] for f in wf["folds"])
    for key in ("directional_accuracy_ci", "ic", "rank_ic", "icir", "linear_baseline_accuracy"):
        assert key in wf["pooled"], key
    with np.load(run / "oos_predictions.npz") as z:
        first_oos = int(z["index"][:, 1].min())
        assert set(np.unique(z["fold"])) == {0, 1}
    probs, ret, _ = oos_market_predictions(run, market)
    assert np.isnan(ret[:, :first_oos]).all() and np.isfinite(ret).sum() > 0
    assert np.isnan(probs[~np.isfinite(ret)]).all()
    bt = tmp_path / "bt"
    assert main(["backtest", "--checkpoint", str(run), "--data", str(data), "--out", str(bt),
                 "--set", "strategy.confidence=0.0"]) == 0
    mb = json.loads((bt / "metrics.json").read_text())
    assert "out-of-sample predictions only" in mb["signal_source"]
    import pandas as pd

    trades = pd.read_parquet(bt / "trades.parquet")
    if len(trades):  # orders are decided on OOS bars and fill one bar later
        first = pd.Timestamp(market.timestamps[first_oos + 1], tz="UTC")
        assert (pd.to_datetime(trades["entry_time"], utc=True) >= first).all()
    assert main(["report", "--run", str(run), "--out", str(tmp_path / "r.html")]) == 0
    html = (tmp_path / "r.html").read_text()
    assert "Walk-forward folds" in html
    # another market is refused with one line
    with pytest.raises(DataError, match="its own market"):
        oos_market_predictions(run, slice_market(market, 0, 400))
