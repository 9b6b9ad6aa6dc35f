"""Benchmark the quantjax backtester against vectorbt's ``Portfolio.from_signals``.

Prints ONE JSON object:

- throughput (symbol-steps/s) of the full risk engine (fees, slippage, stop-loss,
  take-profit; float32; independent books) and of vectorbt on the same random OHLC and
  entry/exit signals, and ``speedup_vs_vectorbt``;
- parity mode (fees only, next-bar execution emulated for vectorbt by shifting its signals by
  one bar and executing at the open; float64 via jax x64): ``parity_max_rel_error`` of final
  equity per symbol;
- ``execution_rules_speed_ratio``: the engine with the execution rules on (latency 1 bar,
  limit orders at the touch with trade-through fills and a 5-bar expiry, square-root impact;
  :data:`EXECUTION`) against today's engine (those rules off: the book carries no execution
  state), both at the headline record level, timed interleaved in the same run;
  ``execution_rules_speed_ratio_with_carry`` adds borrow cost and funding (every held
  symbol-step is then a fill event of the ``trades`` level);
- chunked mode: peak RSS of a subprocess running 100 x 1,000,000 vs 100 x 100,000 steps in
  chunks (data generated chunk by chunk), and their ratio.

quantjax is timed at three record levels (all run the same full risk engine):
``full`` (13 dense per-step arrays), ``trades`` (dense equity and a sparse fill-event
log, brought to host; what the CLI uses: ``headline_record_level``) and ``equity``.
``speedup_vs_vectorbt`` is the ratio of medians at the headline level
(``speedup_vs_vectorbt_by_level`` for all). vectorbt gets the same costs (fees 5 bps, slippage
1 bp, stop-loss 2%, take-profit 1%), its numba code is compiled before timing, and only
``Portfolio.from_signals(...).final_value()`` is timed. By default the script calls
:func:`quantjax.platform.enable_fast_cpu_loops` before JAX starts (one CPU kernel for
the scan; bitwise-identical results); ``--xla-default`` keeps XLA's defaults for an A/B run.
Times: medians (and best) of ``--repeat`` interleaved runs of every engine.

Usage: ``python scripts/bench_backtest.py [--quick] [--symbols 100] [--steps 100000]``
(``--no-vectorbt --skip-chunked --device-data --levels trades,equity,total --symbols 10000``
for the GPU throughput goal; on a GPU at that size use ``--levels equity,total``:
``trades`` runs the dense program there and runs out of memory; ``--device-data`` draws the same kind of random walk and
entry/exit signals with ``jax.random`` on the device, in float32, instead of numpy on the host,
which would need about 90 GB of host memory at 10,000 x 100,000; ``--levels`` picks record
levels, since ``full`` at that size needs 52 GB of records on the device).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

# the benchmark's random markets are the tests' toy markets (tests/support/toy_market.py)
TESTS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "tests")
sys.path.insert(0, TESTS)


def make_data(S: int, T: int, seed: int = 0):
    from support.toy_market import random_ohlc

    rng = np.random.default_rng(seed)
    o, h, lo, c, v = random_ohlc(rng, S, T, vol=0.01)
    u = rng.random((T, S))
    entries = u < 0.01
    exits = (u > 0.5) & (u < 0.51)
    return o, h, lo, c, v, entries, exits


def make_device_data(S: int, T: int, seed: int = 0, vol: float = 0.01):
    """:func:`make_data`'s random walk and signals drawn on the default device (float32,
    time-major ``[T, S]``; same distributions as ``random_ohlc`` of tests/support/toy_market.py)."""
    import jax
    import jax.numpy as jnp

    @jax.jit
    def gen(key):
        k = jax.random.split(key, 6)
        r = vol * jax.random.normal(k[0], (T, S))
        logc = jnp.log(100.0) + jnp.cumsum(r, axis=0)
        close = jnp.exp(logc)
        prev = jnp.exp(jnp.concatenate([jnp.full((1, S), jnp.log(100.0)), logc[:-1]]))
        open_ = prev * jnp.exp(vol / 4 * jax.random.normal(k[1], (T, S)))
        high = jnp.maximum(open_, close) * jnp.exp(jnp.abs(vol / 2 * jax.random.normal(k[2], (T, S))))
        low = jnp.minimum(open_, close) * jnp.exp(-jnp.abs(vol / 2 * jax.random.normal(k[3], (T, S))))
        volume = jnp.exp(jnp.log(1e5) + 0.3 * jax.random.normal(k[4], (T, S)))
        u = jax.random.uniform(k[5], (T, S))
        return open_, high, low, close, volume, u < 0.01, (u > 0.5) & (u < 0.51)

    return jax.block_until_ready(gen(jax.random.key(seed)))


def _engine_inputs(data, dtype):
    """``(MarketStep, signals)`` from :func:`make_data` (host) or :func:`make_device_data`."""
    import jax
    import jax.numpy as jnp

    from quantjax.backtest.strategies import entries_exits_to_target
    from quantjax.risk import MarketStep

    o, h, lo, c, v, entries, exits = data
    T, S = c.shape
    if isinstance(c, jax.Array):  # already on the device: build the inputs there
        series = MarketStep(*(a.astype(dtype) for a in (o, h, lo, c, v)),
                            valid=jnp.ones((T, S), bool), day=jnp.zeros(T, jnp.int32),
                            elapsed=jnp.ones(T, dtype))  # 1-second bars (carry)
        sig = jnp.where(exits, 0.0, jnp.where(entries, 1.0, jnp.nan)).astype(dtype)
        return series, sig
    series = MarketStep(*(np.ascontiguousarray(a, dtype) for a in (o, h, lo, c, v)),
                        valid=np.ones((T, S), bool), day=np.zeros(T, np.int32),
                        elapsed=np.ones(T, dtype))  # 1-second bars (carry)
    sig = entries_exits_to_target(entries, exits).astype(dtype)
    return jax.device_put(series), jax.device_put(sig)


def quantjax_run(data, *, fees, slippage_bps, sl, tp, dtype, repeat=3, return_fn=False,
                 record="equity", unroll=1, execution=None, budget_mb=None):
    """Time the engine at one record level. ``return_fn=True``: ``(fn, first_call_s, info)``;
    ``"hlo"``: the compiled HLO text; else ``(final_equity[S], best_s, first_call_s)``.
    ``budget_mb`` (MB, 0 = half the device's free memory; None = one shot): time chunks that
    fit the budget (:mod:`quantjax.backtest.budget`, what ``quantjax backtest`` does), run
    with ``runner.run_chunked``; ``info["chunk_steps"]`` says the chunk."""
    import jax

    from quantjax.backtest import budget
    from quantjax.backtest.runner import (
        init_state,
        run_chunked,
        simulate,
        simulate_trades,
        slice_series,
    )
    from quantjax.risk import make_params

    T, S = data[3].shape
    series, sig = _engine_inputs(data, dtype)
    params = make_params(dtype=dtype, fee_rate=fees, slippage_bps=slippage_bps, stop_loss=sl,
                         take_profit=tp, max_drawdown=0.0, initial_cash=100_000.0,
                         **(execution or {}))
    state = init_state(params, S, "independent")
    info: dict = {}
    chunk = T
    if budget_mb is not None and return_fn != "hlo":
        chunk = budget.chunk_steps(T, S, record, "independent", budget.budget_bytes(budget_mb))
        info["chunk_steps"] = chunk

    def once():
        if chunk < T:  # memory-bounded: time chunks carrying the state, records to the host
            pieces = ((slice_series(series, a, min(a + chunk, T)), sig[a:min(a + chunk, T)])
                      for a in range(0, T, chunk))
            st, rec = run_chunked(params, pieces, S, mode="independent", record=record,
                                  state=state, unroll=unroll)
            if record == "trades":
                info["events"] = len(rec.events["step"])
            eq = rec if record in ("equity", "total") else rec.equity
            return np.asarray(st.cash + st.position * st.last_price), eq
        if record == "trades":  # what the CLI runs: event log to host, overflow handled
            st, tr = simulate_trades(params, state, series, sig, mode="independent",
                                     unroll=unroll)
            info["events"] = len(tr.events["step"])
            return np.asarray(st.cash + st.position * st.last_price), tr.equity
        st, rec = simulate(params, state, series, sig, mode="independent", record=record,
                           unroll=unroll)
        eq = rec if record in ("equity", "total") else rec.equity
        return np.asarray(st.cash + st.position * st.last_price), eq

    if return_fn == "hlo":
        return simulate.lower(params, state, series, sig, mode="independent",
                              record=record, unroll=unroll).compile().as_text()

    t0 = time.perf_counter()
    final, eq = once()
    jax.block_until_ready(eq)
    first = time.perf_counter() - t0
    if return_fn:
        return (lambda: jax.block_until_ready(once()[1])), first, info
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
from support.toy_market import random_series, random_targets
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
    env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"),
               PYTHONPATH=os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", CHUNK_CHILD, str(S), str(T), str(chunk)],
                         capture_output=True, text=True, env=env, check=True)
    rss, wall, _ = out.stdout.split()
    return int(rss), float(wall)


LEVELS = ("full", "trades", "equity")
HEADLINE = "trades"  # the record level the CLI uses
EVENT_BYTES = 4 + 4 + 9 * 4 + 2  # step, symbol, 9 float32 values, 2 int8 reasons
#: the execution rules of ``execution_rules_speed_ratio`` (risk parameter overrides)
EXECUTION = {"latency": 1.0, "limit_orders": 1.0, "limit_expiry": 5.0, "impact_k": 0.1}
CARRY = {"borrow_rate": 0.05, "funding_rate": 0.1}


def _hlo_instructions(text: str) -> int:
    """Instructions in a compiled HLO module (a rough size of the step program)."""
    return sum(1 for line in text.splitlines() if " = " in line and "{" not in line.split("=")[0])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    ap.add_argument("--symbols", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--skip-chunked", action="store_true")
    ap.add_argument("--repeat", type=int, default=5, help="timed runs of each engine")
    ap.add_argument("--no-vectorbt", action="store_true",
                    help="quantjax only (e.g. 10,000 x 100,000 on a GPU)")
    ap.add_argument("--device-data", action="store_true",
                    help="draw the random data on the device (jax.random) instead of the host")
    ap.add_argument("--levels", default=",".join(LEVELS),
                    help=f"record levels to time, comma-separated (of {', '.join(LEVELS)}, "
                         "total); must include the headline level 'trades'")
    ap.add_argument("--unroll", type=int, default=1,
                    help="time steps per scan iteration (lax.scan's unroll)")
    ap.add_argument("--memory-budget", default=None, metavar="SIZE",
                    help="run every level in time chunks that fit SIZE of device memory (e.g. "
                         "8GB), as quantjax backtest does; 'auto': half the device's free "
                         "memory (default: one shot)")
    ap.add_argument("--xla-default", action="store_true",
                    help="do not enable the fast CPU loop option (A/B against XLA defaults)")
    a = ap.parse_args()
    levels = tuple(a.levels.split(","))
    if not set(levels) <= set(LEVELS) | {"total"}:
        ap.error(f"--levels: {a.levels!r} must name levels of {LEVELS + ('total',)}")
    # the CLI's level when timed, else the first one named (the JSON says which)
    headline = HEADLINE if HEADLINE in levels else levels[0]
    if a.device_data and not a.no_vectorbt:
        ap.error("--device-data needs --no-vectorbt (vectorbt runs on host numpy data)")
    S = a.symbols or (20 if a.quick else 100)
    T = a.steps or (5_000 if a.quick else 100_000)
    from quantjax.platform import enable_fast_cpu_loops

    fast = False if a.xla_default else enable_fast_cpu_loops()
    import jax

    out: dict = {"symbols": S, "steps": T, "devices": str(jax.devices()[0]),
                 "cpu_count": os.cpu_count(), "xla_fast_cpu_loops": fast,
                 "xla_flags": os.environ.get("XLA_FLAGS", ""),
                 "engine_dtype": "float32",
                 "vectorbt_dtype": "float64"}
    t0 = time.perf_counter()
    data = make_device_data(S, T) if a.device_data else make_data(S, T)
    out["data_seconds"] = time.perf_counter() - t0
    out["data_on_device"] = a.device_data
    out["record_levels"] = list(levels)
    out["headline_record_level"] = headline
    cost = dict(fees=0.0005, sl=0.02, tp=0.01)
    budget_mb = None
    if a.memory_budget is not None:
        from quantjax.backtest.budget import parse_size_mb

        budget_mb = 0.0 if a.memory_budget == "auto" else parse_size_mb(a.memory_budget)
    qkw = dict(slippage_bps=1.0, dtype=np.float32, unroll=a.unroll, **cost)
    out["unroll"] = a.unroll
    out["memory_budget_mb"] = budget_mb
    hlo = {lv: quantjax_run(data, return_fn="hlo", record=lv, **qkw) for lv in levels}
    out["xla_single_kernel_loop"] = {lv: "xla_cpu_small_call" in t for lv, t in hlo.items()}
    out["hlo_instructions"] = {lv: _hlo_instructions(t) for lv, t in hlo.items()}
    fns, infos = {}, {}
    for lv in levels:
        fns[lv], first, infos[lv] = quantjax_run(data, return_fn=True, record=lv,
                                                 budget_mb=budget_mb, **qkw)
        out.setdefault("quantjax_first_call_seconds", {})[lv] = first
        if "chunk_steps" in infos[lv]:
            out.setdefault("chunk_steps", {})[lv] = infos[lv]["chunk_steps"]
    for name, extra in (("execution", EXECUTION), ("execution_carry", {**EXECUTION, **CARRY})):
        fns[name], first, infos[name] = quantjax_run(data, return_fn=True, record=headline,
                                                     execution=extra, **qkw)
        out.setdefault("quantjax_first_call_seconds", {})[name] = first
    if not a.no_vectorbt:
        try:
            import vectorbt

            out["vectorbt_version"] = vectorbt.__version__
            fns["vectorbt"], _ = vectorbt_run(data, slippage=1e-4, shift=True, return_fn=True,
                                              **cost)
        except ImportError as e:
            out["vectorbt_error"] = f"vectorbt not installed: {e}"
    # interleave the timed runs so that all see the same machine load; medians (and best)
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(a.repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t0)
    med = {k: float(np.median(v)) for k, v in times.items()}
    best = {k: float(min(v)) for k, v in times.items()}
    out["repeats"] = a.repeat
    out["seconds_median"] = med
    out["seconds_best"] = best
    out["symbol_steps_per_s_median"] = {k: S * T / v for k, v in med.items()}
    n_ev = infos.get("trades", {}).get("events", 0)
    out["trades_events"] = n_ev
    out["trades_event_rate"] = n_ev / (S * T)
    # bytes kept per symbol-step: full = 12 float32/int32 arrays + 1 bool; trades = equity +
    # the event rows
    out["record_bytes_per_symbol_step"] = {
        "full": 12 * 4 + 1, "trades": 4 + EVENT_BYTES * n_ev / (S * T), "equity": 4,
        "total": 4 / S}
    out["quantjax_symbol_steps_per_s"] = S * T / med[headline]
    out["execution_rules"] = EXECUTION
    out["execution_rules_speed_ratio"] = med[headline] / med["execution"]
    out["execution_rules_speed_ratio_with_carry"] = med[headline] / med["execution_carry"]
    out["execution_events"] = {k: infos[k].get("events") for k in ("execution",
                                                                   "execution_carry")}
    out["quantjax_seconds_median"] = med[headline]
    if "vectorbt" in fns:
        out["vectorbt_symbol_steps_per_s"] = S * T / med["vectorbt"]
        out["vectorbt_seconds_median"] = med["vectorbt"]
        out["speedup_vs_vectorbt"] = med["vectorbt"] / med[headline]
        out["speedup_vs_vectorbt_best"] = best["vectorbt"] / best[headline]
        out["speedup_vs_vectorbt_by_level"] = {lv: med["vectorbt"] / med[lv] for lv in levels}
        out["speedup_vs_vectorbt_execution_rules"] = med["vectorbt"] / med["execution"]
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
