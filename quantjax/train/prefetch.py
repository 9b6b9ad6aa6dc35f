"""Background prefetching of host-gathered batches for the host training loop.

Used when the training data is larger than ``train.device_data_limit_mb``: the data stays in
host memory, and a worker thread gathers the next chunks of batches (``task.host_batch``)
and copies them to the device (``jax.device_put``) while the current chunk trains.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import jax
import numpy as np

_DONE = object()


class Prefetcher:
    """Iterate ``put(make(item))`` for ``item`` in ``items``, ``depth`` items ahead, computed
    in a daemon thread (``put`` defaults to ``jax.device_put``; the data-parallel loop passes
    one that builds global arrays split over the mesh). Exceptions of the worker are
    re-raised by the iterator. Use as a context manager (or call :meth:`close`) to stop the
    worker early."""

    def __init__(self, make: Callable[[Any], Any], items: Iterable, depth: int = 2,
                 put: Callable[[Any], Any] = jax.device_put):
        self._q: queue.Queue = queue.Queue(maxsize=max(1, depth))
        self._stop = threading.Event()
        self._put_fn = put
        self._thread = threading.Thread(target=self._work, args=(make, list(items)), daemon=True)
        self._thread.start()

    def _put(self, x) -> bool:
        while not self._stop.is_set():
            try:
                self._q.put(x, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self, make, items) -> None:
        try:
            for it in items:
                if self._stop.is_set() or not self._put(self._put_fn(make(it))):
                    return
        except BaseException as e:  # noqa: BLE001 - handed to the consumer
            self._put(e)
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator:
        while True:
            x = self._q.get()
            if x is _DONE:
                return
            if isinstance(x, BaseException):
                raise x
            yield x

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def __enter__(self) -> Prefetcher:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def chunk_rows(perm: np.ndarray, chunk: int) -> list[np.ndarray]:
    """Split an epoch's ``perm[nb, B]`` rows into ``[chunk, B]`` pieces; the last piece is
    padded with the last batch (those steps are inactive, as in the on-device path)."""
    nb = perm.shape[0]
    out = []
    for a in range(0, nb, chunk):
        rows = np.asarray(perm[a:a + chunk])
        if len(rows) < chunk:
            rows = np.concatenate([rows, np.repeat(rows[-1:], chunk - len(rows), 0)])
        out.append(rows)
    return out


def tree_nbytes(tree: Any) -> int:
    """Total bytes of the array leaves of ``tree``."""
    return int(sum(np.asarray(a).nbytes if not hasattr(a, "nbytes") else a.nbytes
                   for a in jax.tree.leaves(tree)))
