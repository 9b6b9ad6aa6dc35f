"""Honest annualization: intraday returns compounded to days, null annualized figures below the
minimum span, per-bar figures beside them, block-bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from quantjax.backtest import metrics as M

DAY = M.NS_PER_DAY


def _daily_ts(n):
    return (np.arange(n, dtype=np.int64) + 20_000) * DAY + 16 * 3600 * 10**9


def _intraday_ts(days, per_day):
    base = (np.arange(days, dtype=np.int64)[:, None] + 20_000) * DAY
    bars = (9 * 3600 + 1800 + np.arange(1, per_day + 1, dtype=np.int64)) * 10**9
    return (base + bars[None]).ravel()


def test_daily_bars_give_exactly_the_return_metrics():
    rng = np.random.default_rng(0)
    r = rng.normal(0.0005, 0.01, 300)
    b = 0.5 * r + rng.normal(0, 0.005, 300)
    got = M.period_metrics(r, _daily_ts(300), 252.0, b)
    ref = M.return_metrics(r, 252.0, b)
    for k, v in ref.items():
        assert got[k] == v, k  # bit for bit: nothing is aggregated on daily bars
    assert got["annualization"]["basis"] == "bars" and got["annualization"]["annualized"]
    assert got["annual_return"] == pytest.approx(np.mean(r) * 252)


def test_intraday_returns_are_compounded_to_days_before_annualizing():
    rng = np.random.default_rng(1)
    days, per_day = 30, 390
    r = rng.normal(0.00002, 0.001, days * per_day)
    ts = _intraday_ts(days, per_day)
    got = M.period_metrics(r, ts, 252.0 * per_day)
    daily = np.prod(1 + r.reshape(days, per_day), axis=1) - 1
    np.testing.assert_allclose(M.daily_returns(r, ts)[1], daily, rtol=1e-9, atol=1e-15)
    ref = M.return_metrics(daily, 252.0)
    for k in ("sharpe", "sortino", "cagr", "annual_volatility", "calmar"):
        assert got[k] == pytest.approx(ref[k], rel=1e-9), k
    assert got["annual_return"] == pytest.approx(daily.mean() * 252, rel=1e-9)
    assert got["annualization"] == {"basis": "daily", "periods_per_year": 252.0,
                                    "n_days": 30.0, "min_days": 20, "annualized": True,
                                    "reason": None}
    assert got["total_return"] == pytest.approx(np.prod(1 + r) - 1)


def test_short_runs_have_null_annualized_figures_with_a_reason():
    r = np.random.default_rng(2).normal(-0.00003, 0.0004, 3000)
    ts = _intraday_ts(1, 3000)  # one session of one-second-like bars
    got = M.period_metrics(r, ts, 5_896_800.0)
    for k in M.ANNUALIZED:
        if k in got:
            assert got[k] is None, k
    ann = got["annualization"]
    assert not ann["annualized"] and "1 trading day," in ann["reason"]
    assert got["sharpe_per_bar"] == pytest.approx(r.mean() / r.std(ddof=1))
    assert got["mean_bar_return"] == pytest.approx(r.mean())
    assert got["std_bar_return"] == pytest.approx(r.std(ddof=1))
    assert got["max_drawdown"] < 0 and got["n_bars"] == 3000
    ci = M.return_intervals(r, ts, ann, 200, 0)
    assert ci["sharpe_ci"] is None and ci["annual_return_ci"] is None
    lo, hi = ci["sharpe_per_bar_ci"]
    assert lo < got["sharpe_per_bar"] < hi
    assert ci["bootstrap"]["resamples"] == 200 and ci["bootstrap"]["seed"] == 0


def test_min_days_is_configurable():
    r = np.random.default_rng(3).normal(0.0004, 0.01, 10)
    assert M.period_metrics(r, _daily_ts(10), 252.0)["sharpe"] is None
    assert M.period_metrics(r, _daily_ts(10), 252.0, min_days=5)["sharpe"] is not None


def test_annualized_intervals_contain_the_estimates():
    rng = np.random.default_rng(4)
    r = rng.normal(0.001, 0.01, 500)
    ts = _daily_ts(500)
    got = M.period_metrics(r, ts, 252.0)
    ci = M.return_intervals(r, ts, got["annualization"], 500, 1)
    assert ci["sharpe_ci"][0] < got["sharpe"] < ci["sharpe_ci"][1]
    assert ci["annual_return_ci"][0] < got["annual_return"] < ci["annual_return_ci"][1]
    assert ci == M.return_intervals(r, ts, got["annualization"], 500, 1)


def test_cli_summary_and_report_of_a_one_session_run(tmp_path, capsys):
    import json

    from quantjax.cli.main import main

    out = tmp_path / "bt"
    # the size of test_backtest_cli's synthetic run: its compiled programs are reused
    assert main(["backtest", "--synthetic", "--out", str(out), "--set", "synthetic.steps=300",
                 "--set", "synthetic.symbols=2", "--set", "backtest.bootstrap_resamples=100"]) == 0
    text = capsys.readouterr().out.replace("\n", " ")
    assert "annualized figures: n/a (the run spans 1 trading day" in text
    assert "per bar: mean return" in text and "Sharpe" in text
    m = json.loads((out / "metrics.json").read_text())
    port = m["portfolio"]
    assert port["sharpe"] is None and port["cagr"] is None
    assert port["bootstrap"]["resamples"] == 100 and m["annualization"]["n_days"] == 1
    assert m["signal_source"] == "built-in strategy 'ofi'"
    assert main(["report", "--run", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Annualized figures (Sharpe, Sortino" in html and "Sharpe per bar" in html
