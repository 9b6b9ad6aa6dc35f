"""Strict conversion between YAML mappings and frozen dataclasses.

Field constraints live in dataclass field metadata, built with :func:`spec`::

    @dataclasses.dataclass(frozen=True)
    class TrainConfig:
        lr: float = spec(1e-3, gt=0)
        loss: str = spec("mse", choices=("mse", "huber"))

Supported field types: ``int``, ``float``, ``bool``, ``str``, ``X | None``,
``tuple[X, ...]``, ``Literal[...]``, nested frozen dataclasses, and plug-in fields whose
dataclass is chosen from the mapping (``spec(..., select=...)``, e.g. a model by ``name``).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin, get_type_hints

import yaml

from quantjax.errors import ConfigError

T = TypeVar("T")

_MISSING = dataclasses.MISSING


def spec(
    default: Any = _MISSING,
    *,
    default_factory: Any = _MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    choices: tuple | None = None,
    doc: str = "",
    select: Any = None,
) -> Any:
    """A dataclass field with range/choice constraints checked at load time.

    ``select``: for a field holding one of several config dataclasses (a plug-in, e.g. a model
    chosen by its ``name``), a function ``select(mapping) -> dataclass type`` that picks the
    class the field's YAML mapping is loaded into (it raises :class:`ConfigError` for an
    unknown choice). Annotate such a field ``Any``."""
    meta = {"ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "doc": doc,
            "select": select}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Convert a YAML value to type ``tp`` or raise ConfigError naming ``where``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        args = get_args(tp)
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _convert(value, a, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{where}: invalid value {value!r}")
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
        return value
    if origin is tuple:
        args = get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {type(value).__name__} {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(v, args[0], f"{where}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{where}: expected {len(args)} items, got {len(value)}")
        return tuple(_convert(v, a, f"{where}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {type(value).__name__}")
        return from_dict(tp, value, prefix=f"{where}.")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{where}: unsupported config type {_type_name(tp)}")


def _check_range(value: Any, meta: typing.Mapping[str, Any], where: str) -> None:
    if value is None:
        return
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ConfigError(f"{where}: {value!r} is not one of {list(choices)}")
    items = value if isinstance(value, tuple) else (value,)
    for v in items:
        if not isinstance(v, (int, float)) or isinstance(v, bool):
            continue
        for key, ok, text in (
            ("ge", lambda a, b: a >= b, ">="),
            ("gt", lambda a, b: a > b, ">"),
            ("le", lambda a, b: a <= b, "<="),
            ("lt", lambda a, b: a < b, "<"),
        ):
            bound = meta.get(key)
            if bound is not None and not ok(v, bound):
                raise ConfigError(f"{where}: {v!r} is out of range (must be {text} {bound})")


def from_dict(cls: type[T], data: dict[str, Any] | None, prefix: str = "") -> T:
    """Build dataclass ``cls`` from a mapping, strictly.

    Raises ConfigError for unknown keys (listing the valid ones), missing required
    keys, wrong types and out-of-range values.
    """
    data = {} if data is None else data
    if not isinstance(data, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'}: expected a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = [k for k in data if k not in fields]
    if unknown:
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; valid keys: {', '.join(fields)}"
        )
    hints = get_type_hints(cls)
    kwargs = {}
    for name, f in fields.items():
        where = f"{prefix}{name}"
        if name in data:
            tp = hints[name]
            if f.metadata.get("select") is not None and isinstance(data[name], dict):
                tp = f.metadata["select"](data[name])
            value = _convert(data[name], tp, where)
        elif f.default is not _MISSING or f.default_factory is not _MISSING:
            continue
        else:
            raise ConfigError(f"missing required config key '{where}'")
        _check_range(value, f.metadata, where)
        kwargs[name] = value
    obj = cls(**kwargs)
    validate = getattr(obj, "validate", None)
    if callable(validate):
        validate()
    return obj


def to_dict(cfg: Any) -> Any:
    """Plain YAML-serializable mapping of a (nested) config dataclass."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: to_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, (tuple, list)):
        return [to_dict(v) for v in cfg]
    return cfg


def apply_overrides(data: dict[str, Any], overrides: typing.Iterable[str]) -> dict[str, Any]:
    """Apply ``a.b=c`` overrides to a nested mapping; values are parsed as YAML."""
    out = dict(data)
    for item in overrides or ():
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected the form section.key=value")
        path, raw = item.split("=", 1)
        keys = [k for k in path.strip().split(".") if k]
        if not keys:
            raise ConfigError(f"--set {item!r}: empty key")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"--set {path}: cannot parse value {raw!r}: {e}") from None
        out = set_path(out, ".".join(keys), value)
    return out


def set_path(data: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    """Copy of nested mapping ``data`` with dotted ``key`` set to ``value``."""
    out = dict(data)
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        child = node.get(p)
        child = dict(child) if isinstance(child, dict) else {}
        node[p] = child
        node = child
    node[parts[-1]] = value
    return out


def load_dict(path: str | Path | None) -> dict[str, Any]:
    """Read a YAML mapping with ``yaml.safe_load``; ``None`` gives ``{}``."""
    if path is None:
        return {}
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file not found: {p}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: invalid YAML: {e}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: the top level must be a mapping")
    return data


def load(cls: type[T], path: str | Path | None = None, overrides: typing.Iterable[str] = ()) -> T:
    """Load config ``cls`` from a YAML file, then apply ``--set`` overrides."""
    return from_dict(cls, apply_overrides(load_dict(path), overrides))


def save(cfg: Any, folder: str | Path, name: str = "config.yaml") -> Path:
    """Write the resolved config as YAML into ``folder``; returns the path."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = folder / name
    out.write_text(yaml.safe_dump(to_dict(cfg), sort_keys=False))
    return out
