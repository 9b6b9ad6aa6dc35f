"""Strict config loading: unknown keys, types, ranges, overrides, saving."""

from __future__ import annotations

import dataclasses
from typing import Literal

import pytest
import yaml

from quantjax.config import apply_overrides, from_dict, load, save, spec, to_dict
from quantjax.errors import ConfigError


@dataclasses.dataclass(frozen=True)
class Inner:
    lr: float = spec(1e-3, gt=0)
    loss: str = spec("mse", choices=("mse", "huber"))
    mode: Literal["a", "b"] = "a"


@dataclasses.dataclass(frozen=True)
class Outer:
    name: str = "x"
    steps: int = spec(10, ge=1)
    windows: tuple[int, ...] = (5, 10)
    flag: bool = False
    seed: int | None = None
    inner: Inner = dataclasses.field(default_factory=Inner)


def test_defaults_and_nested():
    cfg = from_dict(Outer, {"inner": {"lr": 0.1}})
    assert cfg.inner.lr == 0.1 and cfg.steps == 10 and cfg.windows == (5, 10)
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 3  # type: ignore[misc]


def test_unknown_key_lists_valid_keys():
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, {"inner": {"lrr": 0.1}})
    msg = str(e.value)
    assert "inner.lrr" in msg and "lr" in msg and "loss" in msg and "mode" in msg


@pytest.mark.parametrize(
    "data, field",
    [
        ({"steps": "ten"}, "steps"),
        ({"steps": 1.5}, "steps"),
        ({"steps": True}, "steps"),
        ({"flag": "yes"}, "flag"),
        ({"windows": 5}, "windows"),
        ({"windows": [5, "a"]}, "windows[1]"),
        ({"inner": {"lr": "fast"}}, "inner.lr"),
        ({"inner": 3}, "inner"),
    ],
)
def test_wrong_type_names_field(data, field):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, data)
    assert field in str(e.value)


@pytest.mark.parametrize(
    "data, field",
    [
        ({"steps": 0}, "steps"),
        ({"inner": {"lr": 0.0}}, "inner.lr"),
        ({"inner": {"loss": "l1"}}, "inner.loss"),
        ({"inner": {"mode": "c"}}, "inner.mode"),
    ],
)
def test_out_of_range_names_field(data, field):
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, data)
    assert field in str(e.value)


def test_int_accepted_for_float_and_optional():
    cfg = from_dict(Outer, {"inner": {"lr": 1}, "seed": 3})
    assert isinstance(cfg.inner.lr, float) and cfg.seed == 3
    assert from_dict(Outer, {"seed": None}).seed is None


def test_overrides_parse_yaml_values():
    d = apply_overrides({"inner": {"lr": 0.1}}, ["inner.lr=0.5", "steps=20", "windows=[1, 2]"])
    cfg = from_dict(Outer, d)
    assert cfg.inner.lr == 0.5 and cfg.steps == 20 and cfg.windows == (1, 2)
    with pytest.raises(ConfigError):
        apply_overrides({}, ["novalue"])
    with pytest.raises(ConfigError) as e:
        from_dict(Outer, apply_overrides({}, ["inner.bogus=1"]))
    assert "inner.bogus" in str(e.value)


def test_load_and_save_roundtrip(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text("steps: 7\ninner:\n  loss: huber\n")
    cfg = load(Outer, p, ["inner.lr=0.01"])
    out = save(cfg, tmp_path / "run")
    again = from_dict(Outer, yaml.safe_load(out.read_text()))
    assert again == cfg
    assert to_dict(cfg)["inner"]["loss"] == "huber"


def test_load_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(Outer, tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="mapping"):
        load(Outer, bad)
    unsafe = tmp_path / "unsafe.yaml"
    unsafe.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load(Outer, unsafe)


def test_fixed_length_tuple():
    @dataclasses.dataclass(frozen=True)
    class Split:
        fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)

    assert from_dict(Split, {"fractions": [0.6, 0.2, 0.2]}).fractions == (0.6, 0.2, 0.2)
    with pytest.raises(ConfigError, match="fractions"):
        from_dict(Split, {"fractions": [0.6, 0.4]})
    with pytest.raises(ConfigError, match=r"fractions\[1\]"):
        from_dict(Split, {"fractions": [0.6, "x", 0.2]})
