"""The credit schema: which columns of an applications file play which role.

The schema YAML is a public contract (see ``docs/credit_data.md``)::

    numeric: [income, debt_ratio]        # numeric columns
    categorical: [purpose, housing]      # string or integer categories
    text: description                    # optional; one column of free text (null if none)
    time_series: [bal_m1, bal_m2]        # optional; ordered columns of one series ([] if none)
    target: default_flag                 # target column
    positive: "1"                        # the target value that means default (bad, yes, 1)
    # optional credit-practice keys (docs/credit.md):
    segments: [region]                   # report AUC, KS, ECE, approval rate per value
    protected: [sex]                     # fairness: adverse impact ratio, AUC gap per group
    protected_inputs: false              # true: a protected column may also be a model input
    reasons: {debt_ratio: "Debt is high relative to income"}   # adverse-action statements
    monotone: {income: decreasing}       # expected direction of the PD in a numeric input

Load it with ``quantjax.config.load(CreditSchema, path)``: unknown keys, wrong types and
missing required keys are errors naming the key.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from quantjax.config.base import spec
from quantjax.errors import ConfigError

MONOTONE_DIRECTIONS = ("increasing", "decreasing")


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
    segments: tuple[str, ...] = spec(
        (), doc="columns whose values split the report's metrics (AUC, KS, ECE, approval rate)")
    protected: tuple[str, ...] = spec(
        (), doc="protected-attribute columns: adverse impact ratio and AUC gap per group")
    protected_inputs: bool = spec(
        False, doc="allow a protected column to be a model input too (default: an error)")
    reasons: Any = spec(
        default_factory=dict, doc="adverse-action statement per input: {input: statement}; "
        "inputs mapped to the same statement form a group")
    monotone: Any = spec(
        default_factory=dict, doc="expected direction of the PD in a numeric input: "
        "{input: increasing | decreasing}")

    def __post_init__(self) -> None:
        # ``positive: 1`` in YAML is an int: compare labels as strings everywhere.
        if isinstance(self.positive, int) and not isinstance(self.positive, bool):
            object.__setattr__(self, "positive", str(self.positive))
        for name in ("numeric", "categorical", "time_series", "segments", "protected"):
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
        self._validate_practice(seen)

    def _validate_practice(self, roles: dict[str, str]) -> None:
        """segments, protected, reasons and monotone name known columns and valid values."""
        for key in ("segments", "protected"):
            cols = getattr(self, key)
            for col in cols:
                if not col:
                    raise ConfigError(f"{key}: empty column name")
                if col == self.target:
                    raise ConfigError(f"{key}: '{col}' is the target column")
            if len(set(cols)) != len(cols):
                dup = next(c for c in cols if cols.count(c) > 1)
                raise ConfigError(f"{key}: column '{dup}' is listed twice")
        if not self.protected_inputs:
            for col in self.protected:
                if col in roles:
                    raise ConfigError(
                        f"protected: column '{col}' is also a model input ({roles[col]}); "
                        "remove it from the inputs or set protected_inputs: true")
        if not isinstance(self.reasons, dict):
            raise ConfigError("reasons: expected a mapping {input: statement}")
        valid = self.reason_keys
        for k, v in self.reasons.items():
            if k not in valid:
                raise ConfigError(f"reasons: unknown input '{k}'; valid inputs: "
                                  f"{', '.join(valid)}")
            if not isinstance(v, str) or not v.strip():
                raise ConfigError(f"reasons.{k}: expected a non-empty statement string")
        if not isinstance(self.monotone, dict):
            raise ConfigError("monotone: expected a mapping {numeric input: increasing | "
                              "decreasing}")
        for k, v in self.monotone.items():
            if k not in self.numeric:
                raise ConfigError(f"monotone: '{k}' is not a numeric input; numeric inputs: "
                                  f"{', '.join(self.numeric) or 'none'}")
            if v not in MONOTONE_DIRECTIONS:
                raise ConfigError(f"monotone.{k}: {v!r} is not one of "
                                  f"{list(MONOTONE_DIRECTIONS)}")

    @property
    def reason_keys(self) -> tuple[str, ...]:
        """Input names ``reasons`` may map: every input column, ``<numeric>_missing`` (the
        missing-value indicator) and ``time_series`` (the whole series)."""
        keys = self.numeric + tuple(f"{c}_missing" for c in self.numeric) + self.categorical
        keys += (self.text,) if self.text is not None else ()
        keys += ("time_series",) if self.time_series else ()
        return keys

    @property
    def group_columns(self) -> tuple[str, ...]:
        """The segment and protected columns, each once, in schema order."""
        return tuple(dict.fromkeys(self.segments + self.protected))

    @property
    def columns(self) -> tuple[str, ...]:
        """All input columns (target excluded), in schema order."""
        text = (self.text,) if self.text is not None else ()
        return self.numeric + self.categorical + text + self.time_series
