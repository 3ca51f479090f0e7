"""Background work: run in-process by default, RQ workers on Redis in production.

A job is a plain function and its arguments; the queue wraps each call (the app
passes a wrapper that pushes an application context) so jobs need no web request.
On Redis the job travels as its dotted path and JSON arguments, and the worker
process (``flask worker``) pushes the context itself. Redis stopped or slow makes
``enqueue`` raise ``ServiceUnavailable`` within seconds (short socket timeouts, one
retry); the worker raises its own connection's read timeout above its blocking wait.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from redis import Redis
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry as RedisRetry
from rq import Queue, Retry, get_current_job
from rq.exceptions import InvalidJobOperation, NoSuchJobError
from rq.job import Job as RqJob
from rq.serializers import JSONSerializer
from rq.utils import import_attribute

from portal.adapters import metrics
from portal.adapters.errors import JOB_QUEUE, ServiceUnavailable

log = logging.getLogger(__name__)

Job = Callable[..., Any]
# Backoff between the attempts of a failing job on Redis (seconds): three retries.
RETRY_INTERVALS = (10, 60, 300)
# Seconds: queuing a job from a web request gives up quickly when Redis does not answer.
REDIS_CONNECT_TIMEOUT = 2.0
REDIS_SOCKET_TIMEOUT = 5.0


class JobQueue(Protocol):
    def enqueue(self, job: Job, *args: Any) -> None: ...

    def wait_idle(self, timeout: float = 30.0) -> None: ...


def _counted(job: Job, run: Job) -> Job:
    """``run`` (``job`` wrapped), counting whether it completed or failed."""

    def counted(*args: Any) -> Any:
        try:
            result = run(*args)
        except BaseException:
            metrics.job_failed(job)
            raise
        metrics.job_completed(job)
        return result

    return counted


class InlineJobs:
    """Runs each job at once in the caller's thread: for tests and one-off commands."""

    def __init__(self, wrap: Callable[[Job], Job]) -> None:
        self._wrap = wrap

    def enqueue(self, job: Job, *args: Any) -> None:
        metrics.job_enqueued(job)
        _counted(job, self._wrap(job))(*args)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Nothing to wait for: every job ran when it was queued."""


class InProcessJobs:
    """Runs jobs on a small thread pool inside the web process."""

    def __init__(self, wrap: Callable[[Job], Job], workers: int = 2) -> None:
        self._wrap = wrap
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="job")
        self._pending: set[Future[Any]] = set()
        self._in_job = threading.local()

    def enqueue(self, job: Job, *args: Any) -> None:
        metrics.job_enqueued(job)
        future = self._executor.submit(self._run, _counted(job, self._wrap(job)), *args)
        self._pending.add(future)
        future.add_done_callback(self._finished)

    def _run(self, job: Job, *args: Any) -> Any:
        self._in_job.active = True
        try:
            return job(*args)
        finally:
            self._in_job.active = False

    def _finished(self, future: Future[Any]) -> None:
        self._pending.discard(future)
        if error := future.exception():
            log.error("background job failed", exc_info=error)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until every queued job has finished (for commands and tests).

        A job that queues more work (a scheduled run filing letters) does not wait: it
        would be waiting for itself.
        """
        if not getattr(self._in_job, "active", False):
            wait(list(self._pending), timeout=timeout)


@dataclass(frozen=True)
class FailedJob:
    """A job on Redis that failed every attempt, as the agency admins see it."""

    id: str
    function: str
    arguments: str
    error: str
    failed_at: datetime | None
    retries_left: int


def job_path(job: Job) -> str:
    """The dotted path a worker imports ``job`` by; refused unless that finds it again."""
    path = f"{job.__module__}.{job.__qualname__}"
    if job.__module__ == "__main__" or "<" in job.__qualname__:
        raise ValueError(f"{path} cannot be queued: a job must be a module-level function")
    if import_attribute(path) is not job:
        raise ValueError(f"{path} cannot be queued: it does not import as itself")
    return path


class RedisJobs:
    """Jobs on an RQ queue in Redis, run by ``flask worker`` processes on any machine.

    Arguments travel as JSON (ids, ISO dates: see portal.jobs), never pickled. A job
    that raises is tried again after each of ``retry_intervals`` seconds, then kept in
    RQ's failed job registry, where an agency admin sees it and may queue it again.
    """

    def __init__(
        self,
        connection: Redis,
        queue_name: str = "portal",
        *,
        timeout: int = 3600,
        retry_intervals: Sequence[int] = RETRY_INTERVALS,
    ) -> None:
        self.connection = connection
        self.queue = Queue(
            queue_name, connection=connection, serializer=JSONSerializer, default_timeout=timeout
        )
        self._retry = Retry(max=len(retry_intervals), interval=list(retry_intervals))

    @classmethod
    def from_url(cls, url: str, queue_name: str, timeout: int) -> RedisJobs:
        connection = Redis.from_url(
            url,
            socket_connect_timeout=REDIS_CONNECT_TIMEOUT,
            socket_timeout=REDIS_SOCKET_TIMEOUT,
            retry=RedisRetry(NoBackoff(), 1),
        )
        return cls(connection, queue_name, timeout=timeout)

    def enqueue(self, job: Job, *args: Any) -> None:
        path = job_path(job)
        try:
            self.queue.enqueue(path, *args, retry=self._retry)
        except (RedisConnectionError, RedisTimeoutError) as error:
            raise ServiceUnavailable(JOB_QUEUE, type(error).__name__) from error
        metrics.job_enqueued(path)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """Block until the queue is empty and no job is running, or ``timeout`` passes.

        Inside a job this returns at once: the work it queued runs after it. Jobs waiting
        for a retry are not waited for.
        """
        if get_current_job() is not None:
            return
        deadline = time.monotonic() + timeout
        while self.queue.count or self.queue.started_job_registry.count:
            if time.monotonic() >= deadline:
                log.warning("jobs still queued or running after %.0f s", timeout)
                return
            time.sleep(0.1)

    def failed_count(self) -> int:
        return int(self.queue.failed_job_registry.count)

    def failed_jobs(self, limit: int = 100) -> list[FailedJob]:
        """The ``limit`` most recent failures, newest first."""
        ids = self.queue.failed_job_registry.get_job_ids(0, limit - 1, desc=True)
        jobs = RqJob.fetch_many(ids, connection=self.connection, serializer=JSONSerializer)
        return [_failed(job) for job in jobs if job is not None]

    def retry_failed(self, job_id: str) -> bool:
        """Queue a failed job again for one more attempt; False if there is no such job."""
        try:
            self.queue.failed_job_registry.requeue(job_id)
        except (NoSuchJobError, InvalidJobOperation):
            return False
        return True


def _failed(job: RqJob) -> FailedJob:
    result = job.latest_result()
    trace = (result.exc_string if result is not None else None) or ""
    lines = [line for line in trace.strip().splitlines() if line.strip()]
    try:
        arguments = ", ".join(repr(argument) for argument in job.args)
    except Exception:  # a job whose data no longer loads is still listed
        arguments = "(unreadable)"
    return FailedJob(
        id=job.id,
        function=job.func_name or "(unknown)",
        arguments=arguments,
        error=lines[-1] if lines else "(no error recorded)",
        failed_at=job.ended_at,
        retries_left=job.retries_left or 0,
    )
