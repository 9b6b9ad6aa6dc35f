"""The served models: credit decisions, HFT window predictions and per-symbol tick streams.

Each is built from a loaded artifact (compiled, variants tuned and warmed up in the
constructor, which the application runs before ``/readyz`` answers 200) and answers from the
worker thread of its micro-batcher (credit, HFT windows) or its stream thread (ticks).
"""

from __future__ import annotations

import asyncio
import datetime
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from quantjax.credit.stability import add_counts, count_rows, report_from_counts
from quantjax.errors import UserError
from quantjax.inference.credit_scorer import CreditArtifactScorer
from quantjax.inference.symbol_streams import SymbolStreams
from quantjax.serve import schemas
from quantjax.serve.batcher import MicroBatcher
from quantjax.serve.config import ServeConfig
from quantjax.serve.metrics import ServiceMetrics


def _predictor_options(cfg: ServeConfig) -> dict:
    return {"tune": cfg.predictor.tune, "tune_calls": cfg.predictor.tune_calls,
            "batch_invariant": True}


def _batcher(name, process, cfg: ServeConfig, metrics: ServiceMetrics) -> MicroBatcher:
    b = cfg.batching
    return MicroBatcher(name, process, b.max_batch_rows, b.max_wait_ms / 1e3, b.max_queue_rows,
                        on_batch=lambda rows, queued: metrics.observe_batch(name, rows, queued))


def _finite(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


class CreditModel:
    """``/v1/credit/score`` of one credit artifact."""

    task = "credit"

    def __init__(self, name: str, artifact, cfg: ServeConfig, metrics: ServiceMetrics):
        self.name, self.artifact, self.cfg = name, artifact, cfg
        self.scorer = CreditArtifactScorer(artifact, cfg.predictor.buckets, cfg.predictor.warmup,
                                           **_predictor_options(cfg))
        self.columns = {c: self.scorer.role(c) for c in self.scorer.columns}
        self.adapter = schemas.application_adapter(self.columns)
        self.batcher = _batcher(name, self._process, cfg, metrics)
        # served population: bin counts of every scored application (stability endpoint)
        self._counts: dict = {}
        self._n = 0
        self._since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        self._counts_lock = threading.Lock()

    def _process(self, items: list[list[dict]]) -> list[list[dict]]:
        records = [r for it in items for r in it]
        df = self.scorer.records_frame(records)
        scores = self.scorer.score_frame(df, "flagged", checked=True)
        ref = self.scorer.reference
        if ref is not None:
            counts = count_rows(ref, df, scores.pd)
            with self._counts_lock:
                self._counts, self._n = add_counts(self._counts, counts), self._n + len(df)
        out, at = [], 0
        for it in items:
            out.append([self.scorer.to_json(scores, i) for i in range(at, at + len(it))])
            at += len(it)
        return out

    async def score(self, body) -> dict:
        rows = schemas.rows_of(body, "applications", self.cfg.limits.max_rows)
        items = schemas.validate(self.adapter, rows, "applications")
        records, ids = schemas.application_records(items, self.columns)
        results = await self.batcher.submit(records, len(records))
        for r, i in zip(results, ids, strict=True):
            if i is not None:
                r["id"] = i
        return {"model": self.name, "results": results}

    def stability(self) -> dict:
        """``/v1/credit/stability``: PSI of the PD and CSI of every input of the applications
        scored since start against the training population the artifact carries."""
        ref = self.scorer.reference
        if ref is None:
            raise schemas.HTTPError(404, f"model {self.name!r}: its artifact carries no "
                                         "stability reference (export a credit run trained "
                                         "with this quantjax)")
        with self._counts_lock:
            counts, n = dict(self._counts), self._n
        return {"model": self.name, "since": self._since,
                **report_from_counts(ref, counts, n)}

    def describe(self) -> dict:
        return {"name": self.name, "task": self.task, **self.artifact.describe(),
                "input_schema": self.columns, "credit": self.scorer.describe()}

    def close(self) -> None:
        self.batcher.close(self.cfg.graceful_timeout_s)


class HFTModel:
    """``/v1/hft/predict`` (feature windows, micro-batched) and ``/v1/hft/ticks`` (per-symbol
    streams) of one HFT artifact."""

    task = "hft"

    def __init__(self, name: str, artifact, cfg: ServeConfig, metrics: ServiceMetrics):
        self.name, self.artifact, self.cfg, self.metrics = name, artifact, cfg, metrics
        p = cfg.predictor
        self.predictor = artifact.predictor(p.buckets, p.warmup, **_predictor_options(cfg))
        self.seq_len, self.n_features = artifact.inputs[0].shape
        st = cfg.stream
        self.streams = SymbolStreams(artifact, list(st.symbols) or None, st.capacity,
                                     st.buckets, predictor=self.predictor, warmup=p.warmup)
        self.symbols = set(st.symbols) if st.symbols else None
        self.tick_adapter = schemas.tick_adapter(self.streams.fields)
        self.batcher = _batcher(name, self._process, cfg, metrics)
        self._stream_lock = threading.Lock()
        self._stream_thread = ThreadPoolExecutor(1, thread_name_prefix=f"ticks-{name}")

    # ------------------------------------------------------------ windows
    def _process(self, items: list[np.ndarray]) -> list[dict]:
        out = self.predictor.predict({"x": np.concatenate(items)})
        res, at = [], 0
        for x in items:
            n = len(x)
            res.append({k: v[at:at + n] for k, v in out.items()})
            at += n
        return res

    async def predict(self, body) -> dict:
        rows = schemas.rows_of(body, "windows", self.cfg.limits.max_rows)
        windows = schemas.validate(schemas.WINDOWS, rows, "windows")
        if self.symbols is not None:
            for i, w in enumerate(windows):
                if w.symbol is not None and w.symbol not in self.symbols:
                    raise schemas.HTTPError(422, f"windows[{i}].symbol: unknown symbol "
                                                 f"{w.symbol!r}", row=i, field="symbol")
        x = schemas.windows_array(windows, self.seq_len, self.n_features)
        out = await self.batcher.submit(x, len(x))
        return {"model": self.name, "results": [
            {"symbol": w.symbol, "direction_probs": [float(p) for p in out["direction_probs"][i]],
             "price": float(out["price"][i]), "volatility": float(out["volatility"][i])}
            for i, w in enumerate(windows)]}

    # ------------------------------------------------------------ ticks
    def _ticks(self, symbols, timestamps, values) -> dict:
        with self._stream_lock:  # one writer of the streaming state
            try:
                out = self.streams.step(symbols, timestamps, values)
            except UserError as e:
                raise schemas.HTTPError(422, str(e)) from None
            self.metrics.stream_symbols.labels(self.name).set(len(self.streams.symbols))
        return {"model": self.name, "results": [
            {"symbol": s, "bars": int(out.bars[i]), "ready": bool(out.ready[i]),
             "direction_probs": ([float(p) for p in out.direction_probs[i]]
                                 if out.ready[i] else None),
             "price": _finite(out.price[i]) if out.ready[i] else None,
             "volatility": _finite(out.volatility[i]) if out.ready[i] else None}
            for i, s in enumerate(symbols)]}

    async def ticks(self, body) -> dict:
        rows = schemas.rows_of(body, "ticks", self.cfg.limits.max_rows)
        ticks = schemas.validate(self.tick_adapter, rows, "ticks")
        fields = self.streams.fields
        try:
            ts = [schemas.timestamp_ns(t.timestamp, i) for i, t in enumerate(ticks)]
        except UserError as e:
            raise schemas.HTTPError(422, str(e)) from None
        values = np.array([[np.nan if getattr(t, f) is None else getattr(t, f) for f in fields]
                           for t in ticks], np.float64)
        symbols = [t.symbol for t in ticks]
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._stream_thread, self._ticks, symbols, ts, values)

    def describe(self) -> dict:
        return {"name": self.name, "task": self.task, **self.artifact.describe(),
                "input_schema": {"windows": {"x": [self.seq_len, self.n_features]},
                                 "ticks": {"fields": list(self.streams.fields)}},
                "feature_names": self.artifact.extra.get("feature_names"),
                "predictor": self.predictor.describe(), "stream": self.streams.describe()}

    def close(self) -> None:
        self.batcher.close(self.cfg.graceful_timeout_s)
        self._stream_thread.shutdown(wait=True)


def build_model(name: str, artifact, cfg: ServeConfig, metrics: ServiceMetrics):
    if artifact.task == "credit":
        return CreditModel(name, artifact, cfg, metrics)
    return HFTModel(name, artifact, cfg, metrics)
