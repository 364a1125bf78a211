"""The bounded inference pool: a fixed number of worker threads, a bounded queue, a per-request time limit.

Uploads are processed (decode, de-identify, predict, store) by ``workers`` threads; at most ``queue_limit`` more
requests wait for one. A request that finds the pool full is refused at once with 503 and a ``Retry-After``
(instead of piling up memory and latency); a request that waits and runs for longer than ``timeout_s`` gets 503
too, and its result is never stored (:class:`CommitGuard`), so a client is never told "failed" for a report that
then appears. Each worker has its own copy of the network (see :class:`~medimg.serve.service.PredictionService`),
so a heavy image occupies one worker while the small ones go through the others.

Example:
    >>> pool = InferencePool(workers=2, queue_limit=4, timeout_s=30)
    >>> # row = await pool.run(lambda guard: service.process(data, guard=guard))
"""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from medimg.interrupts import stop_when

T = TypeVar("T")


class Busy(Exception):
    """The pool cannot take the request now (full, or it ran out of time): HTTP 503, with ``Retry-After`` unless
    ``retry_after_s`` is ``None`` (the image itself took too long: the same request would again)."""

    def __init__(self, message: str, retry_after_s: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class Abandoned(Exception):
    """Raised in a worker whose request has already been answered (timed out): its result must not be stored."""


class CommitGuard:
    """Settles, once, whether a request's result is stored (by the worker) or abandoned (by the time limit)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._abandoned = False
        self.started_at: float | None = None  # when a worker took it up (perf_counter)

    def check(self) -> None:
        """Raise :class:`Abandoned` when the request has been given up (cheap: call it between steps)."""
        if self._abandoned:
            raise Abandoned

    def commit(self, store: Callable[[], T]) -> T:
        """Run ``store`` unless the request was abandoned (then raise :class:`Abandoned`); an abandon waits for it."""
        with self._lock:
            self.check()
            return store()

    def abandon(self) -> bool:
        """Give the request up unless its result is being or has been stored; True if it was given up.

        Never blocks: a commit in progress holds the lock, and then the result is about to exist.
        """
        if not self._lock.acquire(blocking=False):
            return False
        try:
            self._abandoned = True
            return True
        finally:
            self._lock.release()


class InferencePool:
    """``workers`` threads, ``queue_limit`` waiting places, ``timeout_s`` per request (queueing included).

    Args:
        workers: requests processed at the same time (each holds one decoded image and one network copy).
        queue_limit: requests allowed to wait for a worker; one more is refused with :class:`Busy`.
        timeout_s: a request not finished this long after it arrived is answered with :class:`Busy`.
    """

    def __init__(self, workers: int, queue_limit: int, timeout_s: float) -> None:
        self.workers = workers
        self.queue_limit = queue_limit
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="medimg-inference")
        self._slots = threading.BoundedSemaphore(workers + queue_limit)
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self._mean_s = 1.0  # moving average of a request's processing time, for Retry-After
        self._running: set[CommitGuard] = set()  # the requests on a worker now

    @property
    def in_flight(self) -> int:
        """Requests running or waiting now."""
        return self._in_flight

    def retry_after_s(self) -> int:
        """A fair ``Retry-After``: the time for the work now in flight to drain through the workers (1..60 s)."""
        return max(1, min(60, math.ceil(self._mean_s * max(1, self._in_flight) / self.workers)))

    def _release(self, _future: Future[Any]) -> None:
        with self._count_lock:
            self._in_flight -= 1
        self._slots.release()

    def _timed(self, job: Callable[[CommitGuard], T], guard: CommitGuard) -> T:
        guard.check()  # timed out while it waited: do not start
        started = guard.started_at = time.perf_counter()
        with self._count_lock:
            self._running.add(guard)
        try:
            with stop_when(guard.check):  # given up: the prediction stops at its next batch or window
                return job(guard)
        finally:
            with self._count_lock:
                self._running.discard(guard)
            self._mean_s = 0.8 * self._mean_s + 0.2 * (time.perf_counter() - started)

    async def run(self, job: Callable[[CommitGuard], T]) -> T:
        """Run ``job(guard)`` on a worker; ``job`` must store its result through ``guard.commit``.

        Raises:
            Busy: the pool is full, or the request took longer than ``timeout_s``.
        """
        if not self._slots.acquire(blocking=False):
            raise Busy(
                f"the server is busy ({self.workers} image(s) in progress and {self.queue_limit} waiting); "
                "retry after the time in the Retry-After header",
                self.retry_after_s(),
            )
        with self._count_lock:
            self._in_flight += 1
        guard = CommitGuard()
        future = self._executor.submit(self._timed, job, guard)
        future.add_done_callback(self._release)
        waiting = asyncio.wrap_future(future)
        waiting.add_done_callback(_retrieve)  # an abandoned job's Abandoned is expected: never "unretrieved"
        try:
            return await asyncio.wait_for(asyncio.shield(waiting), self.timeout_s)
        except Abandoned:  # given up by close(): the server is shutting down
            raise Busy("the server is shutting down; nothing was stored. Retry shortly", 5) from None
        except asyncio.TimeoutError:
            if not guard.abandon():  # it is being stored right now: the result is moments away
                return await waiting
            ran = time.perf_counter() - guard.started_at if guard.started_at is not None else 0.0
            if ran >= self.timeout_s / 2:  # mostly its own work, not the wait for a worker: a retry takes as long
                raise Busy(
                    f"the image took longer than the server's limit of {self.timeout_s:g} s to process "
                    f"({ran:.1f} s of it on a worker); nothing was stored. Sending it again will take as long: send "
                    "a smaller image, or ask the operator to raise the limit (medimg serve --timeout)",
                    None,
                ) from None
            raise Busy(
                f"the request waited for a worker and ran past the limit of {self.timeout_s:g} s; nothing was "
                "stored. Retry after the time in the Retry-After header",
                self.retry_after_s(),
            ) from None

    def close(self) -> None:
        """Stop taking work; waiting requests are dropped, running ones stop at their next batch unless their result
        is being stored (so a server shutting down does not wait for a long prediction)."""
        self._executor.shutdown(wait=False, cancel_futures=True)
        with self._count_lock:
            running = list(self._running)
        for guard in running:
            guard.abandon()


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
