"""Prometheus metrics of the service (``GET /metrics``), one registry per application.

- ``quantjax_requests_total{endpoint, status}``: requests answered, by HTTP status;
- ``quantjax_request_seconds{endpoint}``: latency histogram (request received -> response sent);
- ``quantjax_batch_rows{model}``: rows per compiled call of the micro-batcher (histogram);
- ``quantjax_queue_rows{model}``: rows waiting in the micro-batcher queue (gauge);
- ``quantjax_stream_symbols{model}``: symbols with streaming state (gauge);
- ``quantjax_in_flight``: requests being processed (gauge).
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
ROW_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class ServiceMetrics:
    def __init__(self, endpoints: tuple[str, ...]):
        self.registry = CollectorRegistry()
        self.endpoints = set(endpoints)
        self.requests = Counter("quantjax_requests_total", "requests answered",
                                ("endpoint", "status"), registry=self.registry)
        self.latency = Histogram("quantjax_request_seconds", "request latency", ("endpoint",),
                                 buckets=LATENCY_BUCKETS, registry=self.registry)
        self.batch_rows = Histogram("quantjax_batch_rows", "rows per compiled call", ("model",),
                                    buckets=ROW_BUCKETS, registry=self.registry)
        self.queue_rows = Gauge("quantjax_queue_rows", "rows waiting in the batch queue",
                                ("model",), registry=self.registry)
        self.stream_symbols = Gauge("quantjax_stream_symbols", "symbols with streaming state",
                                    ("model",), registry=self.registry)
        self.in_flight = Gauge("quantjax_in_flight", "requests being processed",
                               registry=self.registry)
        self.accepted = 0
        self.answered = 0

    def observe_batch(self, model: str, rows: int, queue_rows: int) -> None:
        self.batch_rows.labels(model).observe(rows)
        self.queue_rows.labels(model).set(queue_rows)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Pure ASGI middleware: counts every HTTP request by endpoint and status, times it, and
    keeps the accepted/answered counts the graceful drain reports."""

    def __init__(self, app, metrics: ServiceMetrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        m = self.metrics
        path = scope.get("path", "")
        endpoint = path if path in m.endpoints else "other"
        status = [500]
        t0 = time.perf_counter()
        m.accepted += 1
        m.in_flight.inc()

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            m.in_flight.dec()
            m.answered += 1
            m.requests.labels(endpoint, str(status[0])).inc()
            m.latency.labels(endpoint).observe(time.perf_counter() - t0)
