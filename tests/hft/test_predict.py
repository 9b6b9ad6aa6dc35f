"""predict_market (model-driven backtests), hft_data, predictions.npz / attention_samples.npz."""

from __future__ import annotations

import json

import numpy as np
import pytest


@pytest.fixture(scope="module")
def run(tiny_hft_run):
    """The shared tiny run (conftest) and its metrics.json."""
    return tiny_hft_run, json.loads((tiny_hft_run / "metrics.json").read_text())


def _market(run_dir):
    from quantjax.config import load
    from quantjax.hft.config import HFTConfig
    from quantjax.hft.dataset import load_hft_market

    cfg = load(HFTConfig, run_dir / "config.yaml")
    return load_hft_market(cfg, None)[0]


def test_predict_market_shapes_and_causality(run):
    from quantjax.hft.predict import predict_market
    from quantjax.train.checkpoint import load_for_inference

    wd, _ = run
    m = _market(wd)
    probs, ret, vol = predict_market(wd, m)
    S, T = m.n_symbols, m.n_steps
    assert probs.shape == (S, T, 3) and ret.shape == (S, T) and vol.shape == (S, T)
    ok = np.isfinite(ret)
    assert ok.sum() > 0.5 * S * T and not ok[:, :7].any()  # warm-up + L-1 rows are NaN
    assert np.allclose(probs[ok].sum(-1), 1.0, atol=1e-5) and (vol[ok] > 0).all()
    assert (np.isfinite(probs).all(-1) == ok).all()
    _, _, scaler, _ = load_for_inference(wd)
    assert scaler.to_dict()["mean"]  # the features' Scaler, serializable
    # perturb the future: predictions at t <= t0 are unchanged
    t0 = T // 2
    rng = np.random.default_rng(1)
    vals = m.values.copy()
    vals[:, t0 + 1:] *= rng.uniform(0.9, 1.1, vals[:, t0 + 1:].shape)
    p2, r2, v2 = predict_market(wd, m._replace(values=vals))
    np.testing.assert_array_equal(probs[:, : t0 + 1], p2[:, : t0 + 1])
    np.testing.assert_array_equal(ret[:, : t0 + 1], r2[:, : t0 + 1])
    np.testing.assert_array_equal(vol[:, : t0 + 1], v2[:, : t0 + 1])
    assert not np.allclose(np.nan_to_num(ret[:, t0 + 20:]), np.nan_to_num(r2[:, t0 + 20:]))


def test_backtest_from_checkpoint_end_to_end(run, tmp_path):
    from quantjax.cli.main import main

    wd, _ = run
    out = tmp_path / "bt"
    # the tiny run's market size (2 x 500 bars): its feature and prediction programs are shared
    rc = main(["backtest", "--checkpoint", str(wd), "--synthetic", "--out", str(out),
               "--set", "synthetic.symbols=2", "--set", "synthetic.steps=500"])
    assert rc == 0
    js = json.loads((out / "metrics.json").read_text())
    assert js["n_steps"] == 500 and "portfolio" in js


def test_prediction_files_written_and_used_by_report(run):
    wd, metrics = run
    with np.load(wd / "predictions.npz") as z:
        p = {k: z[k] for k in z.files}
    n = metrics["test"]["n"]
    for k in ("pred_vol", "realized_vol", "pred_direction", "true_direction", "pred_return",
              "true_return", "index", "direction_probs"):
        assert len(p[k]) == n, k
    acc = float(np.mean(p["pred_direction"] == p["true_direction"]))
    assert acc == pytest.approx(metrics["test"]["directional_accuracy"])
    with np.load(wd / "attention_samples.npz") as z:
        att = z["attention"]
    assert att.shape == (4, 2, 8, 8) and np.allclose(att.sum(-1), 1.0, atol=1e-5)
    from quantjax.report.hft import _load_predictions

    class _Rep:
        def note(self, *a, **k):
            pass

    got = _load_predictions(_Rep(), wd, metrics, recompute=False)
    assert got["source"] == "predictions.npz"
    assert got["attention_source"] == "attention_samples.npz"


def test_predict_market_feature_mismatch_is_one_line_error(run):
    from quantjax.errors import DataError
    from quantjax.hft.predict import predict_market

    wd, _ = run
    m = _market(wd)
    assert m.has_quotes
    ohlcv = m._replace(values=m.values[..., :5], fields=m.fields[:5])
    with pytest.raises(DataError, match="features differ") as e:
        predict_market(wd, ohlcv)
    assert "\n" not in str(e.value)
