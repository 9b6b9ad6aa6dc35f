"""``run_sweep(cfg, workdir)``: trials -> vmapped programs -> trials table, best trial, metrics.json.

Workdir layout::

    config.yaml          resolved sweep config
    base_config.yaml     the base (one-trial) config with sweep.overrides applied
    trials.csv / trials.parquet   one row per trial: trial, group, swept params, metrics
    metrics.json         summary (keys in docs/sweep.md)
    best/config.yaml     resolved config of the best trial
    best/checkpoints/    training sweeps: the best trial's TrainState (orbax, loadable with
                         quantjax.train.checkpoint.load_for_inference(workdir / "best"))
    best/calibration.json  credit sweeps: the best trial's calibration (scorable, exportable)
    best/params.json, best/returns.csv   strategy sweeps: params and returns of the best trial
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pandas as pd
import yaml
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from quantjax import distributed
from quantjax.config import apply_overrides, load_dict, save
from quantjax.errors import UserError
from quantjax.jsonio import jsonable, write_json
from quantjax.sweep.backtest_sweep import run_backtest_sweep
from quantjax.sweep.selected import evaluate_selected
from quantjax.sweep.space import make_trials
from quantjax.sweep.train_sweep import run_train_sweep
from quantjax.train.checkpoint import CheckpointStore


def _cell(v: Any) -> Any:
    return json.dumps(v) if isinstance(v, (list, tuple, dict)) else v


def trials_frame(rows: list[dict]):
    """Tidy table: one row per trial; list-valued params as JSON text."""

    return pd.DataFrame([{k: _cell(v) for k, v in r.items()} for r in rows])


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def run_sweep(cfg, workdir: str | Path, *, max_parallel: int = 0, progress: bool = True,
              log=print) -> dict:
    """Run the sweep of ``cfg`` (a :class:`quantjax.sweep.config.SweepConfig`) into
    ``workdir``; returns the metrics.json mapping."""

    workdir = Path(workdir)
    trials = make_trials(cfg.search)
    kind = cfg.sweep.kind
    if max_parallel and kind != "backtest":
        raise UserError(f"--max-parallel: applies to strategy sweeps only; a {kind} sweep "
                        f"trains sweep.chunk trials per program (--set sweep.chunk=N)")
    main = distributed.is_main_process()
    if main:
        save(cfg, workdir)
        base = apply_overrides(load_dict(cfg.sweep.base_path), cfg.sweep.overrides)
        (workdir / "base_config.yaml").write_text(yaml.safe_dump(base, sort_keys=False))
    t0 = time.perf_counter()
    with _Bar(len(trials), enabled=progress and main) as bar:
        if kind == "backtest":

            out = run_backtest_sweep(cfg, trials, max_parallel=max_parallel, progress=bar.advance,
                                     log=log)
        else:

            out = run_train_sweep(cfg, trials, progress=bar.advance, log=log)
    wall = time.perf_counter() - t0
    best = out["best"]
    metrics = {
        "kind": kind, "method": cfg.search.method, "n_trials": len(trials),
        "n_groups": len(out["groups"]), "groups": out["groups"],
        "objective": cfg.sweep.objective_name, "mode": cfg.sweep.mode,
        "best_trial": best["index"], "best_params": trials[best["index"]],
        "best_metrics": {k: _finite(v) for k, v in best["row"].items()
                         if k not in trials[best["index"]]},
        "wall_s": wall, "n_devices": len(jax.devices()), "n_processes": jax.process_count(),
    }
    if kind == "backtest":
        metrics["dsr"] = out["dsr"]
        metrics["best_sharpe"] = best["row"]["sharpe"]
        metrics["deflated_sharpe_ratio"] = out["dsr"].get("dsr")
        metrics.update(out["timing"])
    if main:
        df = trials_frame(out["rows"])
        df.to_csv(workdir / "trials.csv", index=False)
        df.to_parquet(workdir / "trials.parquet", index=False)
        _write_best(kind, best, workdir / "best", trials[best["index"]])
        if kind != "backtest":  # the selected trial, scored once on the test split
            metrics["best"] = evaluate_selected(kind, best, cfg.sweep, workdir / "best",
                                                len(trials))

        write_json(workdir / "metrics.json", metrics)
    return metrics


def _write_best(kind: str, best: dict, folder: Path, params: dict) -> None:
    save(best["config"], folder)
    if kind == "backtest":
        write_json(folder / "params.json", {"trial": best["index"], "params": params,
                                            "strategy_extra": best.get("strategy_extra", {})})
        r = np.asarray(best["returns"], np.float64)
        np.savetxt(folder / "returns.csv", r, delimiter=",", header="return", comments="")
        return

    meta = dict(best["meta"])
    step = int(np.asarray(best["state"].step))
    meta["loop"] = {"best_step": step, "best_score": _finite(float(best["row"]["val_score"])),
                    "epoch": best["row"]["epochs_run"] - 1, "bad_epochs": 0}
    meta["sweep"] = {"trial": best["index"], "params": params}
    store = CheckpointStore(folder / "checkpoints", max_to_keep=1, async_save=False,
                            this_process_only=True)
    try:
        score = float(best["row"]["val_score"])
        store.save(best["state"], jsonable(meta), score)
    finally:
        store.close()


class _Bar:
    """Rich progress bar over trials, advanced once per compiled chunk."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.enabled, self._p = total, enabled, None

    def __enter__(self):
        if self.enabled:

            self._p = Progress(TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("trials"), TimeElapsedColumn())
            self._p.__enter__()
            self._task = self._p.add_task("sweep", total=self.total)
        return self

    def advance(self, n: int) -> None:
        if self._p is not None:
            self._p.update(self._task, advance=n)

    def __exit__(self, *exc):
        if self._p is not None:
            self._p.__exit__(*exc)
        return False
