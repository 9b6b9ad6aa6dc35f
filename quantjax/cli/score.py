"""``quantjax score credit``."""

from __future__ import annotations

import argparse

from quantjax.cli.common import add_distributed_arg, start_distributed


def register(sub, parents) -> None:
    p = sub.add_parser("score", help="score applications with a trained model", parents=parents)
    ssub = p.add_subparsers(dest="score_command", metavar="MODEL", parser_class=type(p))
    ssub.required = True
    desc = ("Score credit applications with a 'quantjax train credit' run: calibrated PD, "
            "LOW/MEDIUM/HIGH, APPROVE/REVIEW/DECLINE, confidence, reason codes (integrated "
            "gradients) and modality importance per row.")
    c = ssub.add_parser("credit", help="score credit applications", description=desc,
                        parents=parents)
    c.add_argument("--checkpoint", required=True, help="run folder of 'quantjax train credit'")
    c.add_argument("--data", required=True, help="applications CSV/Parquet (target optional)")
    c.add_argument("--out", required=True, help="output .csv or .parquet")
    c.add_argument("--no-explain", action="store_true",
                   help="skip reason codes and modality importance (faster)")
    c.add_argument("--batch-size", type=int, default=512, help="rows per compiled call")
    add_distributed_arg(c)
    c.set_defaults(func=run_score_credit)


def run_score_credit(args: argparse.Namespace) -> int:
    from quantjax.errors import UserError

    if args.batch_size < 1:
        raise UserError(f"--batch-size: must be >= 1, got {args.batch_size}")
    split = start_distributed(args)  # before any JAX computation
    from quantjax.cli.common import console
    from quantjax.credit.distributed_scoring import score_file_split
    from quantjax.credit.scoring import score_file

    score = score_file_split if split else score_file  # --distributed: rows split
    res = score(args.checkpoint, args.data, args.out, explain=not args.no_explain,
                batch_size=args.batch_size)
    counts = res["decision"].value_counts()
    shares = ", ".join(f"{d} {int(counts.get(d, 0))}" for d in ("APPROVE", "REVIEW", "DECLINE"))
    console.print(f"scored {len(res)} applications ({shares}); wrote {args.out}")
    return 0
