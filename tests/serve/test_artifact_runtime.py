"""Self-contained artifacts: a credit .qjx scores applications without the checkpoint or any
training code (tested in an interpreter where they cannot be imported), like the checkpoint."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from quantjax.errors import UserError
from quantjax.inference.artifact import load_artifact
from quantjax.inference.credit_scorer import CreditArtifactScorer

from support.paths import GERMAN_CSV, JAX_CACHE, ROOT

# the whole training side: the trainer and checkpoints, the HFT domain (runs, datasets),
# the credit training pipeline and the checkpoint scorer, and the optimizer/checkpoint libraries
BLOCKED = ("quantjax.train", "quantjax.hft", "quantjax.credit.pipeline",
           "quantjax.credit.scoring", "quantjax.credit.task", "optax", "orbax")

RUNTIME_ONLY = f"""
import importlib.abc, json, sys
BLOCKED = {BLOCKED!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if any(name == b or name.startswith(b + ".") for b in BLOCKED):
            raise ImportError("blocked: " + name)
sys.meta_path.insert(0, Block())
import jax
jax.config.update("jax_compilation_cache_dir", sys.argv[3])
import pandas as pd
from quantjax.inference.artifact import load_artifact
from quantjax.inference.credit_scorer import CreditArtifactScorer
from quantjax.serve.app import create_app
from quantjax.serve.config import ServeConfig
sc = CreditArtifactScorer(load_artifact(sys.argv[1]), (8,), warmup=0, tune=False,
                          batch_invariant=True)
df = pd.read_csv(sys.argv[2], dtype=object).head(12)
s = sc.score_frame(df, "flagged")
create_app({{"credit": sys.argv[1]}}, ServeConfig(), None)
assert not [m for m in sys.modules if any(m == b or m.startswith(b + ".") for b in BLOCKED)]
print(json.dumps({{"pd": s.pd.tolist(), "decision": s.decision.tolist()}}))
"""


@pytest.fixture(scope="module")
def credit_qjx(tiny_credit_run, tmp_path_factory):
    from quantjax.inference.export import export_checkpoint

    return export_checkpoint(tiny_credit_run, tmp_path_factory.mktemp("art") / "credit.qjx")


def test_credit_artifact_scores_with_training_code_blocked(credit_qjx, tiny_credit_run):
    cache = os.environ.get("JAX_COMPILATION_CACHE_DIR", str(JAX_CACHE))  # the suite's (conftest)
    r = subprocess.run([sys.executable, "-c", RUNTIME_ONLY, str(credit_qjx), str(GERMAN_CSV),
                        cache], capture_output=True, text=True, timeout=600,
                       cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"})
    assert r.returncode == 0, r.stderr[-3000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    from quantjax.credit.scoring import load_scorer, score_frame

    ref = score_frame(load_scorer(tiny_credit_run), pd.read_csv(GERMAN_CSV, dtype=object).head(12))
    np.testing.assert_allclose(got["pd"], ref["risk_score"], atol=1e-6)
    assert got["decision"] == ref["decision"].tolist()


def test_score_credit_cli_with_the_artifact_equals_the_checkpoint(credit_qjx, tiny_credit_run,
                                                                   tmp_path):
    from quantjax.cli.main import main

    data = tmp_path / "apps.csv"
    pd.read_csv(GERMAN_CSV, dtype=object).head(20).to_csv(data, index=False)
    assert main(["score", "credit", "--artifact", str(credit_qjx), "--data", str(data),
                 "--out", str(tmp_path / "a.csv")]) == 0
    sa = json.loads((tmp_path / "stability.json").read_text())  # beside --out by default
    assert main(["score", "credit", "--checkpoint", str(tiny_credit_run), "--data", str(data),
                 "--out", str(tmp_path / "c.csv"), "--stability", str(tmp_path / "sc.json")]) == 0
    sc = json.loads((tmp_path / "sc.json").read_text())
    a, c = pd.read_csv(tmp_path / "a.csv"), pd.read_csv(tmp_path / "c.csv")
    assert list(a.columns) == list(c.columns)
    np.testing.assert_allclose(a["risk_score"], c["risk_score"], atol=1e-6)
    np.testing.assert_allclose(a["points"], c["points"], atol=1e-3)
    assert (a["decision"] == c["decision"]).all()
    for col in [c_ for c_ in a.columns if c_.startswith("importance_")]:
        np.testing.assert_allclose(a[col], c[col], atol=1e-5)
    # the schema's statements (carried in the artifact) rank as with the checkpoint
    assert (a["reason_1"].fillna("") == c["reason_1"].fillna("")).all()
    np.testing.assert_allclose(a["reason_1_attribution"], c["reason_1_attribution"], atol=1e-5)
    # the stability report against the carried reference equals the checkpoint's
    assert sa["csi"] == sc["csi"] and sa["psi"] == pytest.approx(sc["psi"], abs=1e-9)
    assert main(["score", "credit", "--artifact", str(tmp_path / "none.qjx"), "--data",
                 str(data), "--out", str(tmp_path / "x.csv")]) == 2
    # --batch-size caps the artifact's compiled buckets: 20 rows in calls of 8, 8 and 4 (padded)
    assert main(["score", "credit", "--artifact", str(credit_qjx), "--data", str(data),
                 "--out", str(tmp_path / "a8.csv"), "--batch-size", "8"]) == 0
    a8 = pd.read_csv(tmp_path / "a8.csv")
    assert list(a8.columns) == list(a.columns) and (a8["decision"] == a["decision"]).all()
    np.testing.assert_allclose(a8["risk_score"], a["risk_score"], atol=1e-6)
    np.testing.assert_allclose(a8["reason_1_attribution"], a["reason_1_attribution"], atol=1e-5)


def test_credit_artifact_carries_the_decision_as_data(credit_qjx, tiny_hft_artifact):
    art = load_artifact(credit_qjx)
    assert set(art.functions) == {"predict", "attributions"}
    for key in ("encoder", "temperature", "logit_shift", "decision", "feature_space",
                "extensions"):
        assert key in art.extra
    assert "points" in art.extra["decision"]
    assert set(art.extra["extensions"]) == {"reasons", "stability_reference"}
    with pytest.raises(UserError, match="a credit artifact is needed"):
        CreditArtifactScorer(load_artifact(tiny_hft_artifact), (8,), warmup=0, tune=False)
