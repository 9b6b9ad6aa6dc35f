"""Causal vs bidirectional HFT model: test accuracy on the same synthetic data and config.

Trains the model twice with ``quantjax train hft --synthetic`` (same config, same seed, same
data), once with ``model.causal=false`` (bidirectional LSTM + full attention, the default)
and once with ``model.causal=true`` (unidirectional LSTM + causal attention, the variant the
O(1) streaming predictor needs), and prints ONE JSON object with both test accuracies, the
majority/persistence baselines and the generator's oracle (Bayes) accuracy.

Usage: ``python scripts/compare_causal_hft.py [--config configs/hft_lstm_tiny.yaml]
[--set KEY=VALUE ...] [--workdir runs/compare_causal] [--quick]``.
``--quick``: fewer bars and epochs (a smoke run, accuracies are not meaningful).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

QUICK = ["data.synthetic.steps=600", "train.epochs=1", "train.patience=1"]


def train(config: str, workdir: Path, overrides: list[str]) -> tuple[dict, float]:
    cmd = [sys.executable, "-c", "from quantjax.cli.main import main; raise SystemExit(main())",
           "train", "hft", "--synthetic", "--config", config, "--workdir", str(workdir),
           "--no-progress"]
    for o in overrides:
        cmd += ["--set", o]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return json.loads((workdir / "metrics.json").read_text()), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default="configs/hft_lstm_tiny.yaml")
    ap.add_argument("--set", dest="overrides", action="append", default=[])
    ap.add_argument("--workdir", default="runs/compare_causal")
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    base = (QUICK if args.quick else []) + list(args.overrides)
    out: dict = {"config": args.config, "overrides": base}
    for name, causal in (("bidirectional", "false"), ("causal", "true")):
        m, secs = train(args.config, Path(args.workdir) / name, [*base, f"model.causal={causal}"])
        t = m["test"]
        out[f"{name}_test_accuracy"] = t["directional_accuracy"]
        out[f"{name}_test_macro_f1"] = t.get("macro_f1")
        out[f"{name}_train_s"] = round(secs, 1)
        out["majority_baseline_accuracy"] = t.get("majority_baseline_accuracy")
        out["persistence_baseline_accuracy"] = t.get("persistence_baseline_accuracy")
        out["oracle_accuracy"] = t.get("bayes_accuracy")
        out["test_samples"] = t.get("n")
    out["causal_minus_bidirectional"] = (out["causal_test_accuracy"]
                                         - out["bidirectional_test_accuracy"])
    if out["oracle_accuracy"]:
        for name in ("bidirectional", "causal"):
            out[f"{name}_over_oracle"] = out[f"{name}_test_accuracy"] / out["oracle_accuracy"]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
