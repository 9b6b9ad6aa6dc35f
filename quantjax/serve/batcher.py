"""Dynamic micro-batching: concurrent requests coalesced into one compiled call.

``await batcher.submit(item, rows)`` queues a request of ``rows`` rows and returns its result.
One worker thread takes the oldest request, then keeps collecting until ``max_batch_rows``
rows are queued or ``max_wait_s`` has passed since that request arrived, and calls
``process(items) -> results`` once for the whole batch (one result per item, in order; an
item's result may be an exception, which is raised to its caller alone). The queue holds at
most ``max_queue_rows`` rows: :meth:`MicroBatcher.submit` raises :class:`QueueFull` (HTTP
429) instead of growing. If a whole batch fails, each item is retried alone, so one bad
request cannot fail the others.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any


class QueueFull(Exception):
    """The bounded queue has no room for the request."""


class _Pending:
    __slots__ = ("item", "rows", "future", "loop", "t0")

    def __init__(self, item, rows, future, loop):
        self.item, self.rows, self.future, self.loop = item, rows, future, loop
        self.t0 = time.perf_counter()


def _resolve(future: asyncio.Future, result) -> None:
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


class MicroBatcher:
    """See module docstring. ``on_batch(rows, queue_rows)`` (optional) observes every batch."""

    def __init__(self, name: str, process: Callable[[list], list], max_batch_rows: int,
                 max_wait_s: float, max_queue_rows: int,
                 on_batch: Callable[[int, int], None] | None = None):
        self.name = name
        self.process = process
        self.max_batch_rows = int(max_batch_rows)
        self.max_wait_s = float(max_wait_s)
        self.max_queue_rows = int(max_queue_rows)
        self.on_batch = on_batch
        self._queue: deque[_Pending] = deque()
        self._rows = 0
        self._cv = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._thread.start()

    @property
    def queued_rows(self) -> int:
        return self._rows

    def submit(self, item: Any, rows: int) -> asyncio.Future:
        """Queue ``item`` (``rows`` rows); the returned future gets its result."""
        loop = asyncio.get_running_loop()
        fut = loop.create_future()
        with self._cv:
            if self._stop:
                raise QueueFull(f"{self.name}: the service is shutting down")
            if self._rows + rows > self.max_queue_rows and self._queue:
                raise QueueFull(f"{self.name}: queue full ({self._rows} rows waiting, limit "
                                f"{self.max_queue_rows}); retry later")
            self._queue.append(_Pending(item, rows, fut, loop))
            self._rows += rows
            self._cv.notify()
        return fut

    def _take(self) -> list[_Pending] | None:
        with self._cv:
            while not self._queue:
                if self._stop:
                    return None
                self._cv.wait()
            first = self._queue[0]
            deadline = first.t0 + self.max_wait_s
            while True:
                total = 0
                for p in self._queue:
                    total += p.rows
                    if total >= self.max_batch_rows:
                        break
                left = deadline - time.perf_counter()
                if total >= self.max_batch_rows or left <= 0 or self._stop:
                    break
                self._cv.wait(left)
            batch, rows = [self._queue.popleft()], first.rows
            while self._queue and rows + self._queue[0].rows <= self.max_batch_rows:
                p = self._queue.popleft()
                batch.append(p)
                rows += p.rows
            self._rows -= rows
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take()
            if batch is None:
                return
            if self.on_batch is not None:
                self.on_batch(sum(p.rows for p in batch), self._rows)
            try:
                results = self.process([p.item for p in batch])
            except Exception:  # noqa: BLE001 - retried one by one below
                results = []
                for p in batch:
                    try:
                        results.append(self.process([p.item])[0])
                    except Exception as e:  # noqa: BLE001 - this request's own failure
                        results.append(e)
            for p, r in zip(batch, results, strict=True):
                p.loop.call_soon_threadsafe(_resolve, p.future, r)

    def close(self, timeout: float = 30.0) -> None:
        """Process what is queued, then stop the worker."""
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self._thread.join(timeout)
