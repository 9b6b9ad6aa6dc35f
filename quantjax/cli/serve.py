"""``quantjax serve``: the HTTP service of exported artifacts."""

from __future__ import annotations

from quantjax.cli.common import Parser, add_config_args

DESCRIPTION = (
    "Serve exported artifacts (--artifact, repeatable; NAME=PATH to name one) over HTTP: "
    "POST /v1/credit/score, /v1/hft/predict, /v1/hft/ticks; GET /v1/models, /healthz, /readyz, "
    "/metrics (docs/serving.md). Requests are micro-batched into the compiled buckets; a full "
    "queue answers 429; SIGTERM drains in-flight requests. Every /v1 request needs a key of "
    "--api-key-file unless --no-auth is given."
)


def register(sub, parents) -> None:
    p: Parser = sub.add_parser("serve", help="serve artifacts over HTTP", description=DESCRIPTION,
                               parents=parents)
    add_config_args(p, default="configs/serve.yaml")
    p.add_argument("--artifact", action="append", required=True, metavar="[NAME=]PATH",
                   help="artifact to serve (.qjx); the name defaults to the file name stem")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    keys = p.add_mutually_exclusive_group(required=True)
    keys.add_argument("--api-key-file", metavar="PATH",
                      help="file of API keys, one per line (clients send 'Authorization: "
                           "Bearer KEY' or 'X-API-Key: KEY')")
    keys.add_argument("--no-auth", action="store_true",
                      help="serve without authentication (logged at start)")
    p.set_defaults(func=run_serve)


def artifact_names(specs: list[str]) -> dict[str, str]:
    from pathlib import Path

    from quantjax.errors import UserError

    out: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).stem, spec
        if not name or not path:
            raise UserError(f"--artifact: expected [NAME=]PATH, got {spec!r}")
        if name in out:
            raise UserError(f"--artifact: two artifacts named {name!r}; name them NAME=PATH")
        if not Path(path).is_file():
            raise UserError(f"--artifact: file not found: {path}")
        out[name] = path
    return out


def run_serve(args) -> int:
    import logging

    from quantjax.config import load
    from quantjax.errors import UserError
    from quantjax.platform import set_cpu_async_dispatch
    from quantjax.serve.config import ServeConfig

    cfg = load(ServeConfig, args.config, args.overrides)
    if not 0 < args.port < 65536:
        raise UserError(f"--port: must be in 1..65535, got {args.port}")
    artifacts = artifact_names(args.artifact)
    set_cpu_async_dispatch(False)  # calls inline: the service waits for every result
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    log = logging.getLogger("quantjax.serve")
    if args.no_auth:
        keys = None
        log.warning("authentication disabled (--no-auth): every client may call /v1")
    else:
        from quantjax.serve.auth import load_keys

        keys = load_keys(args.api_key_file)
    import uvicorn

    from quantjax.serve.app import create_app

    app = create_app(artifacts, cfg, keys)
    log.warning("serving %s on http://%s:%d", ", ".join(artifacts), args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=cfg.graceful_timeout_s)
    return 0
