"""Credit checkpoints export to a portable artifact whose predictions equal in-process apply."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest

from quantjax.inference.artifact import load_artifact
from quantjax.inference.export import export_checkpoint

from support.paths import GERMAN_CSV

GERMAN = str(GERMAN_CSV)


@pytest.fixture(scope="module")
def credit_run(tiny_credit_run) -> Path:
    return tiny_credit_run  # the shared tiny credit run (conftest)


def test_credit_artifact_equals_in_process_apply(credit_run, tmp_path):
    from quantjax.credit.calibration import apply_temperature
    from quantjax.credit.pipeline import predict_logits
    from quantjax.credit.scoring import load_scorer
    from quantjax.data.credit import check_credit_frame, encode

    out = export_checkpoint(credit_run, tmp_path / "credit.qjx")
    art = load_artifact(out)
    assert art.task == "credit" and art.outputs == ("logit", "pd")
    sc = load_scorer(credit_run)
    df = check_credit_frame(pd.read_csv(GERMAN).head(37), sc.encoder.schema, require_target=False)
    batch = encode(sc.encoder, df)
    inputs = {"numeric": batch.numeric, "categorical": batch.categorical, "text": batch.text,
              "time_series": batch.time_series}
    got = jax.device_get(art.fn(art.params, inputs))
    z = predict_logits(sc.model, sc.params, batch, 64)
    np.testing.assert_allclose(got["logit"], z, atol=1e-6)
    p = apply_temperature(z - sc.logit_shift, sc.temperature)
    np.testing.assert_allclose(got["pd"], p, atol=1e-6)
    pred = art.predictor(buckets=(1, 8), warmup=0, tune=False)
    np.testing.assert_allclose(pred.predict({k: v[:5] for k, v in inputs.items()})["logit"],
                               z[:5], atol=1e-6)
