"""HFT evaluation: IC metrics against scipy, the linear baseline against a generic optimizer, the
same-rows oracle against the generator's population figure, walk-forward input errors and the
documented ``metrics.json`` keys of a run."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import optimize
from scipy import stats as scipy_stats

from quantjax.config import load, to_dict
from quantjax.config.data import SynthMarketConfig
from quantjax.data.synth_market import oracle_accuracy, row_oracle, simulate
from quantjax.errors import DataError
from quantjax.hft.config import HFTConfig
from quantjax.hft.linear_baseline import fit_linear_baseline
from quantjax.hft.metrics import ic_metrics
from quantjax.hft.oracle import same_rows_oracle
from quantjax.hft.walk_forward import fold_ranges

from support.hft_runs import TINY_CONFIG, tiny_market, tiny_overrides


def _panel(n_symbols, n_steps, seed=0):
    rng = np.random.default_rng(seed)
    s, t = np.meshgrid(np.arange(n_symbols), np.arange(n_steps), indexing="ij")
    index = np.stack([s.ravel(), t.ravel()], axis=1)
    pred = rng.normal(size=len(index))
    target = 0.3 * pred + rng.normal(size=len(index))
    return index, pred, target


def test_cross_sectional_ic_matches_scipy():
    S, T = 5, 40
    index, pred, target = _panel(S, T)
    m = ic_metrics(index, pred, target, S, T, min_symbols=3)
    P, Y = pred.reshape(S, T), target.reshape(S, T)
    ic = np.array([scipy_stats.pearsonr(P[:, t], Y[:, t])[0] for t in range(T)])
    ric = np.array([scipy_stats.spearmanr(P[:, t], Y[:, t])[0] for t in range(T)])
    assert m["ic_kind"] == "cross_sectional" and m["ic_n_periods"] == T
    assert m["ic"] == pytest.approx(ic.mean(), abs=1e-12)
    assert m["rank_ic"] == pytest.approx(ric.mean(), abs=1e-12)
    assert m["icir"] == pytest.approx(ic.mean() / ic.std(ddof=1), abs=1e-12)
    assert m["rank_icir"] == pytest.approx(ric.mean() / ric.std(ddof=1), abs=1e-12)
    assert m["ic_positive_fraction"] == pytest.approx(np.mean(ic > 0))
    for s in range(S):  # the time-series IC of each symbol beside them
        assert m["ic_per_symbol"][str(s)]["ic"] == pytest.approx(
            scipy_stats.pearsonr(P[s], Y[s])[0], abs=1e-12)


def test_time_series_ic_of_a_one_symbol_run_matches_scipy():
    T = 300
    index, pred, target = _panel(1, T, seed=1)
    day = 86_400 * 10**9
    timestamps = np.arange(T, dtype=np.int64) * (day // 100)  # 100 bars per UTC day
    m = ic_metrics(index, pred, target, 1, T, min_symbols=3, symbols=("AAA",),
                   timestamps=timestamps)
    assert m["ic_kind"] == "time_series"
    assert m["ic"] == pytest.approx(scipy_stats.pearsonr(pred, target)[0], abs=1e-12)
    assert m["rank_ic"] == pytest.approx(scipy_stats.spearmanr(pred, target)[0], abs=1e-12)
    daily = np.array([scipy_stats.pearsonr(pred[d * 100:(d + 1) * 100],
                                           target[d * 100:(d + 1) * 100])[0] for d in range(3)])
    assert m["ic_n_periods"] == 3
    assert m["icir"] == pytest.approx(daily.mean() / daily.std(ddof=1), abs=1e-12)
    assert m["ic_per_symbol"]["AAA"]["n"] == T


def test_linear_baseline_solves_the_penalized_problems():
    rng = np.random.default_rng(0)
    n, f = 400, 4
    x = rng.normal(size=(n, f))
    logits = x @ rng.normal(size=(f, 3))
    y = np.array([rng.choice(3, p=np.exp(r) / np.exp(r).sum()) for r in logits])
    ret = 1e-3 * (x @ rng.normal(size=f)) + 1e-3 * rng.normal(size=n) + 2e-4
    lam = 0.1
    model = fit_linear_baseline(x, y, ret, x[:50], y[:50], ret[:50], [lam])
    xb = np.concatenate([x, np.ones((n, 1))], axis=1)
    penal = np.r_[np.ones(f), 1e-6]

    def loss(w):  # the documented objective: mean cross-entropy + l2/2 |W|^2 (not the intercept)
        w = w.reshape(f + 1, 3)
        z = xb @ w
        logp = z - z.max(axis=1, keepdims=True)
        logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
        return -logp[np.arange(n), y].mean() + 0.5 * lam * np.sum(penal[:, None] * w * w)

    ref = optimize.minimize(loss, np.zeros(3 * (f + 1)), method="BFGS", options={"gtol": 1e-9})
    p_ref = np.exp(xb @ ref.x.reshape(f + 1, 3))
    p_ref /= p_ref.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(model.predict(x)["direction_probs"], p_ref, atol=1e-4)
    # ridge with an unpenalized intercept, closed form (targets scaled by their std)
    scale = ret.std()
    xc = x - x.mean(axis=0)
    w = np.linalg.solve(xc.T @ xc / n + lam * np.eye(f), xc.T @ (ret - ret.mean()) / n / scale)
    expected = (xc @ w) * scale + ret.mean()
    np.testing.assert_allclose(model.predict(x)["pred_return"], expected, rtol=1e-3, atol=1e-7)


def test_same_rows_oracle_agrees_with_the_population_figure():
    cfg = SynthMarketConfig(symbols=2, steps=600, seed=3, oracle_states=2000, oracle_paths=400)
    sim = simulate(cfg)
    population = oracle_accuracy(cfg, sim)["accuracy"]
    k = cfg.label_horizon
    s, t = np.meshgrid(np.arange(2), np.arange(40, 600 - k), indexing="ij")
    o = row_oracle(cfg, s.ravel(), t.ravel(), paths=400, seed=0, sim=sim)
    np.testing.assert_allclose(o["probs"].sum(axis=1), 1.0)
    np.testing.assert_array_equal(o["pred"], o["probs"].argmax(axis=1))
    assert (o["accuracy"] >= 0.0).all() and (o["accuracy"] <= 1.0).all()
    # every state of the path, each weighted once: the population figure up to Monte Carlo noise
    assert o["accuracy"].mean() == pytest.approx(population, abs=0.02)
    # seeded: the same rows give the same figures (one random stream over the rows in order)
    again = row_oracle(cfg, s.ravel(), t.ravel(), paths=400, seed=0, sim=sim)
    np.testing.assert_array_equal(again["accuracy"], o["accuracy"])


def test_same_rows_oracle_needs_the_generators_own_path():
    gen = to_dict(SynthMarketConfig(symbols=2, steps=500, seed=0))
    market = tiny_market(symbols=2, steps=500, seed=0)
    oracle, why = same_rows_oracle(gen, market, 5, 1e-4, paths=20)
    assert why is None
    assert oracle(np.array([[0, 100], [1, 200]]))["accuracy"].shape == (2,)
    oracle, why = same_rows_oracle(gen, tiny_market(symbols=2, steps=500, seed=1), 5, 1e-4, 20)
    assert oracle is None and "differ from the generator's path" in why
    oracle, why = same_rows_oracle({**gen, "steps": 600}, market, 5, 1e-4, 20)
    assert oracle is None and "is not the generator's path" in why
    oracle, why = same_rows_oracle(None, market, 5, 1e-4, 20)
    assert oracle is None and "not synthetic" in why


def test_walk_forward_with_too_little_data_is_a_one_line_error():
    cfg = load(HFTConfig, TINY_CONFIG, tiny_overrides() + ["walk_forward.folds=50"])
    with pytest.raises(DataError, match=r"walk_forward: .*too few for 50 test blocks") as err:
        fold_ranges(0, 99, cfg)
    assert "\n" not in str(err.value)
    cfg = load(HFTConfig, TINY_CONFIG, tiny_overrides() + ["walk_forward.folds=4",
                                                          "walk_forward.test_fraction=0.95"])
    with pytest.raises(DataError, match="fold 0 has no training data"):
        fold_ranges(0, 99, cfg)


def test_a_run_writes_the_documented_evaluation_keys(tiny_hft_run):
    m = json.loads((tiny_hft_run / "metrics.json").read_text())
    test = m["test"]
    for key in ("ic", "rank_ic", "icir", "ic_kind", "ic_per_symbol", "bayes_accuracy",
                "bayes_accuracy_population", "accuracy_over_bayes", "linear_baseline_accuracy",
                "accuracy_minus_linear", "directional_accuracy_ci", "macro_f1_ci", "ic_ci",
                "rank_ic_ci", "bayes_accuracy_ci", "linear_baseline_accuracy_ci"):
        assert key in test, key
    lo, hi = test["directional_accuracy_ci"]
    assert lo <= test["directional_accuracy"] <= hi
    assert test["bootstrap"]["resamples"] == 1000 and test["bootstrap"]["seed"] == 0
    cfg = load(HFTConfig, tiny_hft_run / "config.yaml")
    assert test["bootstrap"]["block"] >= cfg.data.prediction_horizon  # overlapping labels
    assert math.isfinite(test["bayes_accuracy"]) and 0 < test["bayes_accuracy"] <= 1
    assert "l2_direction" in m["linear_baseline"]
