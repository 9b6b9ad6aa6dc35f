"""The real service: ``quantjax serve`` in a subprocess on a free port, called with httpx.

Answers equal in-process scoring/prediction bitwise; every bad input gets its status and
message; a burst of 1,000 malformed requests leaves it healthy; 100 concurrent clients get
their own answers; API keys; SIGTERM under load answers every accepted request (last test:
it stops the server)."""

from __future__ import annotations

import concurrent.futures as cf
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import time

import httpx
import numpy as np
import pandas as pd
import pytest

from quantjax.inference.artifact import load_artifact
from quantjax.inference.credit_scorer import CreditArtifactScorer
from quantjax.inference.symbol_streams import SymbolStreams

from support.paths import GERMAN_CSV, JAX_CACHE, ROOT
from support.serve_artifacts import causal_artifact, market_ticks

KEY = "test-key-0123456789abcdef"
SETTINGS = ["predictor.buckets=[1,8]", "predictor.tune=false", "predictor.warmup=1",
            "stream.buckets=[1,2]", "stream.capacity=3", "limits.max_body_bytes=65536",
            "batching.max_queue_rows=128", "limits.max_rows=300"]
BUCKETS = (1, 8)
#: one TLS context for every client: without it httpx builds a new one (loading the CA bundle)
#: per client, ~30 ms of CPU each; the clients speak plain HTTP, one connection per client
TLS = ssl.create_default_context()


def _get(url: str, **kw) -> httpx.Response:
    return httpx.get(url, verify=TLS, **kw)


def _post(url: str, **kw) -> httpx.Response:
    return httpx.post(url, verify=TLS, **kw)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def artifacts(tiny_credit_run, tmp_path_factory):
    from quantjax.inference.export import export_checkpoint

    d = tmp_path_factory.mktemp("serve")
    return (export_checkpoint(tiny_credit_run, d / "credit.qjx", ("cpu",)),
            causal_artifact(d / "causal.qjx"))


@pytest.fixture(scope="module")
def server(artifacts, tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys") / "keys.txt"
    keys.write_text(f"# keys\n{KEY}\nsecond-key-abcdefghijklmnop\n")
    port = _free_port()
    cmd = [sys.executable, "-m", "quantjax.cli.main", "serve", "--artifact",
           f"credit={artifacts[0]}", "--artifact", f"causal={artifacts[1]}", "--port", str(port),
           "--api-key-file", str(keys)]
    for s in SETTINGS:
        cmd += ["--set", s]
    log = tmp_path_factory.mktemp("log") / "server.log"
    # the suite's compilation cache (conftest), shared with the in-process reference scorers
    env = {**os.environ, "JAX_PLATFORMS": "cpu",
           "JAX_COMPILATION_CACHE_DIR": os.environ.get("JAX_COMPILATION_CACHE_DIR", str(JAX_CACHE))}
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        try:
            if _get(f"{url}/readyz", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(0.5)
    else:
        proc.kill()
        raise AssertionError("server not ready: " + log.read_text()[-3000:])
    client = httpx.Client(verify=TLS, base_url=url, headers={"Authorization": f"Bearer {KEY}"},
                          timeout=60)
    yield {"url": url, "proc": proc, "log": log, "client": client}
    client.close()
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


@pytest.fixture(scope="module")
def credit_ref(artifacts):
    return CreditArtifactScorer(load_artifact(artifacts[0]), BUCKETS, warmup=0, tune=False,
                                batch_invariant=True)


def applications(n: int, start: int = 0) -> list[dict]:
    df = pd.read_csv(GERMAN_CSV, dtype=object).iloc[start:start + n].drop(columns=["class"])
    rows = []
    for r in df.to_dict("records"):
        rows.append({k: (None if pd.isna(v) else (float(v) if k in NUMERIC else v))
                     for k, v in r.items()})
    return rows


NUMERIC = ("duration", "credit_amount", "installment_commitment", "residence_since", "age",
           "existing_credits", "num_dependents")


def expected(ref, apps):
    s = ref.score_records(apps)
    return [ref.to_json(s, i) for i in range(len(apps))]


# ----------------------------------------------------------------------------- basics
def test_health_ready_models_and_metrics(server):
    c = server["client"]
    assert _get(server["url"] + "/healthz").json() == {"status": "ok"}
    assert _get(server["url"] + "/readyz").status_code == 200
    m = c.get("/v1/models").json()
    by = {x["name"]: x for x in m["models"]}
    assert by["credit"]["task"] == "credit" and by["causal"]["task"] == "hft"
    assert by["credit"]["jax_version"] and by["credit"]["format_version"] == 2
    assert "duration" in by["credit"]["input_schema"]
    choices = by["causal"]["predictor"]["choices"]
    assert all("variant" in v and "options" in v for v in choices.values())
    assert by["causal"]["stream"]["mode"] == "causal"
    text = _get(server["url"] + "/metrics").text
    assert "quantjax_requests_total" in text and "quantjax_request_seconds" in text
    assert "quantjax_queue_rows" in text


def test_api_keys(server):
    url = server["url"]
    body = {"applications": applications(1)}
    assert _post(f"{url}/v1/credit/score", json=body).status_code == 401
    r = _post(f"{url}/v1/credit/score", json=body, headers={"X-API-Key": "wrong" * 5})
    assert r.status_code == 401 and r.json()["error"] == "invalid API key"
    assert _get(f"{url}/v1/models").status_code == 401
    assert _post(f"{url}/v1/credit/score", json=body,
                      headers={"X-API-Key": "second-key-abcdefghijklmnop"}).status_code == 200
    assert server["client"].post("/v1/credit/score", json=body).status_code == 200


# ----------------------------------------------------------------------------- bitwise
def test_credit_answers_equal_in_process_scoring_bitwise(server, credit_ref):
    apps = applications(12)
    apps[2]["purpose"] = "spaceship"  # unseen category: the encoder's policy, and it says so
    apps[3]["age"] = None  # missing: imputed
    r = server["client"].post("/v1/credit/score", json={"applications": apps})
    assert r.status_code == 200
    got = r.json()["results"]
    assert got == expected(credit_ref, apps)  # floats compared exactly
    assert got[2]["unseen_categories"] == ["purpose"] and got[3]["imputed_missing"] == ["age"]
    one = server["client"].post("/v1/credit/score", json=apps[5]).json()["results"]
    assert one == [got[5]]
    assert any(g["decision"] != "APPROVE" and g["reasons"] for g in got)
    assert all(np.isfinite(g["points"]) for g in got)
    assert all(not g["reasons"] for g in got if g["decision"] == "APPROVE")


def test_hft_predict_equals_the_in_process_predictor_bitwise(server, artifacts):
    art = load_artifact(artifacts[1])
    L, F = art.inputs[0].shape
    x = np.random.default_rng(0).normal(size=(5, L, F)).astype(np.float32)
    ref = art.predictor(BUCKETS, 0, tune=False, batch_invariant=True).predict(x)
    r = server["client"].post("/v1/hft/predict", json={"windows": [
        {"symbol": f"S{i}", "x": x[i].tolist()} for i in range(5)]})
    assert r.status_code == 200
    got = r.json()["results"]
    np.testing.assert_array_equal([g["price"] for g in got], ref["price"])
    np.testing.assert_array_equal([g["direction_probs"] for g in got], ref["direction_probs"])


def _tick(sym, ts, v):
    return {"symbol": sym, "timestamp": ts, **v}


def test_ticks_equal_in_process_streams_and_bad_ticks_change_nothing(server, artifacts):
    c = server["client"]
    ref = SymbolStreams(load_artifact(artifacts[1]), None, 3, (1, 2), warmup=0)
    ticks = market_ticks(2, 40, seed=1)
    got, want = [], []
    for i, (s, ts, v) in enumerate(ticks):
        sym = f"T{s}"
        if i == 9:  # bad ticks first: out of order, duplicate, NaN, unknown field
            prev = ticks[i - 2][1]
            for bad, frag in ((_tick(sym, prev - 1, v), "out-of-order"),
                              ({**_tick(sym, ts, v), "close": float("nan")}, "finite"),
                              ({**_tick(sym, ts, v), "oops": 1.0}, "unknown field")):
                r = c.post("/v1/hft/ticks", content=json.dumps({"ticks": [bad]}))
                assert r.status_code == 422 and frag in r.json()["error"], r.text
        r = c.post("/v1/hft/ticks", json={"ticks": [_tick(sym, ts, v)]})
        assert r.status_code == 200, r.text
        got.append(r.json()["results"][0])
        o = ref.step([sym], [ts], [[v.get(f, np.nan) for f in ref.fields]])
        want.append({"symbol": sym, "bars": int(o.bars[0]), "ready": bool(o.ready[0]),
                     "direction_probs": o.direction_probs[0].tolist() if o.ready[0] else None,
                     "price": float(o.price[0]) if o.ready[0] else None,
                     "volatility": float(o.volatility[0]) if o.ready[0] else None})
    assert got == want and any(g["ready"] for g in got)
    s, ts, v = ticks[-1]
    r = c.post("/v1/hft/ticks", json={"ticks": [_tick(f"T{s}", ts, v)]})
    assert r.status_code == 422 and "duplicate" in r.json()["error"]
    r = c.post("/v1/hft/ticks", json={"ticks": [_tick("X1", ts, v), _tick("X2", ts, v)]})
    assert r.status_code == 422 and "capacity of 3 symbols" in r.json()["error"]  # unknown


# ----------------------------------------------------------------------------- bad input
def test_every_bad_input_gets_its_status_and_message(server):
    c = server["client"]
    app = applications(1)[0]
    cases = [
        ("/v1/credit/score", {"applications": [app, {**app, "age": "old"}]}, 422,
         "applications[1].age"),
        ("/v1/credit/score", {"applications": [{**app, "purpose": 2.5}]}, 422,
         "applications[0].purpose"),
        ("/v1/credit/score", {"applications": [{k: v for k, v in app.items() if k != "age"}]},
         422, "applications[0].age: required field missing"),
        ("/v1/credit/score", {"applications": [{**app, "extra_col": 1}]}, 422,
         "applications[0].extra_col: unknown field"),
        ("/v1/credit/score", {"applications": []}, 422, "empty list"),
        ("/v1/hft/predict", {"windows": [{"x": [[0.0] * 13] * 5}]}, 422, "window length 5"),
        ("/v1/hft/ticks", {"ticks": [{"symbol": "A", "timestamp": "yesterday", "open": 1,
                                      "high": 1, "low": 1, "close": 1, "volume": 1}]}, 422,
         "ticks[0].timestamp"),
    ]
    for path, body, status, frag in cases:
        r = c.post(path, json=body)
        assert r.status_code == status and frag in r.json()["error"], (path, r.text)
    r = c.post("/v1/credit/score", content=b'{"applications": [' + json.dumps(app).encode()
               .replace(b'"age": 26.0', b'"age": Infinity') + b"]}")
    assert r.status_code == 422 and "finite" in r.json()["error"]
    F = load_artifact_features(c)
    r = c.post("/v1/hft/predict", json={"windows": [{"x": [[0.0] * (F + 1)] * 6}]})
    assert r.status_code == 422 and f"{F + 1} features, the model needs {F}" in r.json()["error"]
    r = c.post("/v1/credit/score", content=b"{not json")
    assert r.status_code == 400 and "malformed JSON" in r.json()["error"]
    r = c.post("/v1/credit/score", content=b"[" + b" " * 70000 + b"]")
    assert r.status_code == 413
    r = c.post("/v1/credit/score?model=nope", json=app)
    assert r.status_code == 404


def load_artifact_features(c) -> int:
    m = {x["name"]: x for x in c.get("/v1/models").json()["models"]}
    return m["causal"]["input_schema"]["windows"]["x"][1]


def test_burst_of_1000_malformed_requests_leaves_the_server_healthy(server, credit_ref):
    rng = np.random.default_rng(0)
    app = applications(1)[0]
    junk = [b"", b"null", b"[]", b"{", b"\xff\xfe", b'{"applications": 3}', b'"x"',
            json.dumps({"applications": [{**app, "duration": "x"}]}).encode(),
            json.dumps({"windows": [{"x": "nope"}]}).encode(),
            json.dumps({"ticks": [{"symbol": 1}]}).encode()]
    paths = ["/v1/credit/score", "/v1/hft/predict", "/v1/hft/ticks"]

    def one(i):
        body = (junk[i % len(junk)] if i % 3 else
                bytes(rng.integers(0, 256, int(rng.integers(1, 200))).astype(np.uint8)))
        with httpx.Client(verify=TLS, base_url=server["url"], headers={"X-API-Key": KEY}, timeout=60) as c:
            return c.post(paths[i % 3], content=body).status_code

    with cf.ThreadPoolExecutor(16) as ex:
        codes = list(ex.map(one, range(1000)))
    assert all(400 <= s < 500 for s in codes), sorted(set(codes))
    assert _get(server["url"] + "/readyz").status_code == 200
    apps = applications(3, start=20)
    r = server["client"].post("/v1/credit/score", json={"applications": apps})
    assert r.json()["results"] == expected(credit_ref, apps)


def test_100_concurrent_clients_get_their_own_answers(server, credit_ref):
    apps = applications(100, start=30)
    want = expected(credit_ref, apps)

    def one(i):
        with httpx.Client(verify=TLS, base_url=server["url"], headers={"X-API-Key": KEY}, timeout=120) as c:
            r = c.post("/v1/credit/score", json={"applications": [{**apps[i], "id": i}]})
            return r.status_code, r.json()["results"][0]

    with cf.ThreadPoolExecutor(100) as ex:
        res = list(ex.map(one, range(100)))
    for i, (status, got) in enumerate(res):
        assert status == 200 and got.pop("id") == i and got == want[i]
    text = _get(server["url"] + "/metrics").text
    rows = [ln for ln in text.splitlines() if ln.startswith('quantjax_batch_rows_count{model="credit"}')]
    assert rows  # batches were formed


def test_full_queue_answers_429(server):
    apps = applications(80)  # 80 rows: a second waiting request overflows the 128-row queue

    def one(_):
        with httpx.Client(verify=TLS, base_url=server["url"], headers={"X-API-Key": KEY}, timeout=300) as c:
            return c.post("/v1/credit/score", json={"applications": apps}).status_code

    with cf.ThreadPoolExecutor(12) as ex:
        codes = list(ex.map(one, range(12)))
    assert 429 in codes and set(codes) <= {200, 429}, codes


def test_sigterm_under_load_answers_every_accepted_request(server, credit_ref):
    """LAST test of the module: it stops the server."""
    apps = applications(40, start=100)
    want = expected(credit_ref, apps)
    proc = server["proc"]
    results = []

    def client(i):
        with httpx.Client(verify=TLS, base_url=server["url"], headers={"X-API-Key": KEY}, timeout=120) as c:
            for j in range(i, 40, 8):
                try:
                    r = c.post("/v1/credit/score", json=apps[j])
                except httpx.TransportError:
                    results.append(("refused", j, None))
                    return
                results.append((r.status_code, j, r.json() if r.status_code == 200 else None))

    with cf.ThreadPoolExecutor(8) as ex:
        futs = [ex.submit(client, i) for i in range(8)]
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        for f in futs:
            f.result()
    # uvicorn re-raises the SIGTERM it handled once it has shut down gracefully
    assert proc.wait(120) in (0, -signal.SIGTERM)
    answered = [r for r in results if r[0] != "refused"]
    for status, j, body in answered:
        assert status == 200 and body["results"] == [want[j]]
    log = server["log"].read_text()
    line = next(ln for ln in log.splitlines() if "drained:" in ln)
    acc, ans = [int(w) for w in line.split() if w.isdigit()][:2]
    assert acc == ans, line
