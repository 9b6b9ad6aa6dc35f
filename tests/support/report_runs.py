"""Tiny run folders for the report tests, written directly in the documented formats (no
training needed). Not a test module itself (no tests here)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd


def _dump(path: Path, obj) -> None:
    def clean(o):
        if isinstance(o, dict):
            return {k: clean(v) for k, v in o.items()}
        if isinstance(o, list):
            return [clean(v) for v in o]
        if isinstance(o, float) and not math.isfinite(o):
            return None
        return o

    path.write_text(json.dumps(clean(obj), indent=2, allow_nan=False))


def backtest_run(d: Path, benchmark: bool = True, n: int = 320, trades: bool = True,
                 freq: str = "B") -> Path:
    from quantjax.backtest import metrics as perf

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ts = pd.date_range("2024-01-01", periods=n, freq=freq, tz="UTC")
    r = rng.normal(0.0004, 0.01, n)
    b = rng.normal(0.0003, 0.011, n)
    eq = 100_000.0 * np.cumprod(1 + r)
    ret = pd.DataFrame({"timestamp": ts, "equity": eq, "return": r})
    if benchmark:
        ret["benchmark"] = b
    ret.to_csv(d / "returns.csv", index=False)
    syms = ["AAA", "BB.B"]
    pos = rng.integers(-5, 6, (2, n)).astype(float)
    px = 100 + np.cumsum(rng.normal(0, 1, (2, n)), axis=1)
    pd.DataFrame({"timestamp": np.tile(ts, 2), "symbol": np.repeat(syms, n),
                  "position": pos.ravel(), "price": px.ravel(),
                  "market_value": (pos * px).ravel(), "book_cash": 0.0,
                  "book_equity": np.tile(eq, 2)}).to_parquet(d / "equity.parquet", index=False)
    k = min(25, n - 1) if trades else 0
    pd.DataFrame({"symbol": rng.choice(syms, k), "side": "long", "entry_time": ts[:k],
                  "exit_time": ts[1:k + 1], "size": 1.0, "entry_price": 100.0,
                  "exit_price": 101.0, "fees": 0.1, "pnl": rng.normal(5, 40, k),
                  "return": 0.01, "bars_held": 1, "exit_reason": "signal"}
                 ).to_parquet(d / "trades.parquet", index=False)
    port = perf.return_metrics(r, 252.0, b if benchmark else None)
    port.update(n_trades=k, win_rate=0.52, profit_factor=1.31, avg_win=41.5, avg_loss=-38.25,
                total_fees=2.5, exit_reasons={"signal": k, "stop_loss": 0},
                turnover=12.3456, exposure=0.87, avg_gross_leverage=0.0123, n_fills=2 * k,
                final_equity=float(eq[-1]), initial_equity=100_000.0, breaker_tripped=False,
                var_backtest=perf.var_backtest(r, window=100))
    per = {s: {**perf.return_metrics(r * (i + 1) / 2, 252.0), "n_trades": 12 + i,
               "win_rate": 0.5, "final_equity": 50_000.0 + i} for i, s in enumerate(syms)}
    _dump(d / "metrics.json", {"mode": "independent", "periods_per_year": 252.0,
                               "n_steps": n, "portfolio": port, "per_symbol": per})
    (d / "config.yaml").write_text("backtest:\n  mode: independent\n")
    return d


def hft_run(d: Path, predictions: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    cm = [[50, 30, 20], [25, 300, 40], [15, 35, 60]]
    test = {"n": 575, "directional_accuracy": 410 / 575, "macro_f1": 0.5123456,
            "confusion_matrix": cm, "price_mae": 0.000246, "vol_r2": 0.118,
            "majority_baseline_accuracy": 0.63478, "persistence_baseline_accuracy": 0.41,
            "zero_return_price_mae": 0.0002473, "persistence_price_mae": 0.00031,
            "class_frequencies": [0.17, 0.63, 0.2], "bayes_accuracy": 0.74,
            "accuracy_over_bayes": (410 / 575) / 0.74}
    val = {k: v for k, v in test.items() if k not in ("bayes_accuracy", "accuracy_over_bayes")}
    _dump(d / "metrics.json", {"val": val, "test": test, "train_samples_per_sec": 7818.5,
                               "steps": 369, "best_step": 246, "epochs": 3, "n_train": 7924,
                               "n_features": 59, "n_params": 11141,
                               "data": {"source": "synthetic", "bayes_accuracy": 0.74}})
    with (d / "metrics.jsonl").open("w") as f:
        for e in range(3):
            f.write(json.dumps({"epoch": e, "step": 123 * (e + 1), "train_loss": 1.7 - 0.1 * e,
                                "val_loss": 1.5 - 0.02 * e, "val_accuracy": 0.47 + 0.01 * e,
                                "val_macro_f1": 0.35, "val_score": 0.47 + 0.01 * e,
                                "best_step": 123 * (e + 1)}) + "\n")
    if predictions:
        rv = np.abs(rng.normal(1e-4, 5e-5, 400))
        np.savez(d / "predictions.npz", pred_vol=rv + rng.normal(0, 2e-5, 400), realized_vol=rv)
        att = rng.random((3, 4, 16, 16))
        np.savez(d / "attention_samples.npz", attention=att / att.sum(-1, keepdims=True))
    (d / "config.yaml").write_text("model:\n  sequence_length: 16\n")
    return d


def credit_practice_metrics(rng, y, p) -> tuple[dict, dict]:
    """``(metrics.json keys, stability.json)`` of the credit-practice checks, computed by the
    library on a small synthetic frame: ``features``, ``points``, ``monotonicity``,
    ``segments``, ``fairness``."""
    from quantjax.config.credit_schema import CreditSchema
    from quantjax.credit.config import CreditDecisionConfig
    from quantjax.credit.points import points_summary
    from quantjax.credit.segments import group_reports
    from quantjax.credit.stability import build_reference, stability_report
    from quantjax.credit.woe import feature_strength

    n = len(y)
    df = pd.DataFrame({"income": np.where(rng.random(n) < 0.05, np.nan, rng.normal(50, 10, n)
                                          - 8 * y),
                       "region": rng.choice(["north", "south", "east"], n),
                       "sex": np.where(rng.random(n) < 0.5, "f", "m")})
    schema = CreditSchema(numeric=("income",), categorical=("region",), target="y",
                          positive="1", segments=("region",), protected=("sex",))
    out = {"features": feature_strength(df, y, schema, bins=5),
           "points": points_summary(CreditDecisionConfig())}
    out.update(group_reports(df, schema, y, p, low=0.1))
    out["monotonicity"] = {"income": {"direction": "decreasing", "grid": [40.0, 50.0, 60.0],
                                      "share": 0.0625, "violations": 5, "rows": 80,
                                      "flagged": True, "tolerance": 0.001, "max_share": 0.05}}
    ref = build_reference(df.iloc[: n // 2], schema, p[: n // 2], bins=5)
    stab = stability_report(ref, df.iloc[n // 2:], p[n // 2:])
    return out, stab


def credit_run(d: Path, scores: bool = True, importance_in_metrics: bool = True) -> Path:
    from quantjax.credit import metrics as credit_metrics
    from quantjax.jsonio import write_json

    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(2)
    n = 600
    y = (rng.random(n) < 0.2).astype(int)
    raw = 1 / (1 + np.exp(-(rng.normal(0, 1, n) + 1.5 * y - 1.0)))
    p = np.clip(raw * 0.8, 1e-4, 1 - 1e-4)
    test = credit_metrics.all_metrics(y, p, 0.5, 10)
    test.update(ece_uncalibrated=credit_metrics.ece(y, raw, 10), logreg_auc=0.7012, logreg_ks=0.31,
                logreg_brier=0.14, bayes_auc=0.8123, auc_over_bayes=test["auc"] / 0.8123,
                decision_share={"APPROVE": 0.25, "REVIEW": 0.5, "DECLINE": 0.25})
    metrics = {
        "test": test, "val": {"auc": 0.77, "ece": 0.03, "logreg_auc": 0.7},
        "train": {"steps": 200, "epochs": 4, "best_step": 150, "n_train": 3000},
        "calibration": {"temperature": 1.2345, "logit_shift": -1.3863}}
    if importance_in_metrics:
        metrics["modality_importance"] = {"numeric": 0.41, "categorical": 0.22, "text": 0.17,
                                          "time_series": 0.2}
    practice, stability = credit_practice_metrics(rng, y, p)
    metrics.update(practice)
    write_json(d / "stability.json", stability)
    _dump(d / "metrics.json", json.loads(json.dumps(metrics, default=float)))
    (d / "calibration.json").write_text("{}")
    if scores:
        dec = np.array(["APPROVE", "REVIEW", "DECLINE"])[(p >= 0.1).astype(int)
                                                        + (p >= 0.3).astype(int)]
        # the columns of `quantjax score credit` (quantjax/credit/scoring.py) + target, raw PD
        codes = np.array([f"income = {v}" for v in (31000, 52000, 75000)]
                         + ["employment length is missing", "description (text)"])
        flagged = dec != "APPROVE"
        out = {"row": np.arange(n), "risk_score": p, "risk_category": dec, "decision": dec,
               "confidence": np.maximum(p, 1 - p)}
        for k in range(1, 3):
            out[f"reason_{k}"] = np.where(flagged, rng.choice(codes, n), "")
        for mod in ("numeric", "categorical", "text", "time_series"):
            out[f"importance_{mod}"] = rng.random(n)
        out.update(target=y, pd_uncalibrated=raw)
        pd.DataFrame(out).to_parquet(d / "test_scores.parquet")
    (d / "config.yaml").write_text("decision:\n  ece_bins: 10\n")
    return d


def sweep_run(d: Path) -> Path:
    """A strategy sweep folder as written by ``quantjax sweep`` (quantjax/sweep/run.py)."""
    d.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    n = 12
    df = pd.DataFrame({"trial": np.arange(n), "group": 0,
                       "risk.stop_loss": np.geomspace(1e-4, 1e-1, n),
                       "strategy.signal": rng.choice(["ofi", "momentum"], n),
                       "sharpe": rng.normal(0.5, 1.0, n), "n_trades": rng.integers(10, 100, n)})
    df.to_csv(d / "trials.csv", index=False)
    best = int(df["sharpe"].idxmax())
    row = df.iloc[best]
    _dump(d / "metrics.json", {
        "kind": "backtest", "method": "grid", "n_trials": n, "n_groups": 1,
        "groups": [{"group": 0, "static": {}, "n_trials": n}], "objective": "sharpe",
        "mode": "max", "best_trial": best,
        "best_params": {"risk.stop_loss": float(row["risk.stop_loss"]),
                        "strategy.signal": str(row["strategy.signal"])},
        "best_metrics": {"sharpe": float(row["sharpe"]), "n_trades": int(row["n_trades"])},
        "wall_s": 1.25, "dsr": {"dsr": 0.8765, "sr0": 0.0523, "sharpe": 0.0812, "n_trials": n,
                                "var_sharpe": 0.0011},
        "best_sharpe": float(row["sharpe"]), "deflated_sharpe_ratio": 0.8765})
    (d / "config.yaml").write_text("sweep:\n  kind: backtest\n  objective: sharpe\n")
    (d / "best").mkdir()
    pd.DataFrame({"return": rng.normal(0, 0.01, 200)}).to_csv(d / "best" / "returns.csv",
                                                              index=False)
    return d
