"""``quantjax credit ...``: credit-practice tools on trained runs and scored files.

- ``stability``: PSI of the PD and CSI of each input of an applications file against a run's
  training population (or against another file, ``--baseline``); writes ``stability.json``.
- ``backtest-pd``: scored applications joined by id to the defaults observed later; per risk
  band and overall: observed vs predicted default rate, binomial and Jeffreys tests,
  Hosmer-Lemeshow, Brier score and a traffic light; writes ``metrics.json`` and ``config.yaml``.
"""

from __future__ import annotations

import argparse


def register(sub, parents) -> None:
    p = sub.add_parser("credit", help="credit-practice tools: stability, PD backtest",
                       parents=parents)
    csub = p.add_subparsers(dest="credit_command", metavar="SUBCOMMAND", parser_class=type(p))
    csub.required = True
    s = csub.add_parser(
        "stability", parents=parents, help="population stability (PSI/CSI) of a file",
        description="PSI of the PD and CSI of every input of --data against the training "
        "population of a 'quantjax train credit' run (its reference.json), or against "
        "--baseline scored by the same model. Thresholds: the run's stability.watch/act "
        "(0.1 / 0.25).")
    s.add_argument("--reference", required=True, metavar="RUN",
                   help="run folder of 'quantjax train credit' (model and reference.json)")
    s.add_argument("--data", required=True, help="applications CSV/Parquet (target optional)")
    s.add_argument("--baseline", metavar="FILE",
                   help="compare with this applications file instead of the training population")
    s.add_argument("--out", default="stability.json", help="output JSON (default stability.json)")
    s.add_argument("--top", type=int, default=5, help="inputs listed in the summary (default 5)")
    s.set_defaults(func=run_stability)
    b = csub.add_parser(
        "backtest-pd", parents=parents, help="PD backtest by risk band against outcomes",
        description="Join scored applications ('quantjax score credit' output) to observed "
        "outcomes by an id column; per risk band and overall: observed vs predicted default "
        "rate, one-sided binomial and Jeffreys tests, Hosmer-Lemeshow, Brier, traffic light.")
    b.add_argument("--scores", required=True, help="scored CSV/Parquet (risk_score, "
                   "risk_category and an id column)")
    b.add_argument("--outcomes", required=True, help="CSV/Parquet of id and outcome")
    b.add_argument("--id", dest="id_col", help="id column of both files (default: the one "
                   "column they share)")
    b.add_argument("--outcome", help="outcome column (default: the outcomes file's one column "
                   "besides the id)")
    b.add_argument("--positive", default="1", help="outcome value meaning default (default 1)")
    b.add_argument("--groups", type=int, default=10, help="Hosmer-Lemeshow groups (default 10)")
    b.add_argument("--level", type=float, default=0.95,
                   help="two-sided level of the Jeffreys interval (default 0.95)")
    b.add_argument("--yellow", type=float, default=0.05,
                   help="binomial p-value below this: yellow (default 0.05)")
    b.add_argument("--red", type=float, default=0.001,
                   help="binomial p-value below this: red (default 0.001)")
    b.add_argument("--out", required=True, help="output folder (metrics.json, config.yaml)")
    b.set_defaults(func=run_backtest_pd)


def _read_table(path: str, what: str):
    from pathlib import Path

    import pandas as pd

    from quantjax.errors import DataError

    p = Path(path)
    if not p.is_file():
        raise DataError(f"{what} file not found: {p}")
    try:
        if p.suffix.lower() in (".parquet", ".pq"):
            return pd.read_parquet(p)
        if p.name.lower().endswith((".csv", ".csv.gz", ".txt")):
            return pd.read_csv(p, dtype=str, keep_default_na=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{p}: the file is empty") from None
    except (pd.errors.ParserError, OSError, ValueError) as e:
        raise DataError(f"{p}: cannot read the file: {str(e).splitlines()[0]}") from None
    raise DataError(f"{p}: unsupported file type '{p.suffix}' (use .csv or .parquet)")


def run_stability(args: argparse.Namespace) -> int:
    from pathlib import Path

    from quantjax.cli.common import console
    from quantjax.credit.scoring import load_scorer, score_frame
    from quantjax.credit.stability import build_reference, stability_report
    from quantjax.data.credit import read_credit_table
    from quantjax.errors import UserError
    from quantjax.jsonio import write_json

    if args.top < 0:
        raise UserError(f"--top: must be >= 0, got {args.top}")
    scorer = load_scorer(args.reference)
    ref = scorer.reference
    if ref is None:
        raise UserError(f"{args.reference}: no reference.json (trained before stability bins "
                        "were stored); retrain the run")
    schema = scorer.encoder.schema
    df = read_credit_table(args.data, schema, require_target=False)
    p = score_frame(scorer, df, explain=False)["risk_score"].to_numpy()
    if args.baseline:
        base = read_credit_table(args.baseline, schema, require_target=False)
        pb = score_frame(scorer, base, explain=False)["risk_score"].to_numpy()
        ref = build_reference(base, schema, pb, ref["bins"], ref["thresholds"]["watch"],
                              ref["thresholds"]["act"], ref["floor"],
                              population=f"baseline {args.baseline} ({len(base)} rows)")
    rep = stability_report(ref, df, p)
    rep = {"data": str(args.data), "reference": str(args.reference),
           "baseline": args.baseline, **rep}
    write_json(Path(args.out), rep)
    for line in stability_lines(rep, args.top):
        console.print(line)
    console.print(f"wrote {args.out}")
    return 0


def stability_lines(rep: dict, top: int = 5) -> list[str]:
    """Summary lines of a stability report: the PD's PSI and the inputs that moved most."""
    th = rep["thresholds"]
    lines = [f"{rep['n']} rows against {rep['reference_population']}; thresholds watch "
             f"{th['watch']}, act {th['act']}"]
    if rep.get("psi") is not None:
        lines.append(f"PSI of the PD: {rep['psi']:.4f} ({rep['psi_status']})")
    for c in rep["ranked"][:top]:
        lines.append(f"  CSI {c}: {rep['csi'][c]:.4f} ({rep['status'][c]})")
    moved = rep.get("moved") or []
    lines.append(f"inputs at watch or act: {len(moved)}" + (f" ({', '.join(moved[:8])})"
                                                            if moved else ""))
    return lines


def run_backtest_pd(args: argparse.Namespace) -> int:
    from pathlib import Path

    import yaml
    from rich.table import Table

    from quantjax.cli.common import console
    from quantjax.credit import backtest_pd
    from quantjax.errors import UserError
    from quantjax.jsonio import write_json

    if args.groups < 1:
        raise UserError(f"--groups: must be >= 1, got {args.groups}")
    if not 0 < args.level < 1:
        raise UserError(f"--level: must be in (0, 1), got {args.level}")
    if not 0 < args.red < args.yellow < 1:
        raise UserError(f"--red {args.red} and --yellow {args.yellow}: need 0 < red < yellow < 1")
    scores = _read_table(args.scores, "scores")
    outcomes = _read_table(args.outcomes, "outcomes")
    id_col = args.id_col or backtest_pd.shared_id(scores, outcomes)
    outcome = backtest_pd.outcome_column(outcomes, id_col, args.outcome)
    merged, counts = backtest_pd.join(scores, outcomes, id_col, outcome, args.positive)
    res = backtest_pd.backtest(merged["default"].to_numpy(), merged["pd"].to_numpy(),
                               merged["band"].to_numpy(), args.groups, args.level,
                               args.yellow, args.red)
    out = Path(args.out)
    settings = {"scores": str(args.scores), "outcomes": str(args.outcomes), "id": id_col,
                "outcome": outcome, "positive": str(args.positive), **res["settings"]}
    write_json(out / "metrics.json", {"kind": "credit_pd_backtest", "join": counts, **res,
                                      "settings": settings})
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    t = Table(title=f"PD backtest: {counts['matched']} applications with an outcome")
    for c in ("band", "n", "defaults", "observed", "predicted", "binomial p", "Jeffreys p",
              "HL p", "Brier", "light"):
        t.add_column(c, justify="left" if c in ("band", "light") else "right")
    for name, r in [*res["bands"].items(), ("overall", res["overall"])]:
        t.add_row(name, str(r["n"]), str(r["defaults"]), f"{r['observed_rate']:.4f}",
                  f"{r['predicted_rate']:.4f}", f"{r['binomial_p']:.4f}",
                  f"{r['jeffreys_p']:.4f}", f"{r['hosmer_lemeshow']['p_value']:.4f}",
                  f"{r['brier']:.4f}", r["traffic_light"])
    console.print(t)
    skipped = {k: v for k, v in counts.items()
               if k in ("scores_without_outcome", "outcomes_without_score", "missing_outcome")
               and v}
    if skipped:
        console.print("not used: " + ", ".join(f"{k.replace('_', ' ')} {v}"
                                               for k, v in skipped.items()))
    console.print(f"wrote {out / 'metrics.json'}")
    return 0
