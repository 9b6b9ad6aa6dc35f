"""Rich progress bar for training: step, loss, samples/s and ETA (no-op when disabled)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class TrainProgress:
    """``with TrainProgress(total, start, enabled) as p: p.update(step, loss, sps, epoch)``."""

    def __init__(self, total: int, start: int = 0, enabled: bool = True,
                 console: Console | None = None):
        self.enabled = enabled
        self.total, self.start = total, start
        self._progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}"), TextColumn("{task.fields[sps]:,.0f} samples/s"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=console, transient=False,
        ) if enabled else None
        self._task = None

    def __enter__(self) -> TrainProgress:
        if self._progress is not None:
            self._progress.__enter__()
            self._task = self._progress.add_task("train", total=self.total, completed=self.start,
                                                 loss=float("nan"), sps=0.0)
        return self

    def update(self, step: int, loss: float, samples_per_sec: float, epoch: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=step, loss=loss, sps=samples_per_sec,
                                  description=f"epoch {epoch}")

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
