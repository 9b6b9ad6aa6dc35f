"""The files of a scoring run: the scored applications (``.csv`` or ``.parquet``) and their
stability report (``stability.json``), written the same way by the checkpoint scorer
(:mod:`quantjax.credit.scoring`), split scoring over processes
(:mod:`quantjax.credit.distributed_scoring`) and the artifact scorer
(:mod:`quantjax.inference.credit_scorer`). Imports no training code."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quantjax.credit.stability import stability_report
from quantjax.jsonio import write_json


def stability_record(reference: dict | None, df: pd.DataFrame, res: pd.DataFrame,
                     out: str | Path, data: str | Path, source: str | Path) -> dict | None:
    """The stability report of applications ``df`` scored as ``res`` (its ``risk_score``
    column) against ``reference`` (None without one), labelled with the files involved."""
    if reference is None:
        return None
    stab = stability_report(reference, df, res["risk_score"].to_numpy())
    return {"scores": str(out), "data": str(data), "reference": str(source), **stab}


def write_scored(res: pd.DataFrame, out: str | Path, stab: dict | None,
                 stability_out: str | Path | None = None) -> None:
    """Write ``res`` to ``out`` (Parquet for ``.parquet``/``.pq``, else CSV) and ``stab``
    (when not None) to ``stability_out`` or ``stability.json`` beside ``out``."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".parquet", ".pq"):
        res.to_parquet(out, index=False)
    else:
        res.to_csv(out, index=False)
    if stab is not None:
        write_json(Path(stability_out) if stability_out else out.parent / "stability.json", stab)
