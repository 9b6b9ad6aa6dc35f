"""Benchmark the quantjax backtester against vectorbt's ``Portfolio.from_signals``.

Prints ONE JSON object:

- throughput (symbol-steps/s) of the full risk engine (fees, slippage, stop-loss,
  take-profit; float32; independent books) and of vectorbt on the same random OHLC and
  entry/exit signals, and ``speedup_vs_vectorbt``;
- parity mode (fees only, next-bar execution emulated for vectorbt by shifting its signals by
  one bar and executing at the open; float64 via jax x64): ``parity_max_rel_error`` of final
  equity per symbol;
- chunked mode: peak RSS of a subprocess running 100 x 1,000,000 vs 100 x 100,000 steps in
  chunks (data generated chunk by chunk), and their ratio.

quantjax is timed with ``record="full"`` (every StepRecord field, what the CLI keeps) and with
``record="equity"``. By default the script calls
:func:`quantjax.backtest.runner.enable_fast_cpu_loops` before JAX starts (one CPU kernel for
the scan; bitwise-identical results); ``--xla-default`` keeps XLA's defaults for an A/B run.
Times: best and median of ``--repeat`` interleaved runs.

Usage: ``python scripts/bench_backtest.py [--quick] [--symbols 100] [--steps 100000]``
(``--no-vectorbt --skip-chunked --symbols 10000`` for the GPU throughput goal).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def make_data(S: int, T: int, seed: int = 0):
    from quantjax.backtest.toy import random_ohlc

    rng = np.random.default_rng(seed)
    o, h, lo, c, v = random_ohlc(rng, S, T, vol=0.01)
    u = rng.random((T, S))
    entries = u < 0.01
    exits = (u > 0.5) & (u < 0.51)
    return o, h, lo, c, v, entries, exits


def quantjax_run(data, *, fees, slippage_bps, sl, tp, dtype, repeat=3, return_fn=False,
                 record="equity"):
    import jax

    from quantjax.backtest.runner import init_state, simulate
    from quantjax.backtest.strategies import entries_exits_to_target
    from quantjax.risk import MarketStep, make_params

    o, h, lo, c, v, entries, exits = data
    T, S = c.shape
    series = MarketStep(*(np.ascontiguousarray(a, dtype) for a in (o, h, lo, c, v)),
                        valid=np.ones((T, S), bool), day=np.zeros(T, np.int32))
    sig = entries_exits_to_target(entries, exits).astype(dtype)
    params = make_params(dtype=dtype, fee_rate=fees, slippage_bps=slippage_bps, stop_loss=sl,
                         take_profit=tp, max_drawdown=0.0, initial_cash=100_000.0)
    state = init_state(params, S, "independent")
    series = jax.device_put(series)
    sig = jax.device_put(sig)

    def once():
        st, rec = simulate(params, state, series, sig, mode="independent", record=record)
        eq = rec if record == "equity" else rec.equity
        return np.asarray(st.cash + st.position * st.last_price), eq

    if return_fn == "hlo":
        return simulate.lower(params, state, series, sig, mode="independent",
                              record=record).compile().as_text()

    t0 = time.perf_counter()
    final, eq = once()
    jax.block_until_ready(eq)
    first = time.perf_counter() - t0
    if return_fn:
        return lambda: jax.block_until_ready(once()[1]), first
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        final, eq = once()
        jax.block_until_ready(eq)
        best = min(best, time.perf_counter() - t0)
    return final, best, first


def vectorbt_run(data, *, fees, slippage, sl, tp, shift, repeat=3, return_fn=False):
    import pandas as pd
    import vectorbt as vbt

    o, h, lo, c, v, entries, exits = data
    close = pd.DataFrame(c)
    e = pd.DataFrame(entries)
    x = pd.DataFrame(exits)
    kw = dict(fees=fees, slippage=slippage, init_cash=100_000.0, size=np.inf)
    if shift:  # decided at t, executed at the open of t+1
        e = e.shift(1, fill_value=False)
        x = x.shift(1, fill_value=False)
        kw["price"] = pd.DataFrame(o)
    if sl or tp:
        kw.update(open=pd.DataFrame(o), high=pd.DataFrame(h), low=pd.DataFrame(lo),
                  sl_stop=sl or np.nan, tp_stop=tp or np.nan)

    def once():
        pf = vbt.Portfolio.from_signals(close, e, x, **kw)
        return np.asarray(pf.final_value())

    small = tuple(a[:200, :2] for a in data)
    if small[0].shape[0] < len(c):  # numba compile outside the timing
        vectorbt_run(small, fees=fees, slippage=slippage, sl=sl, tp=tp, shift=shift, repeat=0)
    t0 = time.perf_counter()
    final = once()
    first = time.perf_counter() - t0
    if return_fn:
        return once, first
    best = first
    for _ in range(repeat):
        t0 = time.perf_counter()
        final = once()
        best = min(best, time.perf_counter() - t0)
    return final, best, first


CHUNK_CHILD = r"""
import resource, sys, time
import numpy as np
S, T, chunk = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
import jax
from quantjax.backtest.runner import run_chunked
from quantjax.backtest.toy import random_series, random_targets
from quantjax.risk import make_params
params = make_params(max_drawdown=0.0)
rng = np.random.default_rng(0)
def chunks():
    last = 100.0
    for a in range(0, T, chunk):
        n = min(chunk, T - a)
        series, last = random_series(rng, S, n, day0=a // 390, start=last)
        yield series, random_targets(rng, (n, S))
t0 = time.perf_counter()
state, total = run_chunked(params, chunks(), S, record="total")
jax.block_until_ready(state)
wall = time.perf_counter() - t0
# VmHWM (peak RSS of this process image); ru_maxrss would inherit the parent's peak via fork
try:
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    rss = int(hwm.split()[1]) * 1024
except OSError:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(rss, wall, float(total[-1]))
"""


def chunk_peak(S: int, T: int, chunk: int) -> tuple[int, float]:
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
    out = subprocess.run([sys.executable, "-c", CHUNK_CHILD, str(S), str(T), str(chunk)],
                         capture_output=True, text=True, env=env, check=True)
    rss, wall, _ = out.stdout.split()
    return int(rss), float(wall)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--symbols", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--skip-chunked", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each engine")
    ap.add_argument("--no-vectorbt", action="store_true",
                    help="quantjax only (e.g. 10,000 x 100,000 on a GPU)")
    ap.add_argument("--xla-default", action="store_true",
                    help="do not enable the fast CPU loop option (A/B against XLA defaults)")
    a = ap.parse_args()
    S = a.symbols or (20 if a.quick else 100)
    T = a.steps or (5_000 if a.quick else 100_000)
    from quantjax.backtest.runner import enable_fast_cpu_loops

    fast = False if a.xla_default else enable_fast_cpu_loops()
    import jax

    out: dict = {"symbols": S, "steps": T, "devices": str(jax.devices()[0]),
                 "cpu_count": os.cpu_count(), "xla_fast_cpu_loops": fast,
                 "xla_flags": os.environ.get("XLA_FLAGS", "")}
    data = make_data(S, T)
    cost = dict(fees=0.0005, sl=0.02, tp=0.01)
    qkw = dict(slippage_bps=1.0, dtype=np.float32, **cost)
    out["xla_single_kernel_loop"] = "xla_cpu_small_call" in quantjax_run(
        data, return_fn="hlo", record="full", **qkw)
    qj_fn, qj_first = quantjax_run(data, return_fn=True, record="full", **qkw)
    qe_fn, _ = quantjax_run(data, return_fn=True, record="equity", **qkw)
    out["quantjax_record"] = "full"
    out["quantjax_first_call_seconds"] = qj_first
    vectorbt = vb_fn = None
    if not a.no_vectorbt:
        try:
            import vectorbt

            out["vectorbt_version"] = vectorbt.__version__
            vb_fn, _ = vectorbt_run(data, slippage=1e-4, shift=True, return_fn=True, **cost)
        except ImportError as e:
            out["vectorbt_error"] = f"vectorbt not installed: {e}"
            vectorbt = vb_fn = None
    # interleave the timed runs so that all see the same machine load; best and median of each
    times: dict[str, list[float]] = {"qj": [], "qe": [], "vb": []}
    fns = {"qj": qj_fn, "qe": qe_fn, "vb": vb_fn}
    for _ in range(a.repeat):
        for k, fn in fns.items():
            if fn is not None:
                t0 = time.perf_counter()
                fn()
                times[k].append(time.perf_counter() - t0)
    qj_t, qe_t = min(times["qj"]), min(times["qe"])
    out["quantjax_symbol_steps_per_s"] = S * T / qj_t
    out["quantjax_seconds"] = qj_t
    out["quantjax_seconds_median"] = float(np.median(times["qj"]))
    out["quantjax_equity_only_symbol_steps_per_s"] = S * T / qe_t
    out["quantjax_equity_only_seconds_median"] = float(np.median(times["qe"]))
    if vb_fn is not None:
        vb_t = min(times["vb"])
        out["vectorbt_symbol_steps_per_s"] = S * T / vb_t
        out["vectorbt_seconds"] = vb_t
        out["vectorbt_seconds_median"] = float(np.median(times["vb"]))
        out["speedup_vs_vectorbt"] = vb_t / qj_t
        out["speedup_vs_vectorbt_median"] = float(np.median(times["vb"]) / np.median(times["qj"]))
        out["speedup_vs_vectorbt_equity_only"] = vb_t / qe_t
        # parity: fees only, float64
        with jax.enable_x64(True):
            pq, _, _ = quantjax_run(data, fees=0.0005, slippage_bps=0.0, sl=0.0, tp=0.0,
                                    dtype=np.float64, repeat=0)
        pv, _, _ = vectorbt_run(data, fees=0.0005, slippage=0.0, sl=0.0, tp=0.0, shift=True,
                                repeat=0)
        rel = np.abs(pq - pv) / np.abs(pv)
        out["parity_max_rel_error"] = float(rel.max())
        out["parity_final_equity_mean"] = float(pv.mean())
    if not a.skip_chunked:
        cs = 10 if a.quick else 100
        t_small, t_big = (10_000, 100_000) if a.quick else (100_000, 1_000_000)
        chunk = 10_000
        r_small, w_small = chunk_peak(cs, t_small, chunk)
        r_big, w_big = chunk_peak(cs, t_big, chunk)
        out["chunked"] = {"symbols": cs, "chunk_steps": chunk, "steps_small": t_small,
                          "steps_big": t_big, "peak_rss_small_bytes": r_small,
                          "peak_rss_big_bytes": r_big, "peak_rss_ratio": r_big / r_small,
                          "wall_big_s": w_big, "symbol_steps_per_s_big": cs * t_big / w_big}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
