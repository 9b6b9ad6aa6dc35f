"""``quantjax score credit``."""

from __future__ import annotations

import argparse

from quantjax.cli.common import add_distributed_arg, start_distributed


def register(sub, parents) -> None:
    p = sub.add_parser("score", help="score applications with a trained model", parents=parents)
    ssub = p.add_subparsers(dest="score_command", metavar="MODEL", parser_class=type(p))
    ssub.required = True
    desc = ("Score credit applications with a 'quantjax train credit' run: calibrated PD, "
            "score points, LOW/MEDIUM/HIGH, APPROVE/REVIEW/DECLINE, confidence, adverse-action "
            "reasons (integrated gradients) and modality importance per row; writes "
            "stability.json (PSI of the PD, CSI of each input against the training "
            "population) beside the scores.")
    c = ssub.add_parser("credit", help="score credit applications", description=desc,
                        parents=parents)
    src = c.add_mutually_exclusive_group(required=True)
    src.add_argument("--checkpoint", help="run folder of 'quantjax train credit'")
    src.add_argument("--artifact", help="credit artifact (.qjx of 'quantjax export'): needs "
                                        "no checkpoint and no training code")
    c.add_argument("--data", required=True, help="applications CSV/Parquet (target optional)")
    c.add_argument("--out", required=True, help="output .csv or .parquet")
    c.add_argument("--no-explain", action="store_true",
                   help="skip reason codes and modality importance (faster)")
    c.add_argument("--batch-size", type=int, default=512,
                   help="rows per compiled call (with --artifact: the largest compiled batch "
                   "bucket; default: 512)")
    c.add_argument("--stability", metavar="PATH",
                   help="where to write the stability report (default: stability.json beside "
                   "--out)")
    add_distributed_arg(c)
    c.set_defaults(func=run_score_credit)


def run_score_credit(args: argparse.Namespace) -> int:
    from quantjax.errors import UserError

    if args.batch_size < 1:
        raise UserError(f"--batch-size: must be >= 1, got {args.batch_size}")
    if args.artifact and args.distributed:
        raise UserError("--distributed: scoring with --artifact runs in one process "
                        "(use --checkpoint to split the rows over processes)")
    split = start_distributed(args)  # before any JAX computation
    from quantjax.cli.common import console
    from quantjax.cli.credit import stability_lines

    if args.artifact:
        from quantjax.inference.credit_scorer import score_file as score_artifact_file
        from quantjax.inference.predictor import buckets_up_to

        res, stab = score_artifact_file(args.artifact, args.data, args.out,
                                        explain=not args.no_explain,
                                        buckets=buckets_up_to(args.batch_size),
                                        stability_out=args.stability)
    else:
        from quantjax.credit.distributed_scoring import score_file_split
        from quantjax.credit.scoring import score_file

        score = score_file_split if split else score_file  # --distributed: rows split
        res, stab = score(args.checkpoint, args.data, args.out, explain=not args.no_explain,
                          batch_size=args.batch_size, stability_out=args.stability)
    counts = res["decision"].value_counts()
    shares = ", ".join(f"{d} {int(counts.get(d, 0))}" for d in ("APPROVE", "REVIEW", "DECLINE"))
    console.print(f"scored {len(res)} applications ({shares}); wrote {args.out}")
    if stab is None:
        console.print("no stability report: no stability reference (run or artifact made "
                      "before stability bins were stored)")
    else:
        for line in stability_lines(stab, 3):
            console.print(line)
    return 0
