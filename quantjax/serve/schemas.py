"""Request bodies: reading (size limit, JSON), validation (pydantic) and one-line messages.

Status codes: a body over the limit 413, malformed JSON 400, a body that does not match the
endpoint's schema 422 with a message naming the row and the field
(``applications[3].income: Input should be a finite number``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import numpy as np
import pandas as pd
from pydantic import (
    AllowInfNan,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    create_model,
)

from quantjax.errors import UserError

FiniteNumber = Annotated[StrictFloat | StrictInt, AllowInfNan(False)]
Category = StrictStr | StrictInt | StrictBool


class HTTPError(Exception):
    """An answer other than 200: ``status`` and a one-line ``message``."""

    def __init__(self, status: int, message: str, **detail):
        super().__init__(message)
        self.status, self.message, self.detail = status, message, detail


async def read_json(request, limit: int) -> Any:
    """The request's JSON body: 413 over ``limit`` bytes, 400 when it is not JSON."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise HTTPError(413, f"request body of {length} bytes is over the limit of {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise HTTPError(400, f"malformed JSON: {e}") from None


def _where(loc: tuple, root: str) -> tuple[str, int | None, str | None]:
    text, row, field = root, None, None
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            if row is None:
                row = part
        else:
            text += f".{part}"
            if field is None:
                field = str(part)
    return text, row, field


def validation_error(e: ValidationError, root: str) -> HTTPError:
    """422 naming the first wrong row and field (all errors in ``detail``)."""
    errors = e.errors(include_url=False, include_input=False)
    first = errors[0]
    text, row, field = _where(tuple(first["loc"]), root)
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown field"
    elif first["type"] == "missing":
        msg = "required field missing (send null for a missing value)"
    return HTTPError(422, f"{text}: {msg}", row=row, field=field,
                     errors=[{"loc": _where(tuple(x["loc"]), root)[0], "msg": x["msg"]}
                             for x in errors[:20]])


def validate(adapter: TypeAdapter, obj: Any, root: str):
    try:
        return adapter.validate_python(obj)
    except ValidationError as e:
        raise validation_error(e, root) from None


def rows_of(body: Any, key: str, max_rows: int) -> list:
    """``body[key]`` (a list), or ``[body]`` when the body is one object without ``key``."""
    if isinstance(body, dict) and key in body:
        if set(body) != {key}:
            extra = sorted(set(body) - {key})
            raise HTTPError(422, f"{extra[0]}: unknown field (the body holds {key!r})")
        rows = body[key]
    elif isinstance(body, dict):
        rows = [body]
    elif isinstance(body, list):
        rows = body
    else:
        raise HTTPError(422, f"body: expected an object or a list, got {type(body).__name__}")
    if not isinstance(rows, list):
        raise HTTPError(422, f"{key}: expected a list")
    if not rows:
        raise HTTPError(422, f"{key}: empty list")
    if len(rows) > max_rows:
        raise HTTPError(422, f"{key}: {len(rows)} rows, at most {max_rows} per request")
    return rows


# ----------------------------------------------------------------------- credit
def application_adapter(columns: dict[str, str]) -> TypeAdapter:
    """Validator of a list of applications: every schema column present (null = missing
    value), numeric/series columns finite numbers, categorical strings, integers or
    booleans, text a string; an optional ``id`` echoed back; no other field."""
    kinds = {"numeric": FiniteNumber | None, "categorical": Category | None,
             "text": StrictStr | None}
    fields: dict[str, Any] = {"id": (StrictStr | StrictInt | None, None)}
    for i, (col, role) in enumerate(columns.items()):
        fields[f"c{i}"] = (kinds[role], Field(alias=col))
    model = create_model("Application", __config__=ConfigDict(extra="forbid"), **fields)
    return TypeAdapter(list[model])


def application_records(items, columns) -> tuple[list[dict], list]:
    """Validated models -> (records keyed by column, ids)."""
    names = [f"c{i}" for i in range(len(columns))]
    cols = list(columns)
    records = [{c: getattr(it, n) for c, n in zip(cols, names, strict=True)} for it in items]
    return records, [it.id for it in items]


# ----------------------------------------------------------------------- hft
class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")
    symbol: StrictStr | None = None
    x: list[list[FiniteNumber]]


WINDOWS = TypeAdapter(list[Window])


def windows_array(windows: list[Window], seq_len: int, n_features: int) -> np.ndarray:
    """``[n, L, F]`` float32, or 422 naming the window with a wrong length / feature count."""
    for i, w in enumerate(windows):
        if len(w.x) != seq_len:
            raise HTTPError(422, f"windows[{i}].x: window length {len(w.x)}, the model needs "
                                 f"{seq_len} rows", row=i, field="x")
        for j, r in enumerate(w.x):
            if len(r) != n_features:
                raise HTTPError(422, f"windows[{i}].x[{j}]: {len(r)} features, the model needs "
                                     f"{n_features}", row=i, field="x")
    return np.asarray([w.x for w in windows], np.float32)


def tick_adapter(fields: tuple[str, ...]) -> TypeAdapter:
    """Validator of a list of ticks: ``symbol``, ``timestamp`` (ns since the epoch, or an
    ISO-8601 string; UTC), the OHLCV fields (finite numbers) and the quote fields (finite or
    null = missing quote) the model uses."""
    quote = {"bid", "ask", "bid_volume", "ask_volume"}
    spec: dict[str, Any] = {"symbol": (StrictStr, ...), "timestamp": (StrictInt | StrictStr, ...)}
    for f in fields:
        spec[f] = (FiniteNumber | None, None) if f in quote else (FiniteNumber, ...)
    return TypeAdapter(list[create_model("Tick", __config__=ConfigDict(extra="forbid"), **spec)])


def timestamp_ns(value: int | str, i: int) -> int:
    if isinstance(value, int):
        return value
    try:
        ts = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise UserError(f"ticks[{i}].timestamp: not a timestamp: {value!r}") from None
    if ts is pd.NaT:
        raise UserError(f"ticks[{i}].timestamp: not a timestamp: {value!r}")
    if ts.tzinfo is None:
        ts = ts.tz_localize("UTC")
    return int(ts.value)
