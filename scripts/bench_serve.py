"""Benchmark ``quantjax serve`` under closed-loop load against in-process scoring, same run.

Prints ONE JSON object:

- credit: ``credit_inprocess_rows_per_s`` (the artifact's :class:`CreditArtifactScorer` in
  this process, batches of ``batching.max_batch_rows`` one-application rows, reasons for
  REVIEW/DECLINE as served; ``credit_flagged_share`` of the rows), then ``--clients``
  concurrent closed-loop clients (one application per request, cycling through the same
  applications) against the real server for ``--seconds``:
  ``credit_served_rows_per_s``, ``credit_served_vs_inprocess``, ``credit_p50_ms``,
  ``credit_p99_ms``, ``credit_p99_over_p50``, ``errors`` (non-200 answers and transport errors
  over the whole run);
- ticks (causal artifact, per-symbol streams): in-process ``SymbolStreams.step`` p50 for one
  tick of 1 symbol and for one request of 100 symbols (``tick_inprocess_p50_ms_*``), the
  served round trip (``tick_served_p50_ms_*``, ``tick_served_p99_ms_*``) and the service
  overhead ``tick_overhead_p50_ms_1_symbol`` / ``tick_overhead_p50_ms_100_symbols`` (served
  p50 - in-process p50);
- memory: the server's RSS before and after ``--soak-seconds`` more of credit load
  (``rss_mb_before_soak``, ``rss_mb_after_soak``, ``soak_seconds``).

Models have random params (speed does not depend on training). Usage:
``python scripts/bench_serve.py [--quick] [--clients 64] [--seconds 20] [--soak-seconds 120]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "support" / "german_like.csv"
SCHEMA = ROOT / "configs" / "credit_schema_german.yaml"


def credit_artifact(path: Path, quick: bool) -> Path:
    import jax
    import pandas as pd

    from quantjax.config import load, to_dict
    from quantjax.config.credit_schema import CreditSchema
    from quantjax.credit.config import CreditConfig
    from quantjax.credit.explain import feature_space
    from quantjax.data.credit import fit_encoder
    from quantjax.inference.export import export_model
    from quantjax.inference.model_fn import ModelFn, credit_attributions_fn, credit_fn
    from quantjax.inference.signature import InputSpec, flatten_params
    from quantjax.models.credit import build_model

    cfg_file = "configs/credit_transformer_tiny.yaml" if quick else "configs/credit_transformer.yaml"
    cfg = load(CreditConfig, ROOT / cfg_file)
    schema = load(CreditSchema, SCHEMA)
    enc = fit_encoder(pd.read_csv(DATA, dtype=object), schema)
    model = build_model(cfg.model, enc.numeric_dim, enc.cardinalities, enc.vocab_size)
    specs = (InputSpec("numeric", (enc.numeric_dim,), "float32"),
             InputSpec("categorical", (len(enc.cardinalities),), "int32"),
             InputSpec("text", (int(enc.text_len),), "int32"),
             InputSpec("time_series", (enc.series_len, 1), "float32"))
    zeros = [np.zeros((1, *s.shape), s.dtype) for s in specs]
    params = model.init(jax.random.key(0), *zeros)["params"]
    fs = feature_space(enc)
    decision = to_dict(cfg.decision)
    extra = {"task": "credit", "encoder": enc.to_dict(), "temperature": 1.0, "logit_shift": 0.0,
             "decision": decision, "extensions": {},
             "feature_space": {"names": list(fs.names), "columns": list(fs.columns),
                               "modality": [int(m) for m in fs.modality], "kind": list(fs.kind)}}
    mf = ModelFn("credit", credit_fn(model, 1.0, 0.0), flatten_params(params), specs,
                 ("logit", "pd"), {"model": to_dict(cfg.model)}, extra,
                 functions=(("attributions", credit_attributions_fn(model, cfg.decision.ig_steps)),))
    return export_model(mf, path, ("cpu",))


def causal_artifact(path: Path, quick: bool) -> Path:
    import jax

    from quantjax.config import load, to_dict
    from quantjax.features.batch import feature_names
    from quantjax.features.config import FeaturesConfig
    from quantjax.hft.config import HFTConfig
    from quantjax.inference.export import export_model
    from quantjax.inference.model_fn import ModelFn, hft_fn
    from quantjax.inference.signature import InputSpec, flatten_params
    from quantjax.models.registry import init_hft_params

    mcfg = dataclasses.replace(load(HFTConfig, ROOT / "configs" / "hft_lstm.yaml").model,
                               causal=True)
    feats = {"timeframes": [2, 5], "regime_window": 20, "stat_windows": [10],
             "volume_window": 20} if quick else {}
    if quick:
        mcfg = dataclasses.replace(mcfg, hidden_size=16, num_layers=1, sequence_length=8,
                                   attention_heads=2)
    from quantjax.config import from_dict

    names = feature_names(from_dict(FeaturesConfig, feats), True)
    F = len(names)
    params = flatten_params(init_hft_params(mcfg, F, jax.random.key(1)))
    extra = {"price_scale": 0.01, "vol_scale": 0.01, "scaler_mean": [0.0] * F,
             "scaler_std": [1.0] * F, "feature_names": list(names)}
    mf = ModelFn("hft", hft_fn(mcfg, extra), params,
                 (InputSpec("x", (mcfg.sequence_length, F), "float32"),),
                 ("direction_probs", "price", "volatility"),
                 {"model": to_dict(mcfg), "data": {"features": feats}}, extra)
    return export_model(mf, path, ("cpu",))


def applications(n: int) -> list[dict]:
    import pandas as pd

    df = pd.read_csv(DATA, dtype=object).drop(columns=["class"])
    num = {"duration", "credit_amount", "installment_commitment", "residence_since", "age",
           "existing_credits", "num_dependents"}
    rows = [{k: (None if pd.isna(v) else (float(v) if k in num else v)) for k, v in r.items()}
            for r in df.to_dict("records")]
    return [rows[i % len(rows)] for i in range(n)]


def ticks_for(symbols: list[str], n_bars: int, seed: int = 0) -> list[list[dict]]:
    """``n_bars`` bars of random-walk ticks for every symbol (one request per bar)."""
    rng = np.random.default_rng(seed)
    t0 = 1_700_000_000_000_000_000
    price = np.full(len(symbols), 100.0)
    out = []
    for t in range(n_bars):
        price *= np.exp(rng.normal(0, 1e-3, len(symbols)))
        bar = []
        for s, p in zip(symbols, price, strict=True):
            bar.append({"symbol": s, "timestamp": t0 + t * 1_000_000_000, "open": p,
                        "high": p * 1.001, "low": p * 0.999, "close": p, "volume": 1000.0,
                        "bid": p * 0.9995, "ask": p * 1.0005, "bid_volume": 500.0,
                        "ask_volume": 500.0})
        out.append(bar)
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _client(port: int, requests: list[bytes], stop: float, lat: list,
                  errors: list) -> None:
    """One closed-loop HTTP/1.1 keep-alive client on raw asyncio streams (a Python HTTP
    client library costs more CPU per request than the server under test: httpx's async
    client managed 132 /healthz requests/s with 64 connections here, this one 6,700)."""
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError as e:
        errors.append(str(e))
        return
    i = 0
    while time.perf_counter() < stop:
        request = requests[i % len(requests)]
        i += 1
        t0 = time.perf_counter()
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            body = await reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError) as e:
            errors.append(str(e))
            return
        status = int(head.split(b" ", 2)[1])
        if status != 200:
            errors.append(body[:200].decode(errors="replace"))
            continue
        lat.append(time.perf_counter() - t0)
    writer.close()


def http_post(path: str, body: bytes) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def closed_loop(port: int, clients: int, seconds: float, bodies: list[bytes], path: str):
    """``clients`` concurrent closed-loop clients for ``seconds``, client ``c`` cycling through
    ``bodies`` from body ``c`` on: (latencies, errors, wall)."""
    lat: list = []
    errors: list = []
    t0 = time.perf_counter()
    requests = [http_post(path, b) for b in bodies]
    await asyncio.gather(*(_client(port, requests[c:] + requests[:c], t0 + seconds, lat, errors)
                           for c in range(clients)))
    return np.asarray(lat), len(errors), time.perf_counter() - t0


async def sequential(port: int, bodies: list[bytes], path: str) -> tuple[list, int]:
    """One client sending ``bodies`` one after the other: (latencies, errors)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lat, errors = [], 0
    for body in bodies:
        t0 = time.perf_counter()
        writer.write(http_post(path, body))
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        length = next((int(ln.split(b":")[1]) for ln in head.split(b"\r\n")
                       if ln.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        lat.append(time.perf_counter() - t0)
        errors += int(head.split(b" ", 2)[1]) != 200
    writer.close()
    return lat, errors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny models, short runs")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--soak-seconds", type=float, default=120.0)
    ap.add_argument("--tick-requests", type=int, default=300)
    ap.add_argument("--buckets", default="1,8,16,32,64",
                    help="compiled batch sizes of the served and the in-process predictors")
    args = ap.parse_args()
    from quantjax.platform import set_cpu_async_dispatch

    set_cpu_async_dispatch(False)
    import httpx

    from quantjax.inference.artifact import load_artifact
    from quantjax.inference.credit_scorer import CreditArtifactScorer
    from quantjax.inference.symbol_streams import SymbolStreams

    quick = args.quick
    seconds = min(args.seconds, 5.0) if quick else args.seconds
    soak = min(args.soak_seconds, 5.0) if quick else args.soak_seconds
    n_ticks = min(args.tick_requests, 40) if quick else args.tick_requests
    buckets = tuple(int(b) for b in args.buckets.split(","))
    rows = buckets[-1]
    tmp = Path(tempfile.mkdtemp(prefix="bench_serve_"))
    res: dict = {"quick": quick, "clients": args.clients, "seconds": seconds,
                 "buckets": list(buckets)}
    t0 = time.perf_counter()
    credit = credit_artifact(tmp / "credit.qjx", quick)
    causal = causal_artifact(tmp / "causal.qjx", quick)
    res["export_s"] = time.perf_counter() - t0

    # ---------------------------------------------------------------- in-process references
    sc = CreditArtifactScorer(load_artifact(credit), buckets, warmup=2, batch_invariant=True)
    apps = applications(rows * 8)
    sc.score_records(apps[:rows])
    t0 = time.perf_counter()
    flagged = 0
    for a in range(0, len(apps), rows):
        flagged += int((sc.score_records(apps[a:a + rows]).decision != "APPROVE").sum())
    res["credit_inprocess_rows_per_s"] = len(apps) / (time.perf_counter() - t0)
    res["credit_flagged_share"] = flagged / len(apps)  # rows with attributions and reasons
    syms = [f"S{i}" for i in range(100)]
    bars = ticks_for(syms + ["ONE"], n_ticks + 10)
    ss = SymbolStreams(load_artifact(causal), None, 101, (1, 8, 32), warmup=2)
    fields = ss.fields

    def requests(bar):  # one tick of symbol ONE, one request of the 100 others
        return {1: bar[100:], 100: bar[:100]}

    inproc = {1: [], 100: []}
    for t, bar in enumerate(bars):
        for k, sel in requests(bar).items():
            t1 = time.perf_counter()
            ss.step([b["symbol"] for b in sel], [b["timestamp"] for b in sel],
                    [[b[f] for f in fields] for b in sel])
            if t >= 10:
                inproc[k].append(time.perf_counter() - t1)
    del sc, ss

    # ---------------------------------------------------------------- the server
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    cmd = [sys.executable, "-m", "quantjax.cli.main", "serve", "--artifact", f"credit={credit}",
           "--artifact", f"causal={causal}", "--port", str(port), "--no-auth",
           "--set", f"predictor.buckets=[{','.join(map(str, buckets))}]",
           "--set", "stream.capacity=101", "--set", "stream.buckets=[1,8,32]",
           "--set", f"batching.max_batch_rows={rows}"]
    log = open(tmp / "server.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        t0 = time.perf_counter()
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.perf_counter() - t0 > 1800:
                raise SystemExit("server did not start: " + (tmp / "server.log").read_text())
            time.sleep(0.5)
        res["server_ready_s"] = time.perf_counter() - t0
        models = httpx.get(f"{url}/v1/models").json()["models"]
        res["predictor_choices"] = {m["name"]: m["predictor"]["choices"] if "predictor" in m
                                    else m["credit"]["predictor"]["choices"] for m in models}
        # ticks, one client, sequential: symbol ONE alone, then a request of the 100 others
        bodies = [json.dumps({"ticks": sel}).encode() for bar in bars
                  for sel in requests(bar).values()]
        lat, tick_errors = asyncio.run(sequential(port, bodies, "/v1/hft/ticks"))
        served = {1: lat[0::2][10:], 100: lat[1::2][10:]}
        for k, key in ((1, "1_symbol"), (100, "100_symbols")):
            ip = float(np.median(inproc[k])) * 1e3
            sp = float(np.median(served[k])) * 1e3 if served[k] else float("nan")
            res[f"tick_inprocess_p50_ms_{key}"] = ip
            res[f"tick_served_p50_ms_{key}"] = sp
            res[f"tick_served_p99_ms_{key}"] = (float(np.percentile(served[k], 99)) * 1e3
                                                if served[k] else float("nan"))
            res[f"tick_overhead_p50_ms_{key}"] = sp - ip
        # credit, closed loop
        # one application per request, the same applications as the in-process reference
        bodies = [json.dumps(a).encode() for a in apps]
        asyncio.run(closed_loop(port, args.clients, min(2.0, seconds), bodies,
                                "/v1/credit/score"))
        lat, errors, wall = asyncio.run(closed_loop(port, args.clients, seconds, bodies,
                                                    "/v1/credit/score"))
        res["credit_requests"] = int(lat.size)
        res["credit_served_rows_per_s"] = lat.size / wall
        res["credit_served_vs_inprocess"] = (res["credit_served_rows_per_s"]
                                             / res["credit_inprocess_rows_per_s"])
        res["credit_p50_ms"] = float(np.percentile(lat, 50)) * 1e3
        res["credit_p99_ms"] = float(np.percentile(lat, 99)) * 1e3
        res["credit_p99_over_p50"] = res["credit_p99_ms"] / res["credit_p50_ms"]
        metrics = httpx.get(f"{url}/metrics").text
        count = total = 0.0
        for line in metrics.splitlines():
            if line.startswith('quantjax_batch_rows_count{model="credit"}'):
                count = float(line.split()[-1])
            if line.startswith('quantjax_batch_rows_sum{model="credit"}'):
                total = float(line.split()[-1])
        res["credit_mean_batch_rows"] = total / count if count else float("nan")
        # memory over a longer run
        res["rss_mb_before_soak"] = rss_mb(proc.pid)
        lat2, errors2, _ = asyncio.run(closed_loop(port, args.clients, soak, bodies,
                                                   "/v1/credit/score"))
        res["rss_mb_after_soak"] = rss_mb(proc.pid)
        res["soak_seconds"] = soak
        res["soak_requests"] = int(lat2.size)
        res["errors"] = errors + errors2 + tick_errors
    finally:
        proc.terminate()
        proc.wait(120)
        log.close()
    print(json.dumps(res, default=float))


if __name__ == "__main__":
    main()
