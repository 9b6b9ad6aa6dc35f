"""Scale-out: a ``("trial", "symbol")`` device mesh, padding, global arrays, host gathers.

The sweep axis (and, for backtests, the symbol axis) is padded to a multiple of the mesh
size along that axis, placed with ``NamedSharding`` and the padding is dropped after the
run. Every trial (and symbol book) is computed independently, so results do not depend on
the device layout. Multi-process (``--distributed``, :mod:`quantjax.distributed`): the mesh
spans the devices of every process, arrays are built with ``jax.make_array_from_callback``
and gathered with ``multihost_utils.process_allgather``, so every process runs the same
program.
"""

from __future__ import annotations

import math
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from quantjax.errors import ConfigError

AXES = ("trial", "symbol")


def largest_divisor_at_most(n: int, cap: int) -> int:
    return max(d for d in range(1, n + 1) if n % d == 0 and d <= max(cap, 1))


def make_mesh(n_trials: int, n_symbols: int = 1, shard: bool = True,
              mesh_symbols: int = 0) -> Mesh:
    """Mesh ``(trial, symbol)`` over all devices (one device when ``shard`` is False).

    Auto layout: as many devices on the trial axis as divide the device count without
    exceeding ``n_trials``; the rest go to the symbol axis (when there are symbols).
    """
    devs = jax.devices() if shard else jax.devices()[:1]
    n = len(devs)
    if mesh_symbols:
        if n % mesh_symbols:

            raise ConfigError(f"sweep.mesh_symbols: {mesh_symbols} does not divide the "
                              f"{n} devices")
        n_sym = mesh_symbols
    elif n_symbols > 1:
        n_sym = n // largest_divisor_at_most(n, n_trials)
    else:
        n_sym = 1
    return Mesh(np.asarray(devs).reshape(n // n_sym, n_sym), AXES)


def round_up(n: int, multiple: int) -> int:
    return max(math.ceil(n / multiple), 1) * multiple


def pad_axis(x: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Pad ``x`` along ``axis`` to ``size`` by repeating its last entry (valid values)."""
    x = np.asarray(x)
    n = x.shape[axis]
    if n == size:
        return x
    idx = np.concatenate([np.arange(n), np.full(size - n, n - 1)])
    return np.take(x, idx, axis=axis)


def put(x: Any, mesh: Mesh, spec: P) -> jax.Array:
    """Global array with ``NamedSharding(mesh, spec)`` from a host array (multi-host safe)."""
    x = np.asarray(x)
    sharding = NamedSharding(mesh, spec)
    return jax.make_array_from_callback(x.shape, sharding, lambda idx: x[idx])


def put_tree(tree: Any, mesh: Mesh, spec_fn) -> Any:
    """:func:`put` on every leaf; ``spec_fn(leaf) -> PartitionSpec``."""
    return jax.tree.map(lambda a: put(a, mesh, spec_fn(np.asarray(a))), tree)


def to_host(tree: Any) -> Any:
    """Numpy copy of a (possibly multi-host sharded) pytree."""
    if jax.process_count() > 1:

        return multihost_utils.process_allgather(tree, tiled=True)
    return jax.tree.map(np.asarray, tree)
