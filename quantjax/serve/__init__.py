"""``quantjax serve``: an ASGI service (FastAPI + uvicorn) of exported artifacts.

- :mod:`~quantjax.serve.config`: the ``serve`` config (batching, limits, streams, auth);
- :mod:`~quantjax.serve.batcher`: dynamic micro-batching with a bounded queue;
- :mod:`~quantjax.serve.models`: the served models (credit decisions, HFT windows and ticks);
- :mod:`~quantjax.serve.schemas`: request validation and its error messages;
- :mod:`~quantjax.serve.auth`, :mod:`~quantjax.serve.metrics`: API keys, Prometheus metrics;
- :mod:`~quantjax.serve.app`: the application (endpoints, warm-up, graceful drain).
"""
