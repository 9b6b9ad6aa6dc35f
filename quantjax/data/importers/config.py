"""The resolved settings of one ``quantjax data import`` run (saved as ``config.yaml``)."""

from __future__ import annotations

import dataclasses

from quantjax.config.base import spec
from quantjax.data.bars import bar_nanoseconds

SOURCES = ("binance", "tardis", "lobster")


@dataclasses.dataclass(frozen=True)
class ImportConfig:
    """What to import and how; see docs/data.md, "Importing exchange data"."""

    source: str = spec("binance", choices=SOURCES, doc="the importer")
    files: tuple[str, ...] = spec((), doc="input files, in the order given")
    bar: str = spec("1s", doc="bar length: 100ms, 1s, 1m (= 1min), 1h ...")
    skip_bad_lines: bool = spec(False, doc="skip (and count) malformed lines instead of failing")
    timezone: str = spec("America/New_York", doc="LOBSTER only: the exchange's time zone")

    def validate(self) -> None:
        bar_nanoseconds(self.bar)

    @property
    def bar_ns(self) -> int:
        return bar_nanoseconds(self.bar)
