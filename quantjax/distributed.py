"""Multi-process runs with ``jax.distributed``: start-up, who writes, process-local data,
gathers and failing fast.

Every process of a run executes the same command on the same inputs (JAX's multi-controller
model): each builds the global arrays of a mesh over the devices of all processes from its
own part (:func:`from_process_local`, :func:`global_array`), ``jit`` runs one program over
them, and only process 0 writes run files (:func:`is_main_process`).

Start-up (:func:`initialize`, what ``--distributed`` calls before any JAX computation) reads:

- ``JAX_COORDINATOR_ADDRESS`` (``host:port`` of process 0), ``JAX_NUM_PROCESSES``,
  ``JAX_PROCESS_ID``: set by ``quantjax launch`` or by hand on every host; without them
  JAX's own cluster detection runs (SLURM's ``srun``, Cloud TPU, ...);
- ``QUANTJAX_CPU_DEVICES``: XLA CPU devices of each process (default 1);
- ``QUANTJAX_DISTRIBUTED_TIMEOUT``: seconds (default 60) for the processes to meet, for the
  heartbeat that detects a dead process and for the shutdown barrier.

Failing fast: a process whose command fails prints one line (``quantjax: error: [process
i/n] ...``) and leaves at once (:func:`exit_now`, no shutdown barrier); the others, blocked in
a collective, are ended by JAX's coordination service when the dead process misses its
heartbeat (after ``QUANTJAX_DISTRIBUTED_TIMEOUT`` seconds), or at once by ``quantjax launch``,
which stops every process when one fails (SIGTERM: one line, then exit).
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
from typing import Any

import jax
import numpy as np
from jax.experimental import multihost_utils

from quantjax.errors import UserError
from quantjax.platform import request_cpu_devices, use_cpu_collectives

ENV_FLAG = "QUANTJAX_DISTRIBUTED"
ENV_TIMEOUT = "QUANTJAX_DISTRIBUTED_TIMEOUT"
ENV_CPU_DEVICES = "QUANTJAX_CPU_DEVICES"
DEFAULT_TIMEOUT_S = 60
COORDINATOR_ENV = ("JAX_COORDINATOR_ADDRESS", "JAX_NUM_PROCESSES", "JAX_PROCESS_ID")


def requested(flag: bool) -> bool:
    """``--distributed`` given, or ``QUANTJAX_DISTRIBUTED=1`` in the environment."""
    return bool(flag) or os.environ.get(ENV_FLAG) == "1"


def timeout_s() -> int:
    """``QUANTJAX_DISTRIBUTED_TIMEOUT`` (seconds, default 60)."""
    raw = os.environ.get(ENV_TIMEOUT, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    if not raw.isdigit() or int(raw) < 1:
        raise UserError(f"{ENV_TIMEOUT}: must be a positive number of seconds, got {raw!r}")
    return int(raw)


def _cpu_devices() -> int:
    raw = os.environ.get(ENV_CPU_DEVICES, "").strip() or "1"
    if not raw.isdigit() or int(raw) < 1:
        raise UserError(f"{ENV_CPU_DEVICES}: must be a positive integer, got {raw!r}")
    return int(raw)


def initialize() -> None:
    """Join the run: gloo collectives for CPU devices, ``QUANTJAX_CPU_DEVICES`` CPU devices,
    then ``jax.distributed.initialize`` with the coordinator of the environment (or JAX's
    cluster detection) and the timeouts of :func:`timeout_s`. A second call is a no-op.
    Any failure to meet the other processes is a one-line :class:`UserError`."""
    if jax.distributed.is_initialized():
        return
    use_cpu_collectives()
    request_cpu_devices(_cpu_devices())
    kw: dict[str, Any] = {}
    if os.environ.get("JAX_COORDINATOR_ADDRESS"):
        missing = [k for k in COORDINATOR_ENV[1:] if not os.environ.get(k, "").strip()]
        if missing:
            raise UserError(f"--distributed: JAX_COORDINATOR_ADDRESS is set but {', '.join(missing)} "
                            "is not; set all three on every process (or use quantjax launch)")
        try:
            kw = dict(coordinator_address=os.environ["JAX_COORDINATOR_ADDRESS"],
                      num_processes=int(os.environ["JAX_NUM_PROCESSES"]),
                      process_id=int(os.environ["JAX_PROCESS_ID"]))
        except ValueError as e:
            raise UserError(f"--distributed: JAX_NUM_PROCESSES and JAX_PROCESS_ID must be "
                            f"integers ({e})") from None
    t = timeout_s()
    try:
        jax.distributed.initialize(**kw, initialization_timeout=t, heartbeat_timeout_seconds=t,
                                   shutdown_timeout_seconds=t)
    except (RuntimeError, ValueError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"--distributed: could not join the run ({first}); set "
                        "JAX_COORDINATOR_ADDRESS, JAX_NUM_PROCESSES and JAX_PROCESS_ID, run "
                        "under srun, or use quantjax launch") from None
    signal.signal(signal.SIGTERM, _on_sigterm)
    # the first collective sets up the CPU collectives' (gloo) context, whose key exchange
    # times out after 30 s: done here, while the processes are in step, and not at the first
    # step of a program that one process may finish compiling much later than another
    barrier("quantjax-start")


def is_active() -> bool:
    """True in a run of more than one process."""
    return jax.distributed.is_initialized() and jax.process_count() > 1


def is_main_process() -> bool:
    """True in process 0 (the one that writes run files), and in a single-process run."""
    return jax.process_index() == 0


def describe() -> str:
    """``process i/n`` of this process."""
    return f"process {jax.process_index()}/{jax.process_count()}"


def process_slice(n: int) -> slice:
    """This process's contiguous block of ``n`` rows (``np.array_split`` sizes: the first
    ``n % P`` processes get one row more)."""
    p, i = jax.process_count(), jax.process_index()
    base, extra = divmod(n, p)
    start = i * base + min(i, extra)
    return slice(start, start + base + (1 if i < extra else 0))


def global_array(x: Any, sharding) -> jax.Array:
    """A global array with ``sharding`` from a host (or one-device) array that every process
    holds in full (``jax.make_array_from_callback``: each process places its own shards)."""
    host = np.asarray(x)
    return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])


def global_tree(tree: Any, sharding) -> Any:
    """:func:`global_array` on every array leaf of ``tree``."""
    return jax.tree.map(lambda a: global_array(a, sharding), tree)


def from_process_local(local: Any, sharding, global_shape: tuple[int, ...]) -> jax.Array:
    """A global array of ``global_shape`` from this process's part ``local``
    (``jax.make_array_from_process_local_data``; ``local`` covers the rows of the mesh axis
    that this process's devices hold, see :func:`local_range`)."""
    return jax.make_array_from_process_local_data(sharding, np.asarray(local), global_shape)


def local_range(sharding, global_shape: tuple[int, ...], axis: int) -> tuple[int, int]:
    """``(start, stop)`` along ``axis`` of the part of a ``global_shape`` array with
    ``sharding`` that this process's devices hold (contiguous for a mesh whose devices are
    ordered by process, as ``jax.devices()`` is)."""
    idx = sharding.addressable_devices_indices_map(global_shape).values()
    starts = [(s[axis].start or 0) for s in idx]
    stops = [(s[axis].stop if s[axis].stop is not None else global_shape[axis]) for s in idx]
    return min(starts), max(stops)


def local_copy(tree: Any) -> Any:
    """Each fully replicated multi-device array leaf as its copy on this process's first
    device (no data moves); other leaves unchanged. Lets single-device code (validation,
    evaluation, export) use replicated results of a sharded program."""

    def one(a):
        if isinstance(a, jax.Array) and len(a.sharding.device_set) > 1:
            if not a.is_fully_replicated:
                raise ValueError("local_copy: a sharded (not replicated) array")
            return a.addressable_shards[0].data
        return a

    return jax.tree.map(one, tree)


def allgather_objects(obj: Any) -> list[Any]:
    """``[obj of process 0, obj of process 1, ...]`` on every process (pickled bytes through
    ``multihost_utils.process_allgather``); ``[obj]`` in a single-process run. Only for the
    run's own processes' results (never for outside data)."""
    if jax.process_count() == 1:
        return [obj]
    raw = np.frombuffer(pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL), np.uint8)
    sizes = np.asarray(multihost_utils.process_allgather(np.asarray([raw.size], np.int64)))
    sizes = sizes.reshape(-1)
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[:raw.size] = raw
    everything = np.asarray(multihost_utils.process_allgather(padded))
    return [pickle.loads(everything[i, :int(n)].tobytes()) for i, n in enumerate(sizes)]


def barrier(name: str) -> None:
    """Wait until every process reaches ``name`` (no-op in a single-process run)."""
    if jax.process_count() > 1:
        multihost_utils.sync_global_devices(name)


def exit_now(code: int) -> None:
    """Flush and leave at once, skipping ``jax.distributed``'s shutdown barrier (which would
    wait for processes that are blocked elsewhere)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _on_sigterm(signum, frame) -> None:  # noqa: ARG001 - signal handler signature
    if os.environ.get("QUANTJAX_LAUNCHED") != "1":  # quantjax launch prints the one line
        sys.stderr.write(f"quantjax: error: [{describe()}] stopped: another process of the run "
                         "failed or the run was cancelled (SIGTERM)\n")
    exit_now(128 + signal.SIGTERM)
