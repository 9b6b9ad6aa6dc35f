"""Strategy sweeps: vmap over parameter sets of (vmap over symbols of scan over time).

Every :class:`quantjax.risk.RiskParams` field (stops, take-profit, costs, limits) and every
:class:`quantjax.backtest.strategies.StrategyParams` field (confidence threshold, Kelly
fraction, vol target...) is a traced leaf: a chunk of K parameter sets runs as one program,
``vmap(trial) -> simulate (scan over time of vmap over symbols)``. Signals come from
``strategies.model_signal`` on pseudo-model outputs (see :func:`model_inputs`). The trial
axis and the symbol axis are sharded over a ``("trial", "symbol")`` mesh; per-book equity
comes back to host, where total equity and the metrics are computed in float64 (the
backtest package's convention), so results do not depend on the device layout.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec as P

from quantjax.backtest import metrics as perf
from quantjax.backtest import runner, strategies
from quantjax.backtest.config import BacktestConfig, StrategyConfig
from quantjax.backtest.pipeline import infer_periods_per_year
from quantjax.config import apply_overrides, from_dict, load_dict
from quantjax.config.base import set_path
from quantjax.data.market_io import load_market as _load
from quantjax.data.market_io import market_from_frame
from quantjax.data.synth_market import generate
from quantjax.errors import ConfigError
from quantjax.risk import RiskParams, make_params
from quantjax.sweep import memory, sharding
from quantjax.sweep import model_inputs as mi
from quantjax.sweep.dsr import dsr_of_best
from quantjax.sweep.space import group_trials

_STRAT_CFG = {f.name for f in dataclasses.fields(StrategyConfig)}
_STRAT_TRACED = set(strategies.StrategyParams._fields)
_STRAT_EXTRA = _STRAT_TRACED - _STRAT_CFG  # traced, not in the backtest config (avg_win...)


def is_traced(key: str) -> bool:
    sec, _, name = key.partition(".")
    return (sec == "risk" and name in RiskParams._fields) or (
        sec == "strategy" and name in _STRAT_TRACED)


def resolve_trial(base: dict, trial: dict) -> tuple[BacktestConfig, dict]:
    """``(BacktestConfig, extra strategy params)`` of one trial (validated)."""
    d, extra = base, {}
    for k, v in trial.items():
        sec, _, name = k.partition(".")
        if sec == "strategy" and name in _STRAT_EXTRA:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ConfigError(f"search.params.{k}: expected a finite number, got {v!r}")
            extra[name] = float(v)
        else:
            d = set_path(d, k, v)
    return from_dict(BacktestConfig, d), extra


def trial_params(cfg: BacktestConfig, extra: dict) -> tuple[RiskParams, Any]:
    st = cfg.strategy
    rp = make_params(np.float32, **dataclasses.asdict(cfg.risk))
    sp = strategies.make_strategy_params(
        np.float32, confidence=st.confidence, kelly_fraction=st.kelly_fraction,
        vol_target=st.vol_target, min_position=st.min_position, max_position=st.max_position,
        **extra)
    return rp, sp


def load_market(cfg: BacktestConfig, data: str | None):
    if data:
        return _load(data)[0]
    df, _ = generate(cfg.synthetic)
    return market_from_frame(df, name="<synthetic>")[0]


def model_inputs(market, signal: str, scale: float, lookback: int, halflife: float):
    """Pseudo-model outputs ``(probs[S,T,3], pred_return[S,T], pred_vol[S,T], vol[S,T])``
    (see :func:`quantjax.sweep.model_inputs.pseudo_outputs`; ``vol`` = EWMA vol at t-1)."""
    probs, ret, pvol = mi.pseudo_outputs(market, signal, scale, lookback, halflife)
    return probs, ret, pvol, pvol


def group_inputs(gcfg: BacktestConfig, bsw, data: str | None, cache: dict):
    """``(market, probs, pred_return, pred_vol, vol, source_info)`` of one static group, on
    the bars the group backtests (model-driven sources: see :mod:`quantjax.sweep.model_inputs`)."""
    st = gcfg.strategy
    if bsw.signal in mi.MODEL_SIGNALS:
        if "model" not in cache:
            cache["model"] = mi.load_model_outputs(bsw, data)
        market, probs, ret, pvol, (a, b), info = cache["model"]
        vol = strategies.ewma_vol(mi.log_returns(market.field("close")), st.vol_halflife)
        sl = lambda x: x[:, a:b]  # noqa: E731
        return (mi.slice_time(market, a, b), sl(probs), sl(ret), sl(pvol), sl(vol), info)
    mkey = (data, repr(gcfg.synthetic))
    if mkey not in cache:
        cache[mkey] = load_market(gcfg, data)
    market = cache[mkey]
    probs, ret, pvol, vol = model_inputs(market, bsw.signal, bsw.signal_scale, st.lookback,
                                         st.vol_halflife)
    return market, probs, ret, pvol, vol, {"source": bsw.signal}


def make_program(long_only: bool):
    """``f(rp[K], sp[K], series[T,S], probs[T,S,3], pred_ret, pred_vol, vol) ->
    (equity[K,T,S], n_trades[K,S])`` (jitted)."""

    def one(rp, sp, series, probs, pred_ret, pred_vol, vol):
        sig = strategies.model_signal(sp, probs, pred_ret, pred_vol, vol)
        if long_only:
            sig = jnp.where(sig < 0, 0.0, sig)
        sig = jnp.where(series.valid, sig, jnp.nan)
        st0 = runner.init_state(rp, sig.shape[1], "independent")
        final, eq = runner.simulate(rp, st0, series, sig, mode="independent", record="equity")
        return eq, final.n_trades

    return jax.jit(jax.vmap(one, in_axes=(0, 0, None, None, None, None, None)))


def trial_metrics(eq: np.ndarray, initial: float, ppy: float) -> tuple[dict, np.ndarray]:
    """Metrics of one trial from per-book equity ``eq[T, S]``; returns ``(metrics, r[T])``."""
    total = eq.astype(np.float64).sum(axis=1)
    init = initial * eq.shape[1]
    r = total / np.concatenate([[init], total[:-1]]) - 1.0
    sd = float(np.nanstd(r, ddof=1)) if len(r) > 1 else math.nan
    m = {"sharpe": perf.sharpe_ratio(r, ppy),
         "sharpe_per_period": float(np.nanmean(r) / sd) if sd > 0 else math.nan,
         "sortino": perf.sortino_ratio(r, ppy), "total_return": perf.cum_returns_final(r),
         "annual_volatility": perf.annual_volatility(r, ppy), "max_drawdown": perf.max_drawdown(r),
         "psr": perf.probabilistic_sharpe_ratio(r), "final_equity": float(total[-1])}
    return m, r


def _chunk(sec, n_trials: int, T: int, S: int, S_dev: int, n_trial_dev: int, shared: int,
           max_parallel: int) -> int:
    per = 5 * T * S_dev * 4  # signal, equity and temporaries of one trial on one device
    k = memory.chunk_size(n_trials, per, shared, n_trial_dev, sec.memory_fraction / 2,
                          max_parallel)
    if not max_parallel:
        host = int(sec.host_chunk_mb * 2**20 // max(T * S * 4, 1))
        k = min(k, max(host // n_trial_dev, 1) * n_trial_dev)
    return k


def _chunk_params(resolved: list, ids: list[int], k: int, mesh):
    """``(RiskParams[k], StrategyParams[k])`` of trials ``ids`` padded to ``k``, sharded."""
    ps = [trial_params(*resolved[i]) for i in ids]
    stacked = jax.tree.map(lambda *xs: sharding.pad_axis(np.stack(xs), 0, k), *ps)
    return sharding.put_tree(stacked, mesh, lambda a: P("trial"))


def run_backtest_sweep(cfg, trials: list[dict], *, max_parallel: int = 0, progress=None,
                       log=print) -> dict:
    """Run a strategy sweep. Returns ``{"rows", "best", "groups", "dsr", "timing"}``."""
    sec, bsw = cfg.sweep, cfg.backtest
    base = apply_overrides(load_dict(sec.base_path), sec.overrides)
    resolved = [resolve_trial(base, t) for t in trials]
    groups = group_trials(trials, is_traced)
    obj, sign = sec.objective_name, (1.0 if sec.mode == "max" else -1.0)
    rows: list[dict | None] = [None] * len(trials)
    returns: dict[int, np.ndarray] = {}
    best: dict = {"score": -math.inf, "index": None}
    info, markets = [], {}
    symbol_steps, run_s, compile_s = 0, 0.0, 0.0
    for g, (static, idx) in enumerate(groups):
        gcfg = resolved[idx[0]][0]
        market, probs, pred_ret, pred_vol, vol, source = group_inputs(gcfg, bsw, sec.data,
                                                                     markets)
        st = gcfg.strategy
        ppy = gcfg.backtest.periods_per_year or infer_periods_per_year(market.timestamps)
        if gcfg.backtest.mode != "independent":
            raise ConfigError("backtest.mode: strategy sweeps support 'independent' books only")
        S, T = market.n_symbols, market.n_steps
        mesh = sharding.make_mesh(len(idx), S, sec.shard, sec.mesh_symbols)
        n_t, n_s = mesh.devices.shape
        S_pad = sharding.round_up(S, n_s)
        series = runner.market_series(market, np.float32)
        series = series._replace(**{
            f: sharding.pad_axis(getattr(series, f), 1, S_pad)
            for f in series._fields if f != "day" and getattr(series, f) is not None})
        tm = [sharding.pad_axis(np.ascontiguousarray(np.swapaxes(a, 0, 1)), 1, S_pad)
              .astype(np.float32) for a in (probs, pred_ret, pred_vol, vol)]
        sym = lambda a: P(None, "symbol") if a.ndim >= 2 else P()  # noqa: E731
        inputs = sharding.put_tree((series, *tm), mesh, sym)
        shared = memory.tree_bytes(inputs) // n_s
        k = _chunk(sec, len(idx), T, S, S_pad // n_s, n_t, shared, max_parallel or sec.max_parallel)
        n_chunks = math.ceil(len(idx) / k)
        info.append({"group": g, "static": static, "n_trials": len(idx), "chunk": k,
                     "n_chunks": n_chunks, "mesh": [n_t, n_s], "symbols": S, "steps": T,
                     "signal": source})
        log(f"group {g} {static or ''}: {len(idx)} trials x {S} symbols x {T} steps, "
            f"{n_chunks} chunk(s) of {k} on mesh (trial {n_t}, symbol {n_s})")
        program = make_program(st.long_only)
        chunks = [idx[c * k:(c + 1) * k] for c in range(n_chunks)]
        t0 = time.perf_counter()
        compiled = program.lower(*_chunk_params(resolved, chunks[0], k, mesh), *inputs).compile()
        compile_s += time.perf_counter() - t0
        t0 = time.perf_counter()
        pending = compiled(*_chunk_params(resolved, chunks[0], k, mesh), *inputs)
        for c, ids in enumerate(chunks):
            out = pending
            if c + 1 < n_chunks:  # overlap: next chunk computes while this one is reduced
                pending = compiled(*_chunk_params(resolved, chunks[c + 1], k, mesh), *inputs)
            eq, trades = sharding.to_host(out)
            for j, i in enumerate(ids):
                cfg_i = resolved[i][0]
                m, r = trial_metrics(eq[j, :, :S], cfg_i.risk.initial_cash, ppy)
                m["n_trades"] = int(trades[j, :S].sum())
                row = {"trial": i, "group": g, **trials[i], **m}
                if obj not in m:
                    raise ConfigError(f"sweep.objective: {obj!r} is not a trial metric; "
                                      f"choose one of {list(m)}")
                rows[i] = row
                returns[i] = r
                score = sign * row[obj] if np.isfinite(row[obj]) else -math.inf
                if best["index"] is None or score > best["score"]:
                    best = {"score": score, "index": i, "row": row, "config": cfg_i,
                            "strategy_extra": resolved[i][1]}
            if progress is not None:
                progress(len(ids))
        run_s += time.perf_counter() - t0
        symbol_steps += len(idx) * S * T
    sharpes = np.array([r["sharpe_per_period"] for r in rows], np.float64)
    dsr = dsr_of_best(returns[best["index"]], sharpes) if best["index"] is not None else {}
    best["returns"] = returns.get(best["index"])
    return {"rows": rows, "best": best, "groups": info, "dsr": dsr,
            "timing": {"run_s": run_s, "compile_s": compile_s, "symbol_steps": symbol_steps,
                       "symbol_steps_per_s": symbol_steps / run_s if run_s else math.nan}}
