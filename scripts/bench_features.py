"""Benchmark: all HFT features, quantjax (jit + vmap) vs the pandas reference, in one run.

Prints one JSON object. quantjax is timed after compilation (compile time reported on its
own) over every symbol, in chunks of ``--chunk`` symbols; pandas (the test oracle
``tests/support/reference_pandas.py``) is timed on ``--pandas-symbols`` symbols and scaled
linearly to all symbols (``pandas_symbols_timed`` says how many were timed).

    python scripts/bench_features.py            # 100 symbols x 100,000 bars
    python scripts/bench_features.py --quick    # 4 x 5,000
    python scripts/bench_features.py --count-below 20,100,500,2000 --symbols 10
        # volatility_regime's rolling rank count alone, both algorithms per window length W
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

TESTS = Path(__file__).resolve().parents[1] / "tests"  # the pandas oracle: tests/support/


def random_market(S: int, T: int, seed: int = 0):
    """Random OHLCV + quotes on a 1 s grid (float64, no missing bars)."""
    from quantjax.data.market import FIELDS, MarketArrays

    rng = np.random.default_rng(seed)
    vol = 2e-4 * np.exp(0.3 * rng.standard_normal((S, 1)))
    mid = 100.0 * np.exp(np.cumsum(vol * rng.standard_normal((S, T)), axis=1))
    half = mid * 1e-4 * (1 + rng.random((S, T)))
    close = mid + half * rng.uniform(-1, 1, (S, T))
    wig = mid * vol * np.abs(rng.standard_normal((S, T)))
    high = np.maximum(close, mid) + wig
    low = np.minimum(close, mid) - wig
    opn = np.concatenate([close[:, :1], close[:, :-1]], axis=1)
    volume = rng.lognormal(6, 0.5, (S, T))
    bid_v = rng.lognormal(6, 0.5, (S, T))
    ask_v = rng.lognormal(6, 0.5, (S, T))
    values = np.stack([opn, high, low, close, volume, mid - half, mid + half, bid_v, ask_v], -1)
    ts = 1_704_187_800 * 10**9 + np.arange(T, dtype=np.int64) * 10**9
    syms = tuple(f"S{i:03d}" for i in range(S))
    return MarketArrays(values, np.ones((S, T), bool), ts, syms, FIELDS)


def bench_count_below(windows: list[int], S: int, T: int, seed: int = 0) -> dict:
    """Time ``count_below_direct`` (O(T*W)) and ``count_below_sorted`` (O(T log W)) on the
    same random ``[S, T]`` float32 series (vmapped, jitted; best of 2 runs after compilation;
    wall and process CPU seconds, the latter less sensitive to a shared machine) and check
    they agree."""
    import jax
    import jax.numpy as jnp

    from quantjax.features import rolling

    x = jnp.asarray(np.random.default_rng(seed).random((S, T), dtype=np.float32))
    rows = []
    for W in windows:
        row: dict = {"W": W}
        res = []
        for name, fn in (("direct", rolling.count_below_direct),
                         ("sorted", rolling.count_below_sorted)):
            f = jax.jit(jax.vmap(lambda v, fn=fn, W=W: fn(v, W)))
            t0 = time.perf_counter()
            res.append(np.asarray(jax.block_until_ready(f(x))))
            row[f"{name}_first_call_s"] = round(time.perf_counter() - t0, 3)  # compile + run
            best, best_cpu = np.inf, np.inf
            for _ in range(2):
                t0, c0 = time.perf_counter(), time.process_time()
                jax.block_until_ready(f(x))
                best = min(best, time.perf_counter() - t0)
                best_cpu = min(best_cpu, time.process_time() - c0)
            row[f"{name}_s"] = round(best, 4)
            row[f"{name}_cpu_s"] = round(best_cpu, 4)
        row["sorted_speedup_vs_direct"] = round(row["direct_s"] / row["sorted_s"], 3)
        row["sorted_speedup_vs_direct_cpu"] = round(row["direct_cpu_s"] / row["sorted_cpu_s"], 3)
        row["equal"] = bool((res[0] == res[1]).all())
        rows.append(row)
    return {
        "benchmark": "count_below", "symbols": S, "bars": T, "windows": rows,
        "crossover_in_code": rolling.COUNT_BELOW_CROSSOVER,
        "load_average_1m": round(os.getloadavg()[0], 2),
        "cpu_count": os.cpu_count(), "jax_backend": jax.default_backend(), "jax": jax.__version__,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--symbols", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--chunk", type=int, default=10, help="symbols per jitted call")
    ap.add_argument("--pandas-symbols", type=int, default=None, help="symbols timed in pandas")
    ap.add_argument("--count-below", default=None, metavar="W1,W2,...",
                    help="benchmark only the rolling rank count, both algorithms, at these W")
    ap.add_argument("--fast-cpu-loops", action="store_true",
                    help="with --count-below: call enable_fast_cpu_loops() first (process-wide)")
    args = ap.parse_args()
    if args.count_below:
        fast = False
        if args.fast_cpu_loops:
            from quantjax.platform import enable_fast_cpu_loops

            fast = enable_fast_cpu_loops()
        windows = [int(w) for w in args.count_below.split(",")]
        S = args.symbols or (2 if args.quick else 10)
        T = args.steps or (5_000 if args.quick else 100_000)
        print(json.dumps({**bench_count_below(windows, S, T), "fast_cpu_loops": fast}))
        return
    S = args.symbols or (4 if args.quick else 100)
    T = args.steps or (5_000 if args.quick else 100_000)
    n_pd = min(S, args.pandas_symbols or (S if args.quick else 2))
    chunk = min(args.chunk, S)

    import jax

    from quantjax.features.batch import compute_batch, feature_names
    from quantjax.features.config import FeaturesConfig
    from quantjax.features.prep import SymbolInputs, prepare

    sys.path.insert(0, str(TESTS))
    from support.reference_pandas import reference_features, symbol_frame

    cfg = FeaturesConfig()
    market = random_market(S, T)
    t0 = time.perf_counter()
    inputs = prepare(market)
    prep_s = time.perf_counter() - t0
    parts = [SymbolInputs(*(a[i : i + chunk] for a in inputs)) for i in range(0, S, chunk)]
    if parts[-1].present.shape[0] != chunk:  # keep one compiled shape
        idx = np.arange(chunk) % parts[-1].present.shape[0]
        parts[-1] = SymbolInputs(*(a[idx] for a in parts[-1]))
    t0 = time.perf_counter()
    compiled = compute_batch.lower(parts[0], cfg, True).compile()
    compile_s = time.perf_counter() - t0
    dev = [jax.device_put(p) for p in parts]
    jax.block_until_ready(compiled(dev[0]))  # warm-up run
    t0, c0 = time.perf_counter(), time.process_time()
    for p in dev:
        jax.block_until_ready(compiled(p))
    jax_s = time.perf_counter() - t0
    jax_cpu = time.process_time() - c0

    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(n_pd):
        reference_features(symbol_frame(market, s), cfg)
    pd_timed = time.perf_counter() - t0
    pd_cpu = (time.process_time() - c0) * S / n_pd
    pandas_s = pd_timed * S / n_pd
    F = len(feature_names(cfg, True))
    print(json.dumps({
        "benchmark": "features",
        "symbols": S, "bars": T, "features": F, "chunk_symbols": chunk,
        "quantjax_seconds": round(jax_s, 4),
        "quantjax_prepare_seconds": round(prep_s, 4),
        "compile_seconds": round(compile_s, 3),
        "pandas_seconds": round(pandas_s, 3),
        "pandas_symbols_timed": n_pd,
        "pandas_seconds_timed": round(pd_timed, 3),
        "speedup_vs_pandas": round(pandas_s / jax_s, 2),
        "speedup_vs_pandas_incl_prepare": round(pandas_s / (jax_s + prep_s), 2),
        "quantjax_cpu_seconds": round(jax_cpu, 3),
        "pandas_cpu_seconds": round(pd_cpu, 3),
        "speedup_vs_pandas_cpu_time": round(pd_cpu / jax_cpu, 2),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "quantjax_bar_features_per_sec": round(S * T * F / jax_s),
        "cpu_count": os.cpu_count(), "platform": platform.platform(),
        "jax_backend": jax.default_backend(), "jax": jax.__version__,
    }))


if __name__ == "__main__":
    main()
