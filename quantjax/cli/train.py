"""``quantjax train hft|credit``."""

from __future__ import annotations

from quantjax.cli.common import Parser, add_config_args, add_distributed_arg, start_distributed
from quantjax.cli.train_credit import register_credit


def register(sub, parents) -> None:
    p = sub.add_parser("train", help="train a model (hft or credit)", parents=parents)
    tsub = p.add_subparsers(dest="train_command", metavar="MODEL", parser_class=type(p))
    tsub.required = True
    h: Parser = tsub.add_parser(
        "hft", help="train an HFT model (model.name: lstm_attention, gru)",
        description="Train an HFT direction/return/volatility model (model.name: lstm_attention, "
        "the spec's LSTM-attention model, or gru, a small causal baseline) on market bars "
        "(--data) or on the synthetic market (--synthetic). Writes config.yaml, checkpoints/, "
        "metrics.jsonl and metrics.json into --workdir.", parents=parents)
    add_config_args(h, default="configs/hft_lstm.yaml")
    src = h.add_mutually_exclusive_group(required=True)
    src.add_argument("--data", help="market file (CSV/Parquet, long format)")
    src.add_argument("--synthetic", action="store_true",
                     help="generate the synthetic market of data.synthetic")
    h.add_argument("--workdir", default="runs/hft", help="run folder (default: runs/hft)")
    h.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    h.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_distributed_arg(h)
    h.set_defaults(func=run_hft)
    register_credit(tsub, parents)


def run_hft(args) -> int:
    start_distributed(args)  # before any JAX computation
    from quantjax.cli.common import console
    from quantjax.hft.run import train_hft_run

    metrics = train_hft_run(args.config, args.workdir, data=None if args.synthetic else args.data,
                            overrides=args.overrides, resume=args.resume,
                            progress=not args.no_progress, log=console.print)
    t = metrics["test"]
    line = (f"test accuracy {t['directional_accuracy']:.4f} (majority "
            f"{t['majority_baseline_accuracy']:.4f}, persistence "
            f"{t['persistence_baseline_accuracy']:.4f}")
    if t.get("bayes_accuracy") is not None:
        line += f", oracle {t['bayes_accuracy']:.4f}"
    console.print(line + f"), macro-F1 {t['macro_f1']:.4f}, price MAE {t['price_mae']:.3g}, "
                  f"vol R2 {t['vol_r2']:.3f}")
    console.print(f"{metrics['steps']} steps, best step {metrics['best_step']}, "
                  f"{metrics['train_samples_per_sec']:.0f} samples/s -> {args.workdir}/metrics.json")
    return 0
