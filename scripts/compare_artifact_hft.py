"""A trained HFT run checked on this process's backend against the predictions it wrote: prints
ONE JSON object.

The end-to-end stage of ``scripts/run_gpu_benchmarks.sh`` trains on a GPU, exports the artifact
for ``cuda,cpu``, then runs this with ``JAX_PLATFORMS=cpu``: the GPU checkpoint restored on the
CPU (:func:`quantjax.train.checkpoint.load_for_inference`) and the artifact loaded on the CPU
(:func:`quantjax.inference.export.load_artifact`) predict the run's test windows, which are
compared with the run's ``predictions.npz`` (computed where it trained):

- ``checkpoint_vs_run``, ``artifact_vs_run``, ``artifact_vs_checkpoint``: ``argmax_agreement``
  (share of windows with the same predicted direction), ``max_abs_prob_diff`` (direction
  probabilities), ``max_rel_return_diff`` (predicted return, relative to its largest value);
- ``accuracy_run`` / ``accuracy_here``: test directional accuracy of the run's predictions and
  of the restored checkpoint's on the compared windows.

    JAX_PLATFORMS=cpu PYTHONPATH=. python scripts/compare_artifact_hft.py RUN_DIR ARTIFACT
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def _compare(a: dict, b: dict) -> dict:
    scale = max(float(np.max(np.abs(b["price"]))), 1e-30)
    return {
        "argmax_agreement": float(np.mean(a["direction_probs"].argmax(-1)
                                          == b["direction_probs"].argmax(-1))),
        "max_abs_prob_diff": float(np.max(np.abs(a["direction_probs"] - b["direction_probs"]))),
        "max_rel_return_diff": float(np.max(np.abs(a["price"] - b["price"])) / scale),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("run", help="the run folder (quantjax train hft --workdir)")
    ap.add_argument("artifact", help="its exported artifact (quantjax export --out)")
    ap.add_argument("--data", default=None, help="the run's market file (default: synthetic)")
    ap.add_argument("--max-windows", type=int, default=4096, help="test windows compared")
    ap.add_argument("--batch", type=int, default=512)
    args = ap.parse_args()

    import jax

    from quantjax.config import from_dict
    from quantjax.features.market_features import compute_features
    from quantjax.features.scaler import apply_scaler
    from quantjax.features.windows import gather_windows
    from quantjax.hft.config import HFTConfig
    from quantjax.hft.dataset import features_config, load_hft_market
    from quantjax.hft.predict import predict_fn, predict_windows
    from quantjax.inference.export import load_artifact
    from quantjax.train.checkpoint import load_for_inference

    run = Path(args.run)
    model_cfg, params, scaler, extra = load_for_inference(run)  # restored on this backend
    cfg = from_dict(HFTConfig, extra["config"])
    saved = np.load(run / "predictions.npz")
    n = len(saved["index"])
    pick = np.unique(np.linspace(0, n - 1, min(n, args.max_windows)).astype(np.int64))
    index = saved["index"][pick].astype(np.int32)
    ran = {"direction_probs": saved["direction_probs"][pick],
           "price": saved["pred_return"][pick].astype(np.float32)}

    market, _ = load_hft_market(cfg, args.data)
    fcfg = features_config(cfg)
    fs = compute_features(market, fcfg, chunk_symbols=16)
    feats = apply_scaler(scaler, fs.values, fs.valid, clip=fcfg.clip)
    L = model_cfg.sequence_length
    here = predict_windows(predict_fn(model_cfg, extra), params, feats, index, L, args.batch)

    art = load_artifact(args.artifact)
    call = jax.jit(art.fn)
    windows = jax.jit(lambda f, i: gather_windows(f, i, L))
    b = max(1, min(args.batch, len(index)))
    padded = np.concatenate([index, np.repeat(index[-1:], (-len(index)) % b, axis=0)])
    outs = [jax.device_get(call(art.params, {"x": windows(feats, padded[a:a + b])}))
            for a in range(0, len(padded), b)]
    exported = {k: np.concatenate([np.asarray(o[k]) for o in outs])[:len(index)]
                for k in ("direction_probs", "price")}

    truth = saved["true_direction"][pick]
    print(json.dumps({
        "backend": jax.default_backend(), "run": str(run), "artifact": str(args.artifact),
        "artifact_platforms": list(art.exported.platforms), "n_windows": int(len(index)),
        "checkpoint_vs_run": _compare(here, ran),
        "artifact_vs_run": _compare(exported, ran),
        "artifact_vs_checkpoint": _compare(exported, here),
        "accuracy_run": float(np.mean(ran["direction_probs"].argmax(-1) == truth)),
        "accuracy_here": float(np.mean(here["direction_probs"].argmax(-1) == truth)),
    }, indent=1))


if __name__ == "__main__":
    main()
