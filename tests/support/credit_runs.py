"""The tiny credit run the tests share (the conftest fixture ``tiny_credit_run``)."""

from __future__ import annotations

from support.paths import CONFIGS, GERMAN_CSV

#: ``quantjax train credit`` flags of the tiny run: 2 epochs of credit_transformer_tiny.yaml
TINY = ["--config", str(CONFIGS / "credit_transformer_tiny.yaml"),
        "--set", "train.epochs=2", "--set", "train.start_from_epoch=0",
        "--set", "logreg.steps=50", "--set", "logreg.l2_grid=[0.01]",
        "--set", "decision.ig_steps=4", "--no-progress"]
#: the German-credit-like file and its schema
GERMAN_DATA = ["--data", str(GERMAN_CSV), "--schema", str(CONFIGS / "credit_schema_german.yaml")]
