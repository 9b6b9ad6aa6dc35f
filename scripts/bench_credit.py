"""Benchmark: scoring with the credit transformer (JAX) vs the PyTorch re-implementation of
the spec's model, same sizes (spec defaults), same machine, one run.

Three scorers, timed in interleaved repeats (medians), so machine load hits all alike:

- ``jax_padded``: one jitted call on the whole batch padded to ``--text-len`` words;
- ``jax`` (headline): length-bucketed scoring (:mod:`quantjax.credit.bucketing`): rows sorted by
  text length, chunks of ``--bucket-rows`` rows, text trimmed per chunk (PAD is masked, so the
  logits are the same; the max abs difference of the probabilities is reported);
- ``torch``: the spec's model in eval mode under ``torch.inference_mode`` (same thread count).

Prints ONE JSON object: throughput (applications/s at --batch), single-application latency
p50/p99 (microseconds), executed FLOPs per batch and achieved GFLOP/s for each, and
``throughput_speedup_vs_torch`` / ``latency_p50_speedup_vs_torch``. ``--quick`` for a smoke run.

    python scripts/bench_credit.py [--quick] [--batch 512] [--text-len 40] [--bucket-rows 128]

``--stability`` measures ``stability_overhead`` instead (issue 22): the time of the stability
report (:func:`quantjax.credit.stability.stability_report`: PSI of the PD, CSI of every input
against the stored reference bins) over ``--rows`` scored applications (default 1,000,000),
divided by the time of scoring them (:func:`quantjax.credit.scoring.score_frame`, no
explanations: the cheapest scoring path) with the tiny credit config on German-credit-shaped
rows (7 numeric, 13 categorical columns; ``make_german_like``). Interleaved repeats, medians;
goal ``stability_overhead <= 0.10``.

    python scripts/bench_credit.py --stability [--rows 1000000] [--reps 3]

On a GPU (JAX's default backend ``gpu``) torch runs on CUDA with ``--torch-device auto`` (the
default); torch's timed calls copy the result to the host, as the JAX scorers do, and
``--gpu-precision`` sets both frameworks' fp32 matmul mode alike (``tf32``: JAX's GPU default,
or ``highest``). GPU runs want bigger batches: ``--batch 8192 --bucket-rows 2048``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))


def layer_flops(tokens: int, d: int, ffn: int) -> float:
    """FLOPs (2 per multiply-add) of one encoder layer on ``tokens`` tokens of one row:
    QKV + output projections, FFN, and the two attention products (QK^T, PV)."""
    return 2.0 * tokens * (4 * d * d + 2 * ffn * d * d) + 2.0 * 2 * tokens * tokens * d


def row_flops(tokens: int, d: int, ffn: int, layers: int, fused_in: int) -> float:
    """FLOPs of one application: encoder + fusion MLP (fused_in -> 2d -> d) + head."""
    head = 2.0 * (fused_in * 2 * d + 2 * d * d + d * d // 2 + d // 2 * d // 4 + d // 4 * 2)
    return layers * layer_flops(tokens, d, ffn) + head


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--text-len", type=int, default=40)
    ap.add_argument("--bucket-rows", type=int, default=128, help="rows per bucketed call")
    ap.add_argument("--bucket-multiple", type=int, default=4, help="text lengths rounded to this")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--torch-device", choices=("auto", "cpu", "cuda"), default="auto",
                    help="auto: cuda when JAX's default backend is a GPU, else cpu")
    ap.add_argument("--gpu-precision", choices=("tf32", "highest"), default="tf32",
                    help="fp32 matmul mode of both frameworks on a GPU (tf32: JAX's default)")
    ap.add_argument("--reps", type=int, default=None, help="timed batches per scorer")
    ap.add_argument("--stability", action="store_true",
                    help="measure stability_overhead (stability vs scoring) instead")
    ap.add_argument("--rows", type=int, default=None,
                    help="--stability: scored rows (default 1,000,000; --quick 20,000)")
    a = ap.parse_args(argv)
    if a.stability:
        print(json.dumps(stability_overhead(a.rows or (20_000 if a.quick else 1_000_000),
                                            a.reps or (1 if a.quick else 3)), indent=1))
        return 0
    batch = a.batch or (64 if a.quick else 512)
    reps = a.reps or (3 if a.quick else 10)
    lat_n = 30 if a.quick else 300

    import jax
    import jax.numpy as jnp

    from quantjax.credit.bucketing import bucketed_logits_fn, plan_chunks
    from quantjax.credit.config import CreditModelConfig
    from quantjax.models.credit import build_model

    on_gpu = jax.default_backend() == "gpu"
    dev = a.torch_device if a.torch_device != "auto" else ("cuda" if on_gpu else "cpu")
    precision = a.gpu_precision if (on_gpu or dev == "cuda") else None
    if precision:
        jax.config.update("jax_default_matmul_precision",
                          "tensorfloat32" if precision == "tf32" else "highest")
    dn, cards, vocab, tlen, ts_len = 50, (10, 20, 15), 10_000, a.text_len, 12
    rng = np.random.default_rng(0)

    def make(n):
        text = rng.integers(2, vocab, (n, tlen)).astype(np.int32)
        lens = rng.integers(tlen // 2, tlen + 1, n)
        text[np.arange(tlen)[None] >= lens[:, None]] = 0
        return (rng.normal(size=(n, dn)).astype(np.float32),
                np.stack([rng.integers(0, c, n) for c in cards], 1).astype(np.int32),
                text, rng.normal(size=(n, ts_len, 1)).astype(np.float32))

    xb, x1 = make(batch), make(1)
    cfg = CreditModelConfig()  # spec defaults: d_model 256, 8 heads, 6 layers, FFN 4x
    d, ffn, nl = cfg.d_model, cfg.ffn_mult, cfg.n_layers
    model = build_model(cfg, dn, cards, vocab)
    params = model.init(jax.random.key(0), *[jnp.asarray(v[:2]) for v in xb])["params"]
    n_params = int(sum(np.prod(p.shape) for p in jax.tree.leaves(params)))

    @jax.jit
    def score(p, *x):
        return jax.nn.sigmoid(model.apply({"params": p}, *x))

    bucketed = bucketed_logits_fn(model, a.bucket_rows, a.bucket_multiple)

    def score_bucketed(x):
        return 1.0 / (1.0 + np.exp(-bucketed(params, *x)))

    jb = [jnp.asarray(v) for v in xb]
    j1 = [jnp.asarray(v) for v in x1]
    p_pad = np.asarray(score(params, *jb), np.float64)
    score(params, *j1).block_until_ready()
    p_bucket = score_bucketed(xb)
    score_bucketed(x1)
    # executed FLOPs: JAX has [CLS] + numeric + categorical + series + text tokens, fusion of 5
    n_fixed = 4
    flops_pad = batch * row_flops(n_fixed + tlen, d, ffn, nl, 5 * d)
    flops_bucket = sum(max(len(c.rows), min(a.bucket_rows, batch))
                       * row_flops(n_fixed + c.text_len, d, ffn, nl, 5 * d)
                       for c in plan_chunks(xb[2], a.bucket_rows, a.bucket_multiple))
    timers = {
        "jax_padded": lambda: score(params, *jb).block_until_ready(),
        "jax": lambda: score_bucketed(xb),
    }
    lat = {
        "jax_padded": lambda: score(params, *j1).block_until_ready(),
        "jax": lambda: score_bucketed(x1),
    }
    flops = {"jax_padded": flops_pad, "jax": flops_bucket}
    res = {
        "bench": "credit_scoring", "quick": a.quick, "batch": batch, "text_len": tlen,
        "bucket_rows": a.bucket_rows, "bucket_multiple": a.bucket_multiple,
        "config": "spec defaults (d_model 256, 8 heads, 6 layers, FFN 4x, 50 numeric, "
                  "categorical [10, 20, 15], vocab 10000, 12-month series)",
        "device": jax.devices()[0].device_kind, "backend": jax.default_backend(),
        "torch_device": None if a.no_torch else dev, "gpu_matmul_precision": precision,
        "cpu_count": os.cpu_count(), "python": platform.python_version(),
        "jax_version": jax.__version__, "jax_params": n_params,
        "mean_text_words": float((xb[2] > 0).sum(1).mean()),
        "bucketed_max_abs_diff": float(np.max(np.abs(p_bucket - p_pad))),
    }
    if not a.no_torch:
        import torch
        from torch_reference_credit import MultiModalCreditTransformer, count_params

        if precision:
            torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
            torch.backends.cudnn.allow_tf32 = precision == "tf32"
        torch.manual_seed(0)
        tm = MultiModalCreditTransformer(dn, cards, vocab, ts_len).eval().to(dev)

        def to_torch(x):
            return [torch.from_numpy(x[0]).to(dev), torch.from_numpy(x[1]).long().to(dev),
                    torch.from_numpy(x[2]).long().to(dev),
                    torch.from_numpy(np.ascontiguousarray(x[3][..., 0])).to(dev)]

        tb_in, t1_in = to_torch(xb), to_torch(x1)

        def torch_call(inp):
            with torch.inference_mode():
                return tm(*inp).cpu()  # results on the host, as the JAX scorers return them

        torch_call(tb_in)
        torch_call(t1_in)
        timers["torch"] = lambda: torch_call(tb_in)
        lat["torch"] = lambda: torch_call(t1_in)
        # the spec's model: numeric + categorical + series + text tokens, no mask, fusion of 4
        flops["torch"] = batch * row_flops(3 + tlen, d, 4, nl, 4 * d)
        res.update({"torch_version": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "cudnn_version": torch.backends.cudnn.version() if dev == "cuda" else None,
                    "torch_params": count_params(tm)})
    tb = {k: [] for k in timers}
    t1 = {k: [] for k in timers}
    for _ in range(reps):  # interleaved: load changes hit every scorer alike
        for k, f in timers.items():
            tb[k].append(_timed(f))
    for _ in range(lat_n):
        for k, f in lat.items():
            t1[k].append(_timed(f))
    for k in timers:
        med = float(np.median(tb[k]))
        res[f"{k}_throughput_apps_per_s"] = batch / med
        res[f"{k}_gflop_per_batch"] = flops[k] / 1e9
        res[f"{k}_gflop_per_s"] = flops[k] / med / 1e9
        res[f"{k}_latency_p50_us"] = float(np.percentile(t1[k], 50) * 1e6)
        res[f"{k}_latency_p99_us"] = float(np.percentile(t1[k], 99) * 1e6)
    if "torch" in timers:
        for k in ("jax", "jax_padded"):
            pre = "" if k == "jax" else "padded_"
            res[f"{pre}throughput_speedup_vs_torch"] = (res[f"{k}_throughput_apps_per_s"]
                                                        / res["torch_throughput_apps_per_s"])
            res[f"{pre}latency_p50_speedup_vs_torch"] = (res["torch_latency_p50_us"]
                                                         / res[f"{k}_latency_p50_us"])
            res[f"{pre}latency_p99_speedup_vs_torch"] = (res["torch_latency_p99_us"]
                                                         / res[f"{k}_latency_p99_us"])
    print(json.dumps(res, indent=1))
    return 0


def stability_overhead(rows: int, reps: int) -> dict:
    """``{"stability_overhead": stability time / scoring time, ...}`` on ``rows`` rows."""
    import jax
    import pandas as pd

    from quantjax.config import load
    from quantjax.config.credit_schema import CreditSchema
    from quantjax.credit.config import CreditConfig, CreditDecisionConfig
    from quantjax.credit.explain import feature_space
    from quantjax.credit.scoring import CreditScorer, score_frame
    from quantjax.credit.stability import build_reference, stability_report
    from quantjax.data.credit import check_credit_frame, fit_encoder
    from quantjax.data.synth_credit import make_german_like
    from quantjax.models.credit import build_model

    root = Path(__file__).resolve().parents[1]
    cfg = load(CreditConfig, root / "configs" / "credit_transformer_tiny.yaml")
    schema = load(CreditSchema, root / "configs" / "credit_schema_german.yaml")
    train = check_credit_frame(make_german_like(1000, 0), schema)
    enc = fit_encoder(train, schema)
    model = build_model(cfg.model, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    x = [np.zeros((2, enc.numeric_dim), np.float32),
         np.full((2, len(enc.cardinalities)), 2, np.int32), np.zeros((2, 0), np.int32),
         np.zeros((2, 0, 1), np.float32)]
    params = model.init(jax.random.key(0), *x)["params"]  # timing does not need training
    scorer = CreditScorer(model, params, enc, 1.0, 0.0, CreditDecisionConfig(),
                          feature_space(enc), {}, None)
    ref = build_reference(train, schema, score_frame(scorer, train, explain=False)
                          ["risk_score"].to_numpy())
    block = make_german_like(50_000, 1)
    apps = pd.concat([block] * -(-rows // len(block)), ignore_index=True).iloc[:rows]
    apps = check_credit_frame(apps.drop(columns=["class"]), schema, require_target=False)
    warm = apps.iloc[:10_000]  # compiles the same chunk shapes as the full run
    stability_report(ref, warm, score_frame(scorer, warm, explain=False)["risk_score"].to_numpy())
    t0 = time.perf_counter()
    pd_ = score_frame(scorer, apps, explain=False)["risk_score"].to_numpy()
    t_first = time.perf_counter() - t0
    t_score, t_stab = [t_first], []
    for r in range(reps):  # interleaved: machine load hits both alike
        if r:  # the first scoring above is the first timed one
            t_score.append(_timed(lambda: score_frame(scorer, apps, explain=False)))
        t_stab.append(_timed(lambda: stability_report(ref, apps, pd_)))
    rep = stability_report(ref, apps, pd_)
    ts, tt = float(np.median(t_score)), float(np.median(t_stab))
    return {"bench": "credit_stability", "rows": rows, "reps": reps,
            "inputs": len(rep["csi"]), "config": "credit_transformer_tiny.yaml, German-credit "
            "shaped rows (make_german_like), score_frame(explain=False)",
            "score_s": ts, "stability_s": tt, "score_s_each": t_score, "stability_s_each": t_stab,
            "score_rows_per_s": rows / ts,
            "stability_rows_per_s": rows / tt, "stability_overhead": tt / ts,
            "goal": 0.10, "cpu_count": os.cpu_count(), "jax_version": jax.__version__,
            "backend": jax.default_backend(), "psi": rep["psi"]}


if __name__ == "__main__":
    raise SystemExit(main())
