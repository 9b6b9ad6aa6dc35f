"""Which kind of run a folder holds, and reading its common files.

Rules, in order (first match wins):

1. a trial table ``trials.csv`` / ``trials.parquet``, or ``metrics.json`` with ``n_trials``
   and ``objective`` -> ``sweep`` (a sweep's ``metrics.json`` ``kind`` names what it swept).
2. ``metrics.json`` has a top-level ``"report_kind"`` (or ``"kind"``) string among
   ``backtest``, ``hft``, ``credit``, ``sweep``: that kind.
3. ``metrics.json`` has ``portfolio`` and ``per_symbol`` sections -> ``backtest``.
4. ``metrics.json`` has ``test.directional_accuracy`` -> ``hft``.
4b. ``metrics.json`` has ``latency_p50_us`` and ``predictions`` -> ``replay``.
5. ``metrics.json`` has ``test.auc`` (or the folder holds ``calibration.json``) -> ``credit``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from quantjax.errors import UserError

KINDS = ("backtest", "hft", "credit", "sweep", "replay")
TRIAL_FILES = ("trials.parquet", "trials.csv")


def read_metrics(run_dir: Path) -> dict:
    path = run_dir / "metrics.json"
    if not path.is_file():
        raise UserError(f"--run: {run_dir} has no metrics.json (is it a quantjax run folder?)")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e.__class__.__name__}: line "
                        f"{getattr(e, 'lineno', '?')})") from None
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object at the top level")
    return data


def trial_file(run_dir: Path) -> Path | None:
    for name in TRIAL_FILES:
        if (run_dir / name).is_file():
            return run_dir / name
    return None


def detect_kind(run_dir: str | Path, metrics: dict | None = None) -> str:
    """``"backtest" | "hft" | "credit" | "sweep" | "replay"``; UserError if the folder is none of them."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserError(f"--run: run folder not found: {run_dir}")
    m = read_metrics(run_dir) if metrics is None else metrics
    if trial_file(run_dir) is not None or ("n_trials" in m and "objective" in m):
        return "sweep"
    for field in ("report_kind", "kind"):
        kind = m.get(field)
        if isinstance(kind, str):
            if kind not in KINDS:
                raise UserError(f"{run_dir}/metrics.json: unknown run kind '{kind}' (key "
                                f"'{field}'; expected one of {', '.join(KINDS)})")
            return kind
    if isinstance(m.get("portfolio"), dict) and isinstance(m.get("per_symbol"), dict):
        return "backtest"
    test = m.get("test") if isinstance(m.get("test"), dict) else {}
    if "directional_accuracy" in test:
        return "hft"
    if "latency_p50_us" in m and "predictions" in m:
        return "replay"
    if "auc" in test or (run_dir / "calibration.json").is_file():
        return "credit"
    raise UserError(f"{run_dir}: unknown run kind (metrics.json has none of the keys of a "
                    "backtest, hft training, credit, sweep or replay run)")


def read_config_text(run_dir: Path) -> str | None:
    p = run_dir / "config.yaml"
    return p.read_text() if p.is_file() else None


def read_config(run_dir: Path) -> dict:
    text = read_config_text(run_dir)
    if text is None:
        return {}

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def read_table(path: Path):
    """A CSV or Parquet file as a DataFrame (UserError naming the file if unreadable)."""

    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        return pd.read_csv(path)
    except Exception as e:  # noqa: BLE001 - any reader failure is a bad user file
        raise UserError(f"{path}: cannot read ({e.__class__.__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''})") from None


def first_file(run_dir: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        if (run_dir / n).is_file():
            return run_dir / n
    return None
