"""The credit schema: which columns of an applications file play which role.

The schema YAML is a public contract (see ``docs/credit_data.md``)::

    numeric: [income, debt_ratio]        # numeric columns
    categorical: [purpose, housing]      # string or integer categories
    text: description                    # optional; one column of free text (null if none)
    time_series: [bal_m1, bal_m2]        # optional; ordered columns of one series ([] if none)
    target: default_flag                 # target column
    positive: "1"                        # the target value that means default (bad, yes, 1)

Load it with ``quantjax.config.load(CreditSchema, path)``: unknown keys, wrong types and
missing required keys are errors naming the key.
"""

from __future__ import annotations

import dataclasses

from quantjax.config.base import spec
from quantjax.errors import ConfigError


@dataclasses.dataclass(frozen=True, kw_only=True)
class CreditSchema:
    """Column roles of a credit applications table (all names are column names)."""

    numeric: tuple[str, ...] = spec((), doc="numeric columns")
    categorical: tuple[str, ...] = spec((), doc="categorical columns (string or integer codes)")
    text: str | None = spec(None, doc="one free-text column, or null")
    time_series: tuple[str, ...] = spec((), doc="ordered columns of one monthly series")
    target: str = spec(doc="target column")
    positive: str | int | bool = spec(
        doc="target value meaning default, compared as a string (e.g. bad, yes, 1)"
    )

    def __post_init__(self) -> None:
        # ``positive: 1`` in YAML is an int: compare labels as strings everywhere.
        if isinstance(self.positive, int) and not isinstance(self.positive, bool):
            object.__setattr__(self, "positive", str(self.positive))
        for name in ("numeric", "categorical", "time_series"):
            value = getattr(self, name)
            if isinstance(value, list):
                object.__setattr__(self, name, tuple(value))

    def validate(self) -> None:
        if isinstance(self.positive, bool):
            raise ConfigError(
                "positive: got a YAML boolean (yes/no/true/false are booleans in YAML); "
                'quote the label, e.g. positive: "yes"'
            )
        if not str(self.positive):
            raise ConfigError("positive: must not be empty")
        if not self.target:
            raise ConfigError("target: must not be empty")
        seen: dict[str, str] = {}
        roles = [("numeric", c) for c in self.numeric]
        roles += [("categorical", c) for c in self.categorical]
        roles += [("text", self.text)] if self.text is not None else []
        roles += [("time_series", c) for c in self.time_series]
        roles += [("target", self.target)]
        for role, col in roles:
            if not col:
                raise ConfigError(f"{role}: empty column name")
            if col in seen:
                raise ConfigError(
                    f"{role}: column '{col}' is listed twice (also in {seen[col]})"
                )
            seen[col] = role
        if not (self.numeric or self.categorical or self.text or self.time_series):
            raise ConfigError(
                "schema lists no input columns: give at least one of numeric, categorical, "
                "text, time_series"
            )

    @property
    def columns(self) -> tuple[str, ...]:
        """All input columns (target excluded), in schema order."""
        text = (self.text,) if self.text is not None else ()
        return self.numeric + self.categorical + text + self.time_series
