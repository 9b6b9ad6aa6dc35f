"""Real-time performance monitor with the spec's ``PerformanceMonitor`` thresholds.

Rules (``MonitorConfig``), evaluated after every bar:

- drawdown of total equity from its peak below ``max_drawdown`` (-5%): CRITICAL,
  action ``REDUCE_POSITIONS`` (the risk engine's ``max_drawdown`` breaker flattens and halts);
- rolling p95 prediction latency above ``latency_p95_us``: WARNING, ``CHECK_INFRASTRUCTURE``;
- rolling directional accuracy (realized labels, ``window`` last resolved predictions) below
  ``accuracy_below`` (85%): WARNING, ``RETRAIN_MODEL``;
- rolling annualized Sharpe of total-equity returns below ``sharpe_below`` (1.0): WARNING,
  ``REVIEW_STRATEGY``.

Alerts are edge-triggered: one line when a rule starts firing, one ``RESOLVED`` line (level
INFO) when it stops. Each alert is a JSON object on one line of ``alerts.jsonl``:
``{"timestamp", "bar", "level", "rule", "value", "threshold", "action", "message"}``.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from pathlib import Path

import numpy as np

from quantjax.inference.config import MonitorConfig

log = logging.getLogger("quantjax.monitor")

RULES = {
    "drawdown": ("CRITICAL", "REDUCE_POSITIONS"),
    "latency_p95": ("WARNING", "CHECK_INFRASTRUCTURE"),
    "accuracy": ("WARNING", "RETRAIN_MODEL"),
    "sharpe": ("WARNING", "REVIEW_STRATEGY"),
}


def _iso(ns: int) -> str:
    return str(np.datetime64(int(ns), "ns")) + "Z"


class Monitor:
    """Feed it with :meth:`latency`, :meth:`resolved` and :meth:`bar`; read :attr:`alerts`."""

    def __init__(self, cfg: MonitorConfig, path: str | Path | None = None,
                 periods_per_year: float = 252.0):
        self.cfg = cfg
        self.path = None if path is None else Path(path)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.path.write_text("")
        self.ppy = float(periods_per_year)
        self.lat = deque(maxlen=cfg.window)
        self.hits = deque(maxlen=cfg.window)
        self.rets = deque(maxlen=cfg.window)
        self.peak = -np.inf
        self.last_equity = None
        self.active: dict[str, bool] = dict.fromkeys(RULES, False)
        self.alerts: list[dict] = []
        self.values: dict[str, float] = {}
        self.n_resolved = 0  # predictions whose horizon has passed (all bars present)
        self.n_hits = 0

    def latency(self, us: float) -> None:
        self.lat.append(float(us))

    def resolved(self, predicted: np.ndarray, realized: np.ndarray) -> None:
        """Predicted vs realized direction classes of predictions whose horizon has passed."""
        hits = (np.asarray(predicted) == np.asarray(realized)).tolist()
        self.hits.extend(hits)
        self.n_resolved += len(hits)
        self.n_hits += int(sum(hits))

    def bar(self, timestamp: int, index: int, equity: float) -> list[dict]:
        """Update with the bar's total equity; returns the alerts raised at this bar."""
        equity = float(equity)
        if self.last_equity is not None and self.last_equity > 0:
            self.rets.append(equity / self.last_equity - 1.0)
        self.last_equity = equity
        self.peak = max(self.peak, equity)
        c = self.cfg
        checks = {"drawdown": (equity / self.peak - 1.0, c.max_drawdown, lambda v, th: v < th)}
        if len(self.lat) >= c.min_samples:
            checks["latency_p95"] = (float(np.percentile(self.lat, 95)), c.latency_p95_us,
                                     lambda v, th: v > th)
        if len(self.hits) >= c.min_samples:
            checks["accuracy"] = (float(np.mean(self.hits)), c.accuracy_below, lambda v, th: v < th)
        if len(self.rets) >= c.min_samples:
            r = np.asarray(self.rets)
            sd = r.std(ddof=1)
            sharpe = float(np.sqrt(self.ppy) * r.mean() / sd) if sd > 0 else 0.0
            checks["sharpe"] = (sharpe, c.sharpe_below, lambda v, th: v < th)
        out = []
        for rule, (value, th, fires) in checks.items():
            self.values[rule] = value
            on = bool(fires(value, th))
            if on == self.active[rule]:
                continue
            self.active[rule] = on
            level, action = RULES[rule] if on else ("INFO", "RESOLVED")
            msg = (f"{rule} {value:.6g} {'beyond' if on else 'back within'} threshold {th:g}")
            out.append({"timestamp": _iso(timestamp), "bar": int(index), "level": level,
                        "rule": rule, "value": value, "threshold": th, "action": action,
                        "message": msg})
        for a in out:
            (log.critical if a["level"] == "CRITICAL" else log.warning)(
                "ALERT [%s] %s -> %s", a["level"], a["message"], a["action"])
        if out and self.path is not None:
            with self.path.open("a") as f:
                for a in out:
                    f.write(json.dumps(a, allow_nan=False) + "\n")
        self.alerts.extend(out)
        return out
