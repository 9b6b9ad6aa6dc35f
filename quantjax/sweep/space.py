"""Search spaces: grid and random trials, split into traced and shape-changing (static) keys.

A trial is a ``dict`` ``{dotted key: value}``. Keys that are traced leaves of the compiled
program (learning rate, risk limits...) vary inside one vmapped program; all other keys
(hidden size, sequence length...) change shapes, so trials are grouped by their static
values and every group is its own compiled program.
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from quantjax.errors import ConfigError

DISTRIBUTIONS = ("uniform", "log_uniform", "int_uniform", "choice")


def flatten_params(params: dict, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"learning_rate": [..]}}`` and ``{"train.learning_rate": [..]}`` alike."""
    out: dict[str, Any] = {}
    for k, v in params.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and not (set(v) & set(DISTRIBUTIONS)):
            out.update(flatten_params(v, key + "."))
        else:
            out[key] = v
    return out


def _dist(key: str, v: Any, method: str) -> tuple[str, Any]:
    where = f"search.params.{key}"
    if isinstance(v, dict):
        if len(v) != 1:
            raise ConfigError(f"{where}: expected one of {list(DISTRIBUTIONS)}, got {list(v)}")
        name, arg = next(iter(v.items()))
        if name == "choice":
            if not isinstance(arg, list) or not arg:
                raise ConfigError(f"{where}.choice: expected a non-empty list")
            return "choice", list(arg)
        if method == "grid":
            raise ConfigError(f"{where}: grid search needs a list of values, got {name}")
        ok = isinstance(arg, list) and len(arg) == 2 and all(
            isinstance(a, (int, float)) and not isinstance(a, bool) for a in arg)
        if not ok or not arg[0] <= arg[1]:
            raise ConfigError(f"{where}.{name}: expected [low, high] numbers with low <= high")
        if name == "log_uniform" and arg[0] <= 0:
            raise ConfigError(f"{where}.log_uniform: bounds must be > 0")
        return name, (arg[0], arg[1])
    if isinstance(v, list):
        if not v:
            raise ConfigError(f"{where}: empty list of values")
        return "choice", list(v)
    return "choice", [v]  # a fixed value


def parse_space(params: dict, method: str) -> dict[str, tuple[str, Any]]:
    """``{key: (distribution, argument)}`` in the order of the YAML."""
    if not isinstance(params, dict) or not params:
        raise ConfigError("search.params: expected a non-empty mapping of key -> values")
    return {k: _dist(k, v, method) for k, v in flatten_params(params).items()}


def _to_python(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def grid_trials(space: dict[str, tuple[str, Any]]) -> list[dict[str, Any]]:
    """Cartesian product (last key varies fastest)."""
    keys = list(space)
    values = [space[k][1] for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def random_trials(space: dict[str, tuple[str, Any]], n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` independent draws; the same seed gives the same trials."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        t = {}
        for k, (name, arg) in space.items():
            if name == "choice":
                t[k] = arg[int(rng.integers(len(arg)))]
            elif name == "uniform":
                t[k] = float(rng.uniform(arg[0], arg[1]))
            elif name == "log_uniform":
                t[k] = float(math.exp(rng.uniform(math.log(arg[0]), math.log(arg[1]))))
            else:
                t[k] = int(rng.integers(math.ceil(arg[0]), math.floor(arg[1]) + 1))
        out.append({k: _to_python(v) for k, v in t.items()})
    return out


def make_trials(search) -> list[dict[str, Any]]:
    """Trials of a :class:`quantjax.sweep.config.SearchConfig`."""
    space = parse_space(search.params, search.method)
    if search.method == "grid":
        return grid_trials(space)
    return random_trials(space, search.n_trials, search.seed)


def _hashable(v: Any) -> Any:
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def group_trials(trials: list[dict[str, Any]], is_traced) -> list[tuple[dict, list[int]]]:
    """``[(static values, trial indices)]`` in order of first appearance."""
    groups: dict[Any, tuple[dict, list[int]]] = {}
    for i, t in enumerate(trials):
        static = {k: v for k, v in t.items() if not is_traced(k)}
        key = _hashable(static)
        groups.setdefault(key, (static, []))[1].append(i)
    return list(groups.values())


