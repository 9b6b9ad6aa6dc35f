"""Metrics: fixed reference values, empyrical as an oracle, PSR and VaR backtests."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quantjax.backtest import metrics as perf

R = np.array([0.012, -0.008, 0.004, 0.021, -0.015, 0.003, -0.002, 0.009, -0.011, 0.006, 0.014,
              -0.004])
B = np.array([0.010, -0.006, 0.002, 0.015, -0.012, 0.004, -0.001, 0.006, -0.009, 0.004, 0.010,
              -0.003])

# Reference values for R (benchmark B, 252 periods per year), computed with
# empyrical-reloaded 0.5.x conventions and frozen here so the test needs no oracle.
REFERENCE = {
    "total_return": 0.02873159024220051,
    "cagr": 0.8127737470257732,
    "annual_volatility": 0.17143644462439878,
    "sharpe": 3.552336851911868,
    "sortino": 6.408751284240621,
    "calmar": 50.51270947006615,
    "max_drawdown": -0.016090480109910224,
    "omega": 1.725,  # (0.069 gains) / (0.040 losses), checkable by hand
    "tail_ratio": 1.33984375,
    "stability": 0.42540382594550524,
    "var_95": -0.0128,
    "cvar_95": -0.015,
    "psr": 0.7695125559887456,
    "alpha": 0.058585599465837745,
    "beta": 1.3144283121597098,
    "information_ratio": 4.251853815639153,
}


def test_fixed_reference_values():
    got = perf.return_metrics(R, 252, B)
    for k, v in REFERENCE.items():
        assert got[k] == pytest.approx(v, rel=1e-10, abs=1e-12), k


def test_hand_checkable_values():
    assert perf.max_drawdown([0.1, -0.5, 0.2]) == pytest.approx(-0.5)
    assert perf.cum_returns_final([0.1, 0.1]) == pytest.approx(0.21)
    assert perf.cagr([0.1] * 252, 252) == pytest.approx(1.1**252 - 1)
    assert perf.value_at_risk(np.arange(1, 101) / 100.0, 0.05) == pytest.approx(0.0595)
    assert perf.conditional_value_at_risk(np.arange(1, 101) / 100.0, 0.05) == pytest.approx(0.03)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_agrees_with_empyrical(seed):
    ep = pytest.importorskip("empyrical")
    rng = np.random.default_rng(seed)
    r = rng.standard_t(4, 400) * 0.01 + 0.0004
    b = 0.6 * r + rng.normal(0, 0.008, 400)
    r[[5, 50]] = np.nan
    ppy = [252.0, 52.0, 5_896_800.0][seed]
    pairs = {
        "cagr": (perf.cagr(r, ppy), ep.cagr(r, annualization=ppy)),
        "annual_volatility": (perf.annual_volatility(r, ppy), ep.annual_volatility(r, annualization=ppy)),
        "sharpe": (perf.sharpe_ratio(r, ppy), ep.sharpe_ratio(r, annualization=ppy)),
        "sortino": (perf.sortino_ratio(r, ppy), ep.sortino_ratio(r, annualization=ppy)),
        "calmar": (perf.calmar_ratio(r, ppy), ep.calmar_ratio(r, annualization=ppy)),
        "max_drawdown": (perf.max_drawdown(r), ep.max_drawdown(r)),
        "tail_ratio": (perf.tail_ratio(r), ep.tail_ratio(r)),
        "stability": (perf.stability_of_timeseries(r), ep.stability_of_timeseries(r)),
        "cvar": (perf.conditional_value_at_risk(r), ep.conditional_value_at_risk(r)),
        "alpha": (perf.alpha(r, b, ppy), ep.alpha(r, b, annualization=ppy)),
        "beta": (perf.beta(r, b), ep.beta(r, b)),
        "excess_sharpe": (perf.excess_sharpe(r, b), ep.excess_sharpe(r, b)),
    }
    rc = r[~np.isnan(r)]
    pairs["omega"] = (perf.omega_ratio(rc, ppy), ep.omega_ratio(rc, annualization=ppy))
    pairs["var"] = (perf.value_at_risk(rc), ep.value_at_risk(rc))
    for k, (a, e) in pairs.items():
        assert a == pytest.approx(e, rel=1e-8, abs=1e-12), k


def test_psr_matches_formula():
    # Bailey & Lopez de Prado (2012), eq. for PSR(SR* = 0) written out with numpy moments.
    r = R
    n = len(r)
    sr = r.mean() / r.std(ddof=1)
    z = (r - r.mean()) / r.std(ddof=0)
    skew, kurt = np.mean(z**3), np.mean(z**4)
    x = sr * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    assert perf.probabilistic_sharpe_ratio(r) == pytest.approx(0.5 * math.erfc(-x / math.sqrt(2)))
    assert perf.probabilistic_sharpe_ratio(r, sr_benchmark=sr) == pytest.approx(0.5)


def test_kupiec_matches_published_nonrejection_regions():
    # Kupiec (1995) POF test at 95% confidence; non-rejection regions for the number of
    # exceptions N published in Jorion, "Value at Risk" (3rd ed., 2007), Table 6-3:
    # p=0.05: T=255 -> 6<N<21, T=510 -> 16<N<36, T=1000 -> 37<N<65;
    # p=0.01: T=510 -> 1<N<11, T=1000 -> 4<N<17 (and N<7 for T=255).
    crit = 3.841458820694124  # chi2(1) 95% quantile
    table = [(0.05, 255, 6, 21), (0.05, 510, 16, 36), (0.05, 1000, 37, 65),
             (0.01, 510, 1, 11), (0.01, 1000, 4, 17), (0.01, 255, 0, 7)]
    for p, n, lo, hi in table:
        accepted = [x for x in range(0, hi + 5) if perf.kupiec_pof(n, x, p)["lr"] < crit]
        assert max(accepted) == hi - 1, (p, n)
        if lo > 0:
            assert min(accepted) == lo + 1, (p, n)


def test_kupiec_and_christoffersen_worked_example():
    # Hand computation from the formulas of Kupiec (1995) and Christoffersen (1998,
    # International Economic Review 39(4), eqs. for LR_uc, LR_ind, LR_cc) for
    # hits = 0001110000 and p = 0.1: n = 10, x = 3; n00=5, n01=1, n10=1, n11=2,
    # pi0 = 1/6, pi1 = 2/3, pi = 3/9.
    hits = [0, 0, 0, 1, 1, 1, 0, 0, 0, 0]
    lr_pof = -2 * (7 * math.log(0.9) + 3 * math.log(0.1) - 7 * math.log(0.7) - 3 * math.log(0.3))
    lr_ind = -2 * (6 * math.log(2 / 3) + 3 * math.log(1 / 3)
                   - (5 * math.log(5 / 6) + math.log(1 / 6) + math.log(1 / 3) + 2 * math.log(2 / 3)))
    assert lr_pof == pytest.approx(3.07327173607597)
    assert lr_ind == pytest.approx(2.231435513142097)
    pof = perf.kupiec_pof(10, 3, 0.1)
    assert pof["lr"] == pytest.approx(lr_pof)
    assert pof["p_value"] == pytest.approx(math.erfc(math.sqrt(lr_pof / 2)))  # chi2(1) sf
    ch = perf.christoffersen(hits, 0.1)
    assert (ch["n00"], ch["n01"], ch["n10"], ch["n11"]) == (5, 1, 1, 2)
    assert ch["lr_ind"] == pytest.approx(lr_ind)
    assert ch["lr_cc"] == pytest.approx(lr_pof + lr_ind)
    assert ch["p_value_cc"] == pytest.approx(math.exp(-(lr_pof + lr_ind) / 2))  # chi2(2) sf


def test_rolling_var_uses_only_the_past():
    r = np.random.default_rng(0).normal(0, 0.01, 300)
    v = perf.rolling_var(r, window=100)
    assert np.all(np.isnan(v[:100]))
    assert v[150] == pytest.approx(np.percentile(r[50:150], 5))
    out = perf.var_backtest(r, window=100)
    assert out["n_obs"] == 200 and 0 <= out["kupiec_p_value"] <= 1


def test_strategy_parameters_have_one_source():
    """StrategyParams, the defaults, the strict config section and the docs all come from
    MODEL_PARAMS; the shipped YAML restates none of them."""
    import dataclasses

    from quantjax.backtest import strategies
    from quantjax.backtest.config import BacktestConfig, StrategyConfig
    from quantjax.config import load

    from support.paths import ROOT

    names = [p.name for p in strategies.MODEL_PARAMS]
    assert list(strategies.StrategyParams._fields) == names
    cfg = StrategyConfig()
    assert {n: getattr(cfg, n) for n in names} == strategies.STRATEGY_DEFAULTS
    assert dict(strategies.make_strategy_params()._asdict()) == pytest.approx(
        strategies.STRATEGY_DEFAULTS)
    assert load(BacktestConfig, ROOT / "configs" / "backtest.yaml").strategy == cfg
    fields = {f.name for f in dataclasses.fields(StrategyConfig)}
    assert set(names) <= fields
    docs = (ROOT / "docs" / "backtest.md").read_text()
    row = next(line for line in docs.splitlines() if line.startswith("| `strategy.confidence`"))
    assert all(f"`{n}`" in row for n in names[1:])
