"""Data-parallel training on 8 forced CPU devices (run as a script by
tests/train/test_data_parallel.py with ``--xla_force_host_platform_device_count=8``):
``python data_parallel_worker.py OUT`` trains the tiny toy-data HFT model

- ``dp8``: data parallel over the 8 devices (batch 32: 4 rows per device);
- ``dp8_host``: the same with the prefetching host loop (``train.device_data_limit_mb=0``);
- ``nan``: a NaN loss weight on 8 devices (the NaN guard's message);
- ``odd_batch``: a batch of 36 rows (the one-line error: it does not split over 8 devices);

and writes the params (``<name>.npz``) and a summary (``<name>.json``) into OUT. The
one-device reference (``dp1``, :func:`train` with ``train.data_parallel=never``) is trained by
the test in its own one-device process: a program compiled under 8 visible devices is not a
compilation-cache hit in a process with 1 (the cache key holds the CPU topology); in the test
process it is the same run as the multi-process test's 1-device reference (tests/distributed).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

#: the run of every case (toy data, tiny model, 2 epochs of 12 steps)
OVERRIDES = ["train.epochs=2", "train.batch_size=32", "train.steps_per_call=5",
             "train.async_checkpoints=false"]


def save_params(run_dir: Path, out: Path) -> None:
    import jax
    import numpy as np

    from quantjax.train.checkpoint import load_for_inference

    _, params, _, _ = load_for_inference(run_dir)
    leaves = jax.tree_util.tree_flatten_with_path(params)[0]
    np.savez(out, **{jax.tree_util.keystr(k): np.asarray(v) for k, v in leaves})


def train(out: Path, name: str, extra: list[str]) -> dict:
    """Train case ``name`` into ``out/name``; params to ``out/<name>.npz``, best step, steps
    and per-epoch validation scores to ``out/<name>.json`` (also returned)."""
    from quantjax.hft.run import train_hft

    from support.hft_toy import tiny_config, toy_dataset

    run = out / name
    m = train_hft(tiny_config(OVERRIDES + extra), toy_dataset(), run, progress=False,
                  log=lambda *a, **k: None)
    save_params(run, out / f"{name}.npz")
    hist = [json.loads(ln) for ln in (run / "metrics.jsonl").read_text().splitlines()]
    summary = {"best_step": m["best_step"], "steps": m["steps"],
               "val_score": [h["val_score"] for h in hist]}
    (out / f"{name}.json").write_text(json.dumps(summary))
    return summary


def main() -> None:
    import jax  # the compilation cache: the suite's, from the environment (tests/conftest.py)

    out = Path(sys.argv[1])
    assert jax.device_count() == 8, jax.devices()
    train(out, "dp8", [])
    train(out, "dp8_host", ["train.device_data_limit_mb=0"])
    from quantjax.train.loop import TrainingDiverged

    try:
        train(out, "nan", ["train.loss_weights=[.nan, 1.0, 1.0]"])
    except TrainingDiverged as e:
        (out / "nan.txt").write_text(str(e))
    from quantjax.errors import ConfigError

    try:
        train(out, "odd_batch", ["train.batch_size=36"])
    except ConfigError as e:
        (out / "odd_batch.txt").write_text(str(e))


if __name__ == "__main__":
    main()
