"""Data parallelism and mixed precision for the trainer, through ``jax.sharding`` only.

Data parallelism (``train.data_parallel``): a 1-D mesh ``("data",)`` over every device of the
run (all processes of a ``jax.distributed`` run). The train state and the training data are
replicated (``NamedSharding(mesh, P())``); each step's batch rows are constrained to
``P("data")``, so ``jit`` partitions the forward and backward pass over the batch and
inserts the gradient reduction itself. The global batch is ``train.batch_size`` whatever the
device count, and the RNG streams do not depend on the sharding
(``jax_threefry_partitionable``), so results on 1, 2 or 8 devices agree to float32 rounding
(the reduction order differs).

Mixed precision (``train.precision: bf16``): the loss is computed on bfloat16 copies of the
params and of the floating-point data (:func:`compute_cast`); the gradient flows back through
the cast to the float32 params, so gradients, optimizer state, the loss value and validation
stay float32.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from quantjax.errors import ConfigError
from quantjax.train.config import TrainConfig

DATA_AXIS = "data"
COMPUTE_DTYPES = {"fp32": jnp.float32, "bf16": jnp.bfloat16}


def data_mesh(cfg: TrainConfig, batch: int) -> Mesh | None:
    """The ``("data",)`` mesh of every device of the run, or None (one device, or
    ``train.data_parallel: never``). ``batch`` (the global batch) must divide evenly."""
    n = jax.device_count()
    if cfg.data_parallel == "never" or (cfg.data_parallel == "auto" and n == 1):
        return None
    if batch % n:
        raise ConfigError(
            f"train.batch_size: the global batch of {batch} does not split evenly over the "
            f"{n} devices of the data-parallel mesh; choose a multiple of {n} or set "
            "train.data_parallel=never")
    return Mesh(np.asarray(jax.devices()), (DATA_AXIS,))


def replicated(mesh: Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def batch_sharding(mesh: Mesh, batch_axis: int = 0) -> NamedSharding:
    """Arrays whose axis ``batch_axis`` is the batch: split over the data axis."""
    return NamedSharding(mesh, P(*([None] * batch_axis), DATA_AXIS))


def constrain_batch(tree: Any, mesh: Mesh | None, batch_axis: int = 0) -> Any:
    """``tree`` inside ``jit`` with every leaf's ``batch_axis`` split over the data axis
    (identity without a mesh)."""
    if mesh is None:
        return tree
    return jax.tree.map(lambda a: jax.lax.with_sharding_constraint(
        a, batch_sharding(mesh, batch_axis)), tree)


def compute_dtype(cfg: TrainConfig):
    return COMPUTE_DTYPES[cfg.precision]


def compute_cast(tree: Any, dtype) -> Any:
    """Floating-point leaves of ``tree`` as ``dtype`` (integer, bool and key leaves as they
    are); identity for float32."""
    if dtype == jnp.float32:
        return tree

    def one(a):
        a = jnp.asarray(a)
        return a.astype(dtype) if jnp.issubdtype(a.dtype, jnp.floating) else a

    return jax.tree.map(one, tree)
