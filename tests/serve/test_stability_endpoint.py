"""``GET /v1/credit/stability``: the service keeps the bin counts of every application it
scores and reports PSI / CSI against the training population the credit artifact carries,
equal to the batch report (``stability_report``) over the same applications."""

from __future__ import annotations

import time
import warnings

import pandas as pd
import pytest

from quantjax.config import load
from quantjax.credit.stability import stability_report
from quantjax.inference.artifact import load_artifact
from quantjax.inference.credit_scorer import CreditArtifactScorer
from quantjax.inference.export import export_checkpoint
from quantjax.serve.app import create_app
from quantjax.serve.config import ServeConfig

from support.paths import GERMAN_CSV

with warnings.catch_warnings():  # starlette's in-process client (it runs the lifespan) warns
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

KEY = "k" * 32
SETTINGS = ["predictor.buckets=[8,32]", "predictor.tune=false", "predictor.warmup=0"]


@pytest.fixture(scope="module")
def credit_qjx(tiny_credit_run, tmp_path_factory):
    return export_checkpoint(tiny_credit_run, tmp_path_factory.mktemp("art") / "credit.qjx")


def _records(df: pd.DataFrame, scorer) -> list[dict]:
    """JSON applications of the rows of ``df`` (numbers as floats, missing as null)."""
    numeric = {c for c in scorer.columns if scorer.role(c) == "numeric"}
    return [{k: None if pd.isna(v) else (float(v) if k in numeric else v)
             for k, v in r.items()} for r in df.to_dict("records")]


def test_served_population_stability_equals_the_batch_report(credit_qjx):
    art = load_artifact(credit_qjx)
    ref_scorer = CreditArtifactScorer(art, (8, 32), warmup=0, tune=False, batch_invariant=True)
    assert ref_scorer.reference is not None
    df = pd.read_csv(GERMAN_CSV, dtype=object).drop(columns=["class"]).head(40)
    apps = _records(df, ref_scorer)
    app = create_app({"credit": str(credit_qjx)}, load(ServeConfig, None, SETTINGS),
                     (KEY.encode(),))
    auth = {"X-API-Key": KEY}
    with TestClient(app) as c:
        deadline = time.time() + 300
        while c.get("/readyz").status_code != 200:
            assert time.time() < deadline and c.get("/readyz").json()["status"] != "failed"
            time.sleep(0.2)
        assert c.get("/v1/credit/stability").status_code == 401
        empty = c.get("/v1/credit/stability", headers=auth).json()
        assert empty["n"] == 0 and empty["psi"] is None and empty["model"] == "credit"
        assert all(v is None for v in empty["csi"].values())
        for part in (apps[:15], apps[15:]):
            r = c.post("/v1/credit/score", json={"applications": part}, headers=auth)
            assert r.status_code == 200
        got = c.get("/v1/credit/stability", headers=auth).json()
        bad = c.get("/v1/credit/stability?model=nope", headers=auth)
    frame = ref_scorer.records_frame(apps)
    want = stability_report(ref_scorer.reference, frame, ref_scorer.score_frame(
        frame, "none", checked=True).pd)
    assert got["n"] == 40 == want["n"]
    assert got["psi"] == want["psi"] and got["csi"] == want["csi"]
    assert got["status"] == want["status"] and got["moved"] == want["moved"]
    assert got["bins"]["pd"]["current"] == want["bins"]["pd"]["current"]
    assert bad.status_code == 404 and "no credit model named 'nope'" in bad.json()["error"]
