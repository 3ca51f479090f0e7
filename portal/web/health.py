"""Health endpoints for the load balancer and the orchestrator.

- ``GET /healthz``: the process is alive and answers (liveness: restart it if not).
- ``GET /readyz``: the process can do its work: the database answers ``SELECT 1``, Redis
  answers ``PING`` (when ``REDIS_URL`` is set) and the document store answers a cheap
  call. 200 with each check's result, 503 naming the ones that failed (readiness: send
  it no traffic until it passes).

Both answer anyone without signing in: they say only "ok" or the kind of error, never
its message (which may name hosts). The full error goes to the log.

The checks run side by side on a small pool of threads, each given ``CHECK_TIMEOUT``
seconds: a database or store that does not answer at all (a dropped packet rather than
a refused connection) makes the check fail on time instead of holding the probe. A check
still hanging from an earlier probe is not started again, so a dead dependency cannot
pile up threads.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Flask, Response, jsonify
from sqlalchemy import Engine

from portal.adapters.storage import Storage
from portal.config import Settings

CHECK_TIMEOUT = 2.0  # seconds, for each check, all running at once
OK = "ok"
SKIPPED = "not configured"

log = logging.getLogger(__name__)
Check = Callable[[], None]


@dataclass
class Readiness:
    """The checks of one app, and the runs of them still in flight."""

    checks: dict[str, Check]
    timeout: float = CHECK_TIMEOUT
    _running: dict[str, Future[None]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")
    )

    def _start(self, name: str) -> Future[None]:
        with self._lock:
            running = self._running.get(name)
            if running is None or running.done():
                running = self._running[name] = self._pool.submit(self.checks[name])
            return running

    def run(self) -> dict[str, str]:
        """Each check's result: "ok", or what went wrong."""
        futures = {name: self._start(name) for name in self.checks}
        return {name: self._outcome(name, future) for name, future in futures.items()}

    def _outcome(self, name: str, future: Future[None]) -> str:
        try:
            future.result(timeout=self.timeout)
        except FutureTimeout:
            log.warning("readiness check %s: no answer within %.1f s", name, self.timeout)
            return "timed out"
        except Exception as error:
            log.warning("readiness check %s failed: %r", name, error)
            return f"failed: {type(error).__name__}"
        return OK


def database_check(engine: Engine) -> Check:
    # On the DBAPI connection, past the engine's transaction hooks: on SQLite those take
    # the write lock at BEGIN, and a probe must not queue behind a writer.
    def check() -> None:
        connection = engine.raw_connection()
        try:
            cursor = connection.cursor()
            cursor.execute("SELECT 1")
            cursor.fetchall()
            cursor.close()
        finally:
            connection.close()  # back to the pool, rolled back

    return check


def redis_check(url: str) -> Check:
    client = redis.Redis.from_url(url, socket_connect_timeout=CHECK_TIMEOUT,
                                  socket_timeout=CHECK_TIMEOUT)  # fmt: skip

    def check() -> None:
        client.ping()

    return check


def storage_check(storage: Storage) -> Check:
    def check() -> None:
        storage.ping()

    return check


def readiness_for(app: Flask, settings: Settings) -> Readiness:
    checks: dict[str, Check] = {
        "database": database_check(app.extensions["portal.engine"]),
        "storage": storage_check(app.extensions["portal.storage"]),
    }
    if settings.redis_url:
        checks["redis"] = redis_check(settings.redis_url)
    return Readiness(checks)


def register_health(app: Flask, settings: Settings) -> None:
    readiness = readiness_for(app, settings)
    app.extensions["portal.readiness"] = readiness

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        results: dict[str, Any] = readiness.run()
        if not settings.redis_url:
            results["redis"] = SKIPPED
        failing = sorted(name for name, result in results.items() if result not in (OK, SKIPPED))
        body: dict[str, Any] = {"status": "unavailable" if failing else "ready", "checks": results}
        if failing:
            body["failing"] = failing
        response = jsonify(body)
        response.headers["Cache-Control"] = "no-store"
        return response, 503 if failing else 200
