"""Background work: run in-process by default (RQ workers on Redis in production).

A job is a plain function and its arguments; the queue wraps each call (the app
passes a wrapper that pushes an application context) so jobs need no web request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any, Protocol

log = logging.getLogger(__name__)

Job = Callable[..., Any]


class JobQueue(Protocol):
    def enqueue(self, job: Job, *args: Any) -> None: ...

    def wait_idle(self, timeout: float = 30.0) -> None: ...


class InlineJobs:
    """Runs each job at once in the caller's thread: for tests and one-off commands."""

    def __init__(self, wrap: Callable[[Job], Job]) -> None:
        self._wrap = wrap

    def enqueue(self, job: Job, *args: Any) -> None:
        self._wrap(job)(*args)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Nothing to wait for: every job ran when it was queued."""


class InProcessJobs:
    """Runs jobs on a small thread pool inside the web process."""

    def __init__(self, wrap: Callable[[Job], Job], workers: int = 2) -> None:
        self._wrap = wrap
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._pending: set[Future[Any]] = set()

    def enqueue(self, job: Job, *args: Any) -> None:
        future = self._executor.submit(self._wrap(job), *args)
        self._pending.add(future)
        future.add_done_callback(self._finished)

    def _finished(self, future: Future[Any]) -> None:
        self._pending.discard(future)
        if error := future.exception():
            log.error("background job failed", exc_info=error)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued job has finished (for commands and tests)."""
        wait(list(self._pending), timeout=timeout)
