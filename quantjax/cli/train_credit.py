"""``quantjax train credit``: train, calibrate and evaluate the credit transformer.

Hooked into ``quantjax train`` by :func:`register_credit` (called from ``cli/train.py``).
"""

from __future__ import annotations

import argparse

from quantjax.cli.common import add_config_args, add_distributed_arg, start_distributed


def register_credit(tsub, parents) -> None:
    """Add the ``credit`` parser to the ``train`` subparsers."""
    desc = ("Train the multi-modal credit transformer on a file + schema or on synthetic data; "
            "writes checkpoints, calibration.json, metrics.jsonl and metrics.json to --workdir.")
    p = tsub.add_parser("credit", help="train the credit-risk transformer", description=desc,
                        parents=parents)
    add_config_args(p, default="configs/credit_transformer.yaml")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--data", help="applications CSV/Parquet (with --schema)")
    src.add_argument("--synthetic", action="store_true",
                     help="generate synthetic applications (config section data.synthetic)")
    p.add_argument("--schema", help="credit schema YAML (configs/credit_schema_*.yaml)")
    p.add_argument("--workdir", default="runs/credit", help="run folder (default runs/credit)")
    p.add_argument("--cv", type=int, default=0, metavar="K",
                   help="stratified K-fold cross-validation; reports mean and std")
    p.add_argument("--no-refit", action="store_true",
                   help="with --cv: skip the final scoring model (refit on all rows for the "
                   "CV-chosen number of epochs, calibrated on a held-out share)")
    p.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_distributed_arg(p)
    p.set_defaults(func=run_train_credit)


def run_train_credit(args: argparse.Namespace) -> int:
    start_distributed(args)  # before any JAX computation
    import json
    import shutil
    from pathlib import Path

    import numpy as np

    from quantjax.cli.common import console
    from quantjax.config import load, save, to_dict
    from quantjax.credit import pipeline as credit_pipeline
    from quantjax.credit.config import CreditConfig
    from quantjax.distributed import barrier, is_main_process
    from quantjax.errors import UserError
    from quantjax.jsonio import write_json
    from quantjax.train.loop import check_workdir

    if args.cv == 1 or args.cv < 0:
        raise UserError(f"--cv: K must be >= 2, got {args.cv}")
    if args.schema and args.synthetic:
        raise UserError("--schema: not used with --synthetic (the generator defines the schema)")
    cfg = load(CreditConfig, args.config, args.overrides)
    ds = credit_pipeline.load_dataset(cfg, args.data, args.schema, args.synthetic)
    work = Path(args.workdir)
    if not args.resume and (work / "metrics.json").exists():
        raise UserError(f"{work}: already holds a finished run (metrics.json); pass --resume "
                        "or choose a new --workdir")
    if not args.cv:  # an unfinished single run: refuse before config.yaml is overwritten
        check_workdir(work, resume=args.resume, config=to_dict(cfg), log=console.print)
    main = is_main_process()  # a multi-process run: process 0 writes the run files
    if main:
        save(cfg, work)
    y = credit_pipeline.target_of(ds)
    log = console.print
    progress = not args.no_progress
    if args.cv:
        if not args.resume and main:  # a stale refit model of an unfinished earlier CV run
            shutil.rmtree(work / "checkpoints", ignore_errors=True)
            for name in (credit_pipeline.ARTIFACT, "metrics.jsonl"):
                (work / name).unlink(missing_ok=True)
        barrier("train-credit-cv-start")
        folds = []
        for k, idx in enumerate(credit_pipeline.cv_indices(cfg, y, args.cv)):
            fdir = work / "cv" / f"fold_{k}"
            done = fdir / "fold_metrics.json"
            if args.resume and done.is_file():
                m = json.loads(done.read_text())
                m["_oof"] = {a: np.asarray(v) for a, v in np.load(fdir / "oof.npz").items()}
                folds.append(m)
                continue
            if fdir.exists() and not args.resume and main:
                shutil.rmtree(fdir)
            barrier(f"train-credit-fold-{k}")
            log(f"fold {k + 1}/{args.cv}: train {len(idx[0])}, val {len(idx[1])}, "
                f"test {len(idx[2])}")
            m = credit_pipeline.train_run(cfg, ds, idx, fdir, resume=args.resume, progress=progress, log=log)
            if main:
                write_json(done, {a: v for a, v in m.items() if a != "_oof"})
                np.savez(fdir / "oof.npz", **m["_oof"])
            folds.append(m)
        out = credit_pipeline.summarize_cv(folds, cfg.decision)
        out.update(credit_pipeline.cv_groups(cfg, ds, folds))
        out["features"] = credit_pipeline.feature_strength_of(cfg, ds, np.arange(len(y)))
        if not args.no_refit:
            out["refit"] = credit_pipeline.refit_run(cfg, ds, folds, work, resume=args.resume,
                                       progress=progress, log=log)
    else:
        idx = credit_pipeline.split_indices(cfg, y)
        out = credit_pipeline.train_run(cfg, ds, idx, work, resume=args.resume, progress=progress, log=log)
        out.pop("_oof", None)
        out["features"] = credit_pipeline.feature_strength_of(cfg, ds, idx[0])
    out["data"] = {**ds.info, "rows": len(ds.df), "positive_rate": float((y == 1).mean())}
    if main:
        write_json(work / "metrics.json", out)
    t = out["test"]
    std = out.get("test_std", {})
    pm = lambda k: f"{t[k]:.4f}" + (f" ± {std[k]:.4f}" if k in std else "")  # noqa: E731
    parts = [f"AUC {pm('auc')}", f"KS {pm('ks')}", f"Brier {pm('brier')}", f"ECE {pm('ece')}",
             f"logreg AUC {pm('logreg_auc')}"]
    if "bayes_auc" in t:
        parts.append(f"Bayes AUC {pm('bayes_auc')}")
    console.print(("CV " if args.cv else "test ") + ", ".join(parts))
    for line in practice_summary(out):
        console.print(line)
    if args.cv and "refit" in out:
        console.print(f"scoring model: refit on all rows ({out['refit']['epochs']} epochs) in "
                      f"{work}; use 'quantjax score credit --checkpoint {work}'")
    console.print(f"wrote {work / 'metrics.json'}")
    return 0


def practice_summary(m: dict) -> list[str]:
    """Lines on the credit-practice checks of a metrics.json dict: strongest inputs and IV
    flags, monotonicity flags, the smallest adverse impact ratios."""
    lines = []
    feats = m.get("features") or {}
    iv = feats.get("iv") or {}
    if iv:
        top = ", ".join(f"{k} {v:.3f}" for k, v in list(iv.items())[:3])
        flags = feats.get("flags") or {}
        weak = [k for k, v in flags.items() if v == "not predictive"]
        leak = [k for k, v in flags.items() if v == "check for leakage"]
        line = f"information value: {top}"
        if weak:
            line += f"; not predictive (IV < {feats['settings']['weak_iv']}): {len(weak)}"
        if leak:
            line += f"; check for leakage (IV > {feats['settings']['leak_iv']}): {', '.join(leak)}"
        lines.append(line)
    for col, r in (m.get("monotonicity") or {}).items():
        mark = "FLAGGED" if r["flagged"] else "ok"
        lines.append(f"monotonicity {col} ({r['direction']}): {r['share']:.1%} of validation "
                     f"rows against it ({mark})")
    for col, r in (m.get("fairness") or {}).items():
        role = "a model input" if r["model_input"] else "not a model input"
        lines.append(f"fairness {col} ({role}): min adverse impact ratio "
                     f"{r['min_adverse_impact_ratio']:.2f}, AUC gap {r['auc_gap']:.3f}")
    return lines
