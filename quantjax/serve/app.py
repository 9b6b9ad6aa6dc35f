"""The FastAPI application of ``quantjax serve``.

Endpoints (docs/serving.md): ``POST /v1/credit/score``, ``GET /v1/credit/stability``,
``POST /v1/hft/predict``, ``POST /v1/hft/ticks``, ``GET /v1/models`` (API key needed unless
``--no-auth``), and
``GET /healthz``, ``GET /readyz``, ``GET /metrics`` (open). The artifacts are loaded, compiled,
tuned and warmed up in a background thread after start: ``/healthz`` answers at once,
``/readyz`` and the model endpoints answer 503 until every model is ready. On shutdown
(SIGTERM: uvicorn stops accepting and waits for in-flight requests) the micro-batchers are
drained and the accepted/answered counts are logged.
"""

from __future__ import annotations

import json
import logging
import threading
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import Response

from quantjax.errors import UserError
from quantjax.inference.artifact import load_artifact
from quantjax.jsonio import jsonable
from quantjax.serve import auth, schemas
from quantjax.serve.batcher import QueueFull
from quantjax.serve.config import ServeConfig
from quantjax.serve.metrics import MetricsMiddleware, ServiceMetrics
from quantjax.serve.models import build_model

log = logging.getLogger("quantjax.serve")

ENDPOINTS = ("/v1/credit/score", "/v1/credit/stability", "/v1/hft/predict", "/v1/hft/ticks",
             "/v1/models", "/healthz", "/readyz", "/metrics")


def json_response(obj, status: int = 200, headers: dict | None = None) -> Response:
    return Response(json.dumps(obj, separators=(",", ":"), allow_nan=False), status,
                    headers=headers, media_type="application/json")


def error_response(e: schemas.HTTPError) -> Response:
    headers = {"WWW-Authenticate": "Bearer"} if e.status == 401 else None
    return json_response({"error": e.message, **e.detail}, e.status, headers)


class Service:
    """The models and the state of one running service."""

    def __init__(self, artifacts: dict[str, str], cfg: ServeConfig,
                 keys: tuple[bytes, ...] | None):
        self.paths, self.cfg, self.keys = dict(artifacts), cfg, keys
        self.metrics = ServiceMetrics(ENDPOINTS)
        self.models: dict = {}
        self.state = "warming up"
        self.error: str | None = None

    def load(self) -> None:
        """Load, compile, tune and warm up every artifact (background thread)."""
        try:
            for name, path in self.paths.items():
                art = load_artifact(path)
                self.models[name] = build_model(name, art, self.cfg, self.metrics)
                log.warning("model %s (%s) ready", name, art.task)
            self.state = "ready"
            log.warning("ready: %s", ", ".join(self.models))
        except Exception as e:  # noqa: BLE001 - reported by /readyz and the log
            self.state, self.error = "failed", f"{type(e).__name__}: {e}"
            log.error("warm-up failed: %s", self.error)

    def model(self, task: str, request: Request):
        if self.state != "ready":
            raise schemas.HTTPError(503, f"not ready ({self.state})")
        name = request.query_params.get("model")
        mine = {n: m for n, m in self.models.items() if m.task == task}
        if name is not None:
            if name not in mine:
                raise schemas.HTTPError(404, f"model: no {task} model named {name!r} (served: "
                                             f"{', '.join(mine) or 'none'})")
            return mine[name]
        if not mine:
            raise schemas.HTTPError(404, f"model: no {task} model is served")
        if len(mine) > 1:
            raise schemas.HTTPError(422, f"model: several {task} models are served "
                                         f"({', '.join(mine)}); name one with ?model=NAME")
        return next(iter(mine.values()))

    def check_key(self, request: Request) -> None:
        if self.keys is None:
            return
        presented = auth.presented_key(request.headers)
        if not auth.key_matches(presented, self.keys):
            raise schemas.HTTPError(401, "missing API key" if presented is None
                                    else "invalid API key")

    def close(self) -> None:
        self.state = "draining"
        for m in self.models.values():
            m.close()
        log.warning("drained: %d requests accepted, %d answered", self.metrics.accepted,
                    self.metrics.answered)


def create_app(artifacts: dict[str, str], cfg: ServeConfig,
               keys: tuple[bytes, ...] | None) -> FastAPI:
    """The application serving ``artifacts`` (name -> path). ``keys=None``: no auth."""
    svc = Service(artifacts, cfg, keys)

    @asynccontextmanager
    async def lifespan(app):
        threading.Thread(target=svc.load, name="warm-up", daemon=True).start()
        yield
        svc.close()

    app = FastAPI(title="quantjax", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.service = svc
    limit = cfg.limits.max_body_bytes

    async def guarded(request: Request, task: str, call):
        try:
            svc.check_key(request)
            model = svc.model(task, request)
            body = await schemas.read_json(request, limit)
            return json_response(await call(model, body))
        except schemas.HTTPError as e:
            return error_response(e)
        except QueueFull as e:
            return json_response({"error": str(e)}, 429, {"Retry-After": "1"})
        except UserError as e:
            return json_response({"error": str(e).replace("\n", " ")}, 422)

    @app.post("/v1/credit/score")
    async def credit_score(request: Request):
        return await guarded(request, "credit", lambda m, b: m.score(b))

    @app.get("/v1/credit/stability")
    async def credit_stability(request: Request):
        try:
            svc.check_key(request)
            return json_response(jsonable(svc.model("credit", request).stability()))
        except schemas.HTTPError as e:
            return error_response(e)

    @app.post("/v1/hft/predict")
    async def hft_predict(request: Request):
        return await guarded(request, "hft", lambda m, b: m.predict(b))

    @app.post("/v1/hft/ticks")
    async def hft_ticks(request: Request):
        return await guarded(request, "hft", lambda m, b: m.ticks(b))

    @app.get("/v1/models")
    async def models(request: Request):
        try:
            svc.check_key(request)
        except schemas.HTTPError as e:
            return error_response(e)
        return json_response({"state": svc.state,
                              "models": [m.describe() for m in svc.models.values()]})

    @app.get("/healthz")
    async def healthz():
        return json_response({"status": "ok"})

    @app.get("/readyz")
    async def readyz():
        if svc.state == "ready":
            return json_response({"status": "ready", "models": list(svc.models)})
        return json_response({"status": svc.state, "error": svc.error}, 503)

    @app.get("/metrics")
    async def metrics():
        for name, m in svc.models.items():
            svc.metrics.queue_rows.labels(name).set(m.batcher.queued_rows)
        return Response(svc.metrics.render(), media_type="text/plain; version=0.0.4")

    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)
    return app
