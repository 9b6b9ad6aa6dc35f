"""``quantjax export``: export a checkpoint as a portable artifact."""

from __future__ import annotations

from quantjax.cli.common import Parser

DESCRIPTION = (
    "Export the best checkpoint of a training run (--checkpoint RUN) as ONE portable artifact "
    "file (--out MODEL.qjx): the jax.export-serialized functions with a symbolic batch "
    "dimension (HFT: the model and its unrolled one-window variant; credit: the calibrated "
    "model and the reason-code attributions, with the encoder, calibration, thresholds and "
    "bands), the params without pickle (.npz), the training config and version metadata, for "
    "cpu and cuda by default. Loading it (quantjax serve, replay, score credit --artifact) "
    "needs neither the model code nor the checkpoint."
)


def register(sub, parents) -> None:
    p: Parser = sub.add_parser("export", help="export a checkpoint as a portable artifact",
                               description=DESCRIPTION, parents=parents)
    p.add_argument("--checkpoint", required=True, metavar="RUN",
                   help="training run folder (the --workdir of quantjax train)")
    p.add_argument("--out", required=True, metavar="PATH", help="artifact file, e.g. hft.qjx")
    p.add_argument("--platforms", default=None,
                   help="comma-separated export platforms (default: cpu,cuda; JAX lowers "
                        "for CUDA without a GPU)")
    p.set_defaults(func=run_export)


def run_export(args) -> int:
    import time

    from quantjax.cli.common import console
    from quantjax.inference.artifact import load_artifact
    from quantjax.inference.export import export_checkpoint

    t0 = time.perf_counter()
    plats = tuple(p.strip() for p in args.platforms.split(",")) if args.platforms else None
    out = export_checkpoint(args.checkpoint, args.out, plats)
    art = load_artifact(out)  # verify it loads
    n = sum(int(a.size) for a in art.params.values())
    shapes = ", ".join(f"{s.name}[b, {', '.join(map(str, s.shape))}]" for s in art.inputs)
    console.print(f"exported {art.task} model ({n} params, inputs {shapes}, functions "
                  f"{', '.join(art.functions)}, platforms {', '.join(art.platforms)}) -> {out} "
                  f"({out.stat().st_size / 1e6:.2f} MB, {time.perf_counter() - t0:.1f}s)")
    return 0
