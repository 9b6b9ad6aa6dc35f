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
    h.add_argument("--walk-forward", action="store_true",
                   help="walk-forward retraining (config section walk_forward): K folds, each "
                        "trained on the data before its test block; writes out-of-sample "
                        "predictions (oos_predictions.npz) and per-fold and pooled metrics")
    h.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_distributed_arg(h)
    h.set_defaults(func=run_hft)
    register_credit(tsub, parents)


def _ci(t: dict, key: str, spec: str = ".4f") -> str:
    ci = t.get(f"{key}_ci")
    if not ci or ci[0] is None:
        return ""
    return f" [95% {ci[0]:{spec}}, {ci[1]:{spec}}]"


def _num(v, spec: str = ".4f") -> str:
    return "n/a" if v is None or v != v else format(v, spec)


def summary_lines(metrics: dict) -> list[str]:
    """The end-of-run summary of ``quantjax train hft`` (test metrics with their intervals)."""
    t = metrics["test"]
    lines = [f"test accuracy {_num(t['directional_accuracy'])}"
             f"{_ci(t, 'directional_accuracy')} (majority "
             f"{_num(t['majority_baseline_accuracy'])}, persistence "
             f"{_num(t['persistence_baseline_accuracy'])}"
             + (f", linear {_num(t['linear_baseline_accuracy'])}"
                f"{_ci(t, 'linear_baseline_accuracy')}" if "linear_baseline_accuracy" in t
                else "") + ")"]
    if t.get("bayes_accuracy") is not None:
        lines.append(f"oracle on the same rows {_num(t['bayes_accuracy'])}"
                     f"{_ci(t, 'bayes_accuracy')} (population "
                     f"{_num(t.get('bayes_accuracy_population'))}); accuracy / oracle "
                     f"{_num(t['accuracy_over_bayes'], '.3f')}{_ci(t, 'accuracy_over_bayes', '.3f')}")
    elif t.get("bayes_accuracy_population") is not None:
        lines.append(f"oracle (population figure) {_num(t['bayes_accuracy_population'])}")
    lines.append(f"macro-F1 {_num(t['macro_f1'])}{_ci(t, 'macro_f1')}, IC {_num(t['ic'])}"
                 f"{_ci(t, 'ic')}, rank IC {_num(t['rank_ic'])}{_ci(t, 'rank_ic')} "
                 f"({t['ic_kind'].replace('_', '-')}), ICIR {_num(t['icir'], '.3f')}, price MAE "
                 f"{_num(t['price_mae'], '.3g')}, vol R2 {_num(t['vol_r2'], '.3f')}")
    return lines


def walk_forward_lines(metrics: dict) -> list[str]:
    """Per-fold lines of a walk-forward run's summary."""
    out = []
    for f in metrics["walk_forward"]["folds"]:
        m = f["metrics"]
        out.append(f"fold {f['fold']}: train t {f['train'][0]}-{f['train'][1] - 1} "
                   f"({f['n_train']}), test t {f['test'][0]}-{f['test'][1] - 1} ({f['n_test']}): "
                   f"accuracy {_num(m['directional_accuracy'])}, IC {_num(m['ic'])}, "
                   f"best step {f['best_step']}")
    return out


def run_hft(args) -> int:
    start_distributed(args)  # before any JAX computation
    from quantjax.cli.common import console

    if args.walk_forward:
        from quantjax.errors import UserError
        from quantjax.hft.walk_forward import walk_forward_run

        if args.resume:
            raise UserError("--resume: a walk-forward run cannot be resumed (it keeps no "
                            "checkpoints); start it again in a new --workdir")
        metrics = walk_forward_run(args.config, args.workdir,
                                   data=None if args.synthetic else args.data,
                                   overrides=args.overrides, log=console.print)
        for line in walk_forward_lines(metrics):
            console.print(line, markup=False)
        console.print("pooled out-of-sample:", markup=False)
        for line in summary_lines(metrics):
            console.print(line, markup=False)
        console.print(f"{metrics['walk_forward']['n_oos_bars']} out-of-sample bars -> "
                      f"{args.workdir}/oos_predictions.npz, metrics.json", markup=False)
        return 0

    from quantjax.hft.run import train_hft_run

    metrics = train_hft_run(args.config, args.workdir, data=None if args.synthetic else args.data,
                            overrides=args.overrides, resume=args.resume,
                            progress=not args.no_progress, log=console.print)
    for line in summary_lines(metrics):
        console.print(line, markup=False)
    console.print(f"{metrics['steps']} steps, best step {metrics['best_step']}, "
                  f"{metrics['train_samples_per_sec']:.0f} samples/s -> {args.workdir}/metrics.json")
    return 0
