"""Real-time replay: ticks in timestamp order -> streaming features -> predictor -> strategy ->
pre-trade risk checks and simulated fills in the SAME :func:`quantjax.risk.step` as the
vectorized backtester -> monitor.

A *tick* is ``(timestamp_ns, symbol, values)`` with one value per market field. Ticks with the
same timestamp form one bar; the bar is processed when the first accepted tick of a later
timestamp arrives (or at :meth:`ReplayEngine.finish`). Symbols without an accepted tick in a
bar are missing at that bar (exactly like an absent row in a market file).

Bad ticks are rejected with one logged error and leave every state untouched: a non-finite
value, a wrong number of values, a timestamp before the current bar (out of order), a second
tick of a symbol in the same bar (duplicate), an unknown symbol.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantjax.backtest import strategies
from quantjax.config import from_dict
from quantjax.errors import UserError
from quantjax.features.config import FeaturesConfig
from quantjax.features.streaming import StreamingFeatures
from quantjax.inference.causal import CausalStream
from quantjax.inference.config import InferenceConfig
from quantjax.inference.monitor import Monitor
from quantjax.risk import MarketStep, RiskParams, init, step

log = logging.getLogger("quantjax.replay")
_NS_PER_DAY = 86_400 * 1_000_000_000


class Rejected(NamedTuple):
    timestamp: Any
    symbol: Any
    reason: str


def _iso(ns) -> str:
    try:
        return str(np.datetime64(int(ns), "ns")) + "Z"
    except (TypeError, ValueError, OverflowError):
        return repr(ns)


def _market_axes(quotes: bool) -> MarketStep:
    q = 0 if quotes else None
    return MarketStep(0, 0, 0, 0, 0, 0, None, q, q)


class ReplayEngine:
    """Replay engine for one artifact (see module docstring).

    ``artifact``: :class:`quantjax.inference.artifact.Artifact` (HFT). ``risk``: RiskParams.
    ``symbols``/``fields``: the universe and the per-tick value order (market FIELDS order).
    """

    def __init__(self, artifact, risk: RiskParams, symbols, fields, cfg: InferenceConfig,
                 mode: str = "independent", alerts_path=None, periods_per_year: float = 252.0,
                 predictor=None):

        if artifact.task != "hft":
            raise UserError(f"replay needs an HFT artifact, got task {artifact.task!r}")
        if mode not in ("independent", "portfolio"):
            raise UserError(f"backtest.mode {mode!r}: expected independent or portfolio")
        self.cfg = cfg
        self.symbols = tuple(symbols)
        self.sym_index = {s: i for i, s in enumerate(self.symbols)}
        self.fields = tuple(fields)
        self.quotes = "bid" in self.fields and "ask" in self.fields
        S = len(self.symbols)
        conf, extra = artifact.config, artifact.extra
        fcfg = from_dict(FeaturesConfig, (conf.get("data") or {}).get("features") or {},
                         prefix="data.features.")
        self.seq_len = int(conf["model"]["sequence_length"])
        self.features = StreamingFeatures(fcfg, self.fields, extra["scaler_mean"],
                                          extra["scaler_std"], self.seq_len)
        names = list(extra.get("feature_names") or [])
        if names and tuple(names) != self.features.names:
            raise UserError(f"the data's fields {list(self.fields)} give features that differ "
                            f"from the artifact's ({len(names)} features); quote fields must "
                            "match the training data")
        self.fstate = self.features.init(S)
        self.stream_model = cfg.stream.model
        if self.stream_model == "causal":

            self.causal = CausalStream(artifact.params, conf["model"], extra)
            self.causal.compile(S)  # AOT + warm-up now: no compile inside the latency figures
            self.cstate = self.causal.init(S)
            self.predictor = None
        else:
            pc = cfg.predictor
            self.predictor = predictor or artifact.predictor(pc.buckets, pc.warmup, tune=pc.tune,
                                                             tune_calls=pc.tune_calls)
        self.mode = mode
        self.risk = risk
        self.rstate = (jax.vmap(lambda _: _init(risk))(jnp.arange(S)) if mode == "independent"
                       else _init(risk, S))
        fn = (jax.vmap(step, in_axes=(None, 0, _market_axes(self.quotes), 0))
              if mode == "independent" else step)
        self._risk_step = jax.jit(fn)
        st = cfg.strategy
        sp = strategies.make_strategy_params(
            confidence=st.confidence, kelly_fraction=st.kelly_fraction, vol_target=st.vol_target,
            min_position=st.min_position, max_position=st.max_position)
        self._signal = jax.jit(lambda *a: strategies.model_signal(sp, *a))
        self.long_only = st.long_only
        self.lam = 0.5 ** (1.0 / st.vol_halflife)
        self.var = np.full(S, np.nan)
        self.prev_close = np.full(S, np.nan)
        self.horizon = int(extra.get("horizon", 1))
        self.threshold = float(extra.get("threshold", 0.0))
        self.hist = deque(maxlen=self.horizon + 1)  # (label price[S], pred class[S] or -1)
        self.monitor = Monitor(cfg.monitor, alerts_path, periods_per_year)
        # current bar
        self.ts: int | None = None
        self.first_day: int | None = None
        self.prev_ts: int | None = None
        self._reset_bar()
        # outputs
        self.timestamps: list[int] = []
        self.signals: list[np.ndarray] = []
        self.records: list[Any] = []
        self.probs: list[np.ndarray] = []
        self.latency_us: list[float] = []
        self.n_predictions = 0
        self.rejected: list[Rejected] = []

    # ---------------------------------------------------------------- ticks
    def _reset_bar(self):
        S, F = len(self.symbols), len(self.fields)
        self.values = np.full((S, F), np.nan)
        self.present = np.zeros(S, bool)

    def _reject(self, timestamp, symbol, reason: str) -> bool:
        log.error("rejected tick (timestamp %s, symbol %r): %s", _iso(timestamp), symbol, reason)
        self.rejected.append(Rejected(timestamp, symbol, reason))
        return False

    def submit(self, timestamp: int, symbol: str, values) -> bool:
        """Offer one tick; returns True if accepted. Never raises on bad tick content."""
        if symbol not in self.sym_index:
            return self._reject(timestamp, symbol, f"unknown symbol {symbol!r}")
        try:
            ts = int(timestamp)
            vals = np.asarray(values, np.float64).reshape(-1)
        except (TypeError, ValueError) as e:
            return self._reject(timestamp, symbol, f"unreadable tick ({e})")
        if vals.size != len(self.fields):
            return self._reject(timestamp, symbol, f"wrong field count: {vals.size} values, "
                                f"expected {len(self.fields)} ({', '.join(self.fields)})")
        bad = ~np.isfinite(vals)
        if bad.any():
            f = self.fields[int(np.argmax(bad))]
            return self._reject(timestamp, symbol, f"non-finite value {vals[bad][0]} in field "
                                f"{f!r}")
        if self.ts is not None and ts < self.ts:
            return self._reject(timestamp, symbol, f"out-of-order timestamp: before the current "
                                f"bar {_iso(self.ts)}")
        s = self.sym_index[symbol]
        if self.ts is not None and ts == self.ts and self.present[s]:
            return self._reject(timestamp, symbol, "duplicate tick for this symbol and timestamp")
        if self.ts is not None and ts > self.ts:
            self._process()
        if self.ts is None or ts > self.ts:
            self.ts = ts
            self._reset_bar()
        self.values[s] = vals
        self.present[s] = True
        return True

    def finish(self) -> ReplayResult:
        """Process the pending bar and return the results."""
        if self.ts is not None and self.present.any():
            self._process()
            self._reset_bar()
        return ReplayResult.from_engine(self)

    # ---------------------------------------------------------------- one bar
    def _field(self, name):
        return self.values[:, self.fields.index(name)] if name in self.fields else None

    def _process(self) -> None:
        ts, vals, present = self.ts, self.values, self.present
        S = len(self.symbols)
        t0 = time.perf_counter()
        tick = self.features.make_tick(vals, present, ts)
        self.fstate, (rows, row_ok) = self.features.step(self.fstate, tick)
        ready = self.features.ready(self.fstate) & present
        probs = np.full((S, 3), np.nan, np.float32)
        pred_ret = np.full(S, np.nan, np.float32)
        pred_vol = np.full(S, np.nan, np.float32)
        if self.stream_model == "causal":
            # restart at the first valid row after an invalid one (run == 1); invalid rows
            # (run == 0) also reset, so no invalid row ever reaches the recurrent state
            reset = np.asarray(self.fstate.run) <= 1
            self.cstate, out = self.causal.step(self.cstate, rows, reset)
            out = jax.device_get(out)
            sel = ready
            probs[sel] = out["direction_probs"][sel]
            pred_ret[sel], pred_vol[sel] = out["price"][sel], out["volatility"][sel]
        elif ready.any():
            idx = np.nonzero(ready)[0]
            win = np.asarray(self.features.window(self.fstate))[idx]
            out = self.predictor.predict({"x": win})
            probs[idx] = out["direction_probs"]
            pred_ret[idx], pred_vol[idx] = out["price"], out["volatility"]
        ewma_prev = np.sqrt(self.var).astype(np.float32)
        sig = np.asarray(self._signal(probs, pred_ret, pred_vol, ewma_prev), np.float64)
        if self.long_only:
            sig = np.where(sig < 0, 0.0, sig)
        sig = np.where(present, sig, np.nan)
        lat = (time.perf_counter() - t0) * 1e6
        n_pred = int(ready.sum())
        self.n_predictions += n_pred
        if n_pred:
            self.latency_us.append(lat)
            self.monitor.latency(lat)
        # EWMA volatility known at t-1 (strategies.ewma_vol, incrementally)
        close = self._field("close")
        with np.errstate(invalid="ignore", divide="ignore"):
            r = np.log(close / self.prev_close)
        ok = np.isfinite(r)
        new = np.where(np.isnan(self.var), r * r, self.lam * self.var + (1 - self.lam) * r * r)
        self.var = np.where(ok, new, self.var)
        self.prev_close = close.copy()
        # risk engine: same step as the backtester
        day = ts // _NS_PER_DAY
        if self.first_day is None:
            self.first_day, self.prev_ts = day, ts
        # seconds since the previous bar, as the backtester's market_series: carry accrues over it
        elapsed = np.float32(float(ts - self.prev_ts) * 1e-9)
        self.prev_ts = ts

        def f32(name):
            return np.asarray(self._field(name), np.float32)

        m = MarketStep(open=f32("open"), high=f32("high"), low=f32("low"), close=f32("close"),
                       volume=f32("volume"), valid=present.copy(),
                       day=np.asarray(day - self.first_day, np.int32),
                       bid=f32("bid") if self.quotes else None,
                       ask=f32("ask") if self.quotes else None, elapsed=elapsed)
        self.rstate, rec = self._risk_step(self.risk, self.rstate, m, sig.astype(np.float32))
        rec = jax.device_get(rec)
        self.records.append(rec)
        self.probs.append(probs)
        self.signals.append(sig)
        self.timestamps.append(ts)
        self._labels(present, probs)
        self.monitor.bar(ts, len(self.timestamps) - 1, float(np.sum(rec.equity)))

    def _labels(self, present, probs) -> None:
        if self.quotes:
            p = 0.5 * (self._field("bid") + self._field("ask"))
        else:
            p = self._field("close").copy()
        p = np.where(present & np.isfinite(p), p, np.nan)
        pred = np.where(np.isfinite(probs).all(-1), np.nan_to_num(probs).argmax(-1), -1)
        self.hist.append((p, pred))
        if len(self.hist) <= self.horizon:
            return
        p0, pred0 = self.hist[0]
        fut = np.stack([h[0] for h in list(self.hist)[1:]])
        ok = (pred0 >= 0) & np.isfinite(p0) & np.isfinite(fut).all(0)
        if not ok.any():
            return
        change = fut.mean(0) / np.where(ok, p0, 1.0) - 1.0
        real = np.where(change > self.threshold, 2, np.where(change < -self.threshold, 0, 1))
        self.monitor.resolved(pred0[ok], real[ok])


def _init(params, n=None):
    return init(params, n)


class ReplayResult(NamedTuple):
    """Host results. Record arrays are ``[S, T]`` (per-book ``[T]`` in portfolio mode)."""

    timestamps: np.ndarray  # [T] int64
    symbols: tuple[str, ...]
    signals: np.ndarray  # [S, T] float64 (NaN = no decision)
    probs: np.ndarray  # [S, T, 3] float32 predicted P(down, flat, up) (NaN = no prediction)
    records: dict[str, np.ndarray]
    latency_us: np.ndarray  # per bar with at least one prediction
    n_predictions: int
    rejected: list
    alerts: list
    initial_cash_total: float
    final_state: Any
    resolved: tuple[int, int] = (0, 0)  # (predictions with a realized label, correct ones)

    @classmethod
    def from_engine(cls, e: ReplayEngine) -> ReplayResult:
        S = len(e.symbols)
        if e.records:
            recs = jax.tree.map(lambda *xs: np.stack(xs), *e.records)
            records = {k: (np.asarray(v).T if np.asarray(v).ndim == 2 else np.asarray(v))
                       for k, v in recs._asdict().items()}
            sig = np.stack(e.signals, axis=1)
            probs = np.stack(e.probs, axis=1)
        else:
            records, sig, probs = {}, np.zeros((S, 0)), np.zeros((S, 0, 3), np.float32)
        n_books = S if e.mode == "independent" else 1
        return cls(np.asarray(e.timestamps, np.int64), e.symbols, sig, probs, records,
                   np.asarray(e.latency_us), e.n_predictions, list(e.rejected),
                   list(e.monitor.alerts), float(e.risk.initial_cash) * n_books,
                   jax.device_get(e.rstate), (e.monitor.n_resolved, e.monitor.n_hits))

    def metrics(self) -> dict:
        """The final report (metrics.json keys, see docs/inference.md)."""
        lat = self.latency_us
        pct = (lambda q: float(np.percentile(lat, q))) if lat.size else (lambda q: math.nan)
        eq = np.asarray(self.records.get("equity", np.zeros((0,))), np.float64)
        total = eq.sum(axis=0) if eq.ndim == 2 else eq
        final = float(total[-1]) if total.size else self.initial_cash_total
        busy = float(lat.sum()) * 1e-6
        return {
            "bars": int(len(self.timestamps)),
            "symbols": len(self.symbols),
            "predictions": int(self.n_predictions),
            "latency_p50_us": pct(50), "latency_p95_us": pct(95), "latency_p99_us": pct(99),
            "latency_max_us": float(lat.max()) if lat.size else math.nan,
            "predictions_per_second": self.n_predictions / busy if busy > 0 else math.nan,
            "trades": int(np.sum(self.final_state.n_trades)),
            "pnl": final - self.initial_cash_total,
            "total_return": final / self.initial_cash_total - 1.0,
            "final_equity": final,
            "resolved_predictions": self.resolved[0],
            "directional_accuracy": (self.resolved[1] / self.resolved[0] if self.resolved[0]
                                     else math.nan),
            "rejected_ticks": len(self.rejected),
            "alerts": len(self.alerts),
            "alerts_by_rule": {r: sum(1 for a in self.alerts if a["rule"] == r
                                      and a["level"] != "INFO")
                               for r in ("drawdown", "latency_p95", "accuracy", "sharpe")},
        }


def replay_market(engine: ReplayEngine, market, progress=None) -> ReplayResult:
    """Feed every present row of ``market`` (MarketArrays) as ticks in timestamp order."""
    idx = [market.fields.index(f) for f in engine.fields]
    for t in range(market.n_steps):
        ts = int(market.timestamps[t])
        for s in np.nonzero(market.mask[:, t])[0]:
            engine.submit(ts, market.symbols[s], market.values[s, t, idx])
        if progress is not None:
            progress(t)
    return engine.finish()
