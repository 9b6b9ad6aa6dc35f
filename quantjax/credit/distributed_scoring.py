"""Scoring one applications file split across the processes of a ``jax.distributed`` run.

Every process reads the same file and scores its own contiguous block of rows
(:func:`quantjax.distributed.process_slice`) with :func:`quantjax.credit.scoring.score_frame`;
the scored blocks are gathered in process order and process 0 writes the output, whose
``row`` column numbers the rows of the whole file. A row's scores do not depend on the other
rows of its block except through float rounding: scoring trims each chunk's text to its
longest text (:mod:`quantjax.credit.bucketing`), so the risk scores equal those of one process
to about 1e-6.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from quantjax import distributed
from quantjax.credit.score_files import stability_record, write_scored
from quantjax.credit.scoring import load_scorer, score_frame
from quantjax.data.credit import read_credit_table


def score_file_split(run_dir: str | Path, data: str | Path, out: str | Path, *,
                     explain: bool = True, batch_size: int = 512,
                     stability_out: str | Path | None = None) -> tuple[pd.DataFrame, dict | None]:
    """:func:`quantjax.credit.scoring.score_file` with the rows split across the processes;
    every process returns ``(the whole scored frame, stability)``, process 0 writes ``out``
    and the stability report (computed on the whole file, as in one process)."""
    scorer = load_scorer(run_dir)
    df = read_credit_table(data, scorer.encoder.schema, require_target=False)
    rows = distributed.process_slice(len(df))
    part = None
    if rows.stop > rows.start:
        part = score_frame(scorer, df.iloc[rows].reset_index(drop=True), explain=explain,
                           batch_size=batch_size)
        part["row"] += rows.start
    res = pd.concat([p for p in distributed.allgather_objects(part) if p is not None],
                    ignore_index=True)
    stab = stability_record(scorer.reference, df, res, out, data, Path(run_dir))
    if distributed.is_main_process():
        write_scored(res, out, stab, stability_out)
    return res, stab
