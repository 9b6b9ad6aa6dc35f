"""End-to-end backtest from a config: signals -> engine -> result files (used by the CLI)."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.backtest import budget, sharded, strategies
from quantjax.backtest.config import BacktestConfig
from quantjax.backtest.runner import (
    BacktestResult,
    check_signals,
    init_state,
    market_series,
    run,
    run_chunked,
    slice_series,
    trades_records,
)
from quantjax.config.data import freq_seconds, hhmm_seconds
from quantjax.data.market import MarketArrays
from quantjax.errors import UserError
from quantjax.risk import make_params

_NS_DAY = 86_400 * 1_000_000_000


def risk_params(cfg: BacktestConfig, dtype=np.float32):
    return make_params(dtype=dtype, **dataclasses.asdict(cfg.risk))


def infer_periods_per_year(timestamps: np.ndarray) -> float:
    """252 for daily bars, ``365.25 / days per bar`` for coarser bars; otherwise 252 x the median number of bars per UTC day
    (e.g. 23,400 one-second bars of a 6.5 h session -> 5,896,800)."""
    ts = np.asarray(timestamps, np.int64)
    if len(ts) < 2:
        return 252.0
    step = float(np.median(np.diff(ts)))
    if step >= 0.8 * _NS_DAY:  # daily: 252; coarser: calendar periods (weekly 52.2, monthly 12)
        return 365.25 * _NS_DAY / step if step > 1.5 * _NS_DAY else 252.0
    _, counts = np.unique(ts // _NS_DAY, return_counts=True)
    return 252.0 * float(np.median(counts))


def synthetic_periods_per_year(synth) -> float:
    """252 x bars per session of a ``SynthMarketConfig`` (1s bars, 09:30-16:00 -> 5,896,800)."""

    bar = freq_seconds(synth.freq)
    if bar >= 86_400:
        return 252.0
    session = hhmm_seconds(synth.session_close, "session_close") - \
        hhmm_seconds(synth.session_open, "session_open")
    return 252.0 * max(session // bar, 1)


def builtin_signals(cfg: BacktestConfig, market: MarketArrays) -> np.ndarray:
    """``[S, T]`` targets of the configured built-in rule (causal: uses bar t only)."""
    st = cfg.strategy
    if st.name == "ofi":
        if not (market.has("bid_volume") and market.has("ask_volume")):
            raise UserError("strategy.name=ofi needs bid_volume/ask_volume columns; "
                            "use --set strategy.name=momentum for OHLCV bars")
        sig = strategies.ofi_signal(market.field("bid_volume"), market.field("ask_volume"),
                                    st.ofi_threshold, st.long_only, st.size)
    else:
        sig = strategies.momentum_signal(market.field("close"), st.lookback, st.long_only, st.size)
    return np.where(market.mask, sig, np.nan)


def strategy_params(cfg: BacktestConfig, dtype=np.float32):
    """The model strategy's traced parameters from the ``strategy`` config section."""
    return strategies.make_strategy_params(
        dtype=dtype, **{p.name: getattr(cfg.strategy, p.name) for p in strategies.MODEL_PARAMS})


def model_signals(cfg: BacktestConfig, market: MarketArrays, probs, pred_return,
                  pred_vol) -> np.ndarray:
    """``[S, T]`` targets from a model's outputs through :func:`strategies.model_signal`:
    ``probs[S, T, 3]`` (down, flat, up), ``pred_return[S, T]`` and ``pred_vol[S, T]`` in real
    units, NaN where the model has no output (e.g. :func:`quantjax.hft.predict.predict_market`
    of a trained run, which the CLI's ``--checkpoint`` uses)."""
    st = cfg.strategy
    sp = strategy_params(cfg)
    close = market.field("close")
    with np.errstate(invalid="ignore", divide="ignore"):
        rets = np.concatenate([np.full((close.shape[0], 1), np.nan),
                               np.log(close[:, 1:] / close[:, :-1])], axis=1)
    vol = strategies.ewma_vol(rets, st.vol_halflife)
    fn = jax.jit(lambda *a: strategies.model_signal(sp, *a))
    tgt = np.asarray(fn(jnp.asarray(probs, jnp.float32), jnp.asarray(pred_return, jnp.float32),
                        jnp.asarray(pred_vol, jnp.float32), jnp.asarray(vol, jnp.float32)))
    if st.long_only:
        tgt = np.where(tgt < 0, 0.0, tgt)
    return np.where(market.mask, tgt, np.nan)


def run_backtest(cfg: BacktestConfig, market: MarketArrays, signals: np.ndarray,
                 record: str = "trades", shard: bool | None = None) -> BacktestResult:
    """Run the engine in time chunks that fit the memory budget (one shot when the run fits).

    The chunk length is ``backtest.chunk_steps``, else the one of
    :func:`quantjax.backtest.budget.chunk_steps` for ``backtest.memory_budget_mb`` (or half
    the device's free memory): every record level, bitwise equal to one shot.
    ``record="trades"`` (default, what the CLI uses) keeps equity and a sparse fill log; the
    result's records are identical to ``record="full"``. ``shard`` (default: when the run
    has more than one device, e.g. ``--distributed``): independent books split over the
    symbols of every device of every process (:mod:`quantjax.backtest.sharded`).
    """
    params = risk_params(cfg)
    mode = cfg.backtest.mode
    n_dev = jax.device_count()
    if shard is None:
        shard = n_dev > 1 and mode == "independent"
    if shard and mode != "independent":
        raise UserError("backtest.mode: portfolio books share cash across symbols, so they "
                        "cannot be split over devices or processes; use "
                        "backtest.mode=independent, or run in one process")
    n_sym = -(-market.n_symbols // n_dev) if shard else market.n_symbols
    chunk = cfg.backtest.chunk_steps or budget.chunk_steps(
        market.n_steps, n_sym, record, mode, budget.budget_bytes(cfg.backtest.memory_budget_mb))
    if shard:
        return sharded.run_sharded(params, market, signals, record=record, chunk_steps=chunk)
    if chunk <= 0 or chunk >= market.n_steps:
        return run(params, market, signals, mode=mode, record=record)
    sig = check_signals(signals, market)
    series = market_series(market, np.float32)
    sig_t = np.ascontiguousarray(sig.T, dtype=np.float32)
    T = market.n_steps
    pieces = ((slice_series(series, a, min(a + chunk, T)), sig_t[a:min(a + chunk, T)])
              for a in range(0, T, chunk))
    state = init_state(params, market.n_symbols, mode)
    final, recs = run_chunked(params, pieces, market.n_symbols, mode=mode, record=record,
                              state=state)
    if record == "trades":
        records = trades_records(recs, series, state, mode)
    elif record == "full":
        records = {k: (np.asarray(v).T if np.asarray(v).ndim == 2 else np.asarray(v))
                   for k, v in recs._asdict().items()}
    else:  # equity [T, S] (portfolio: [T]) or total [T]
        a = np.asarray(recs)
        records = {"equity": a.T if a.ndim == 2 else a}
    return BacktestResult(records, jax.device_get(final), market.symbols, market.timestamps,
                          mode, float(params.initial_cash), record)


def equal_weight_benchmark(market: MarketArrays) -> np.ndarray:
    """``[T]`` returns of an equal-weight, daily-rebalanced basket of closes (0 where missing)."""
    close = market.field("close")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = close[:, 1:] / close[:, :-1] - 1.0
    r = np.concatenate([np.zeros((close.shape[0], 1)), r], axis=1)
    r = np.where(np.isfinite(r), r, np.nan)
    out = np.nanmean(np.where(np.isnan(r), np.nan, r), axis=0)
    return np.nan_to_num(out)
