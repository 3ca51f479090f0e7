"""Redis for the queue tests, and jobs a worker imports by their path (so module-level).

Each test uses a queue (and lock namespace) of its own name on Redis database 15 and
removes what it left there, so test runs side by side never see each other's jobs and
nothing else in that database is touched.
"""

from __future__ import annotations

import os
import uuid

import pytest
from flask import current_app
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue
from rq.registry import BaseRegistry

from portal import db
from portal.adapters.mail import Mail

REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_or_skip() -> Redis:
    """Redis for a test; unreachable: skipped, or failed in CI (like PostgreSQL)."""
    connection = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
    try:
        connection.ping()
    except RedisConnectionError as error:
        message = f"Redis not reachable at {REDIS_TEST_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)", pytrace=False)
        pytest.skip(message)
    return connection


def unique_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def remove_namespace(connection: Redis, name: str) -> None:
    """Delete the jobs of queue ``name`` (queued or in any registry) and its own keys."""
    queue = Queue(name, connection=connection)
    registries: list[BaseRegistry] = [
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    ]
    markers = {name, *queue.get_job_ids()}
    for registry in registries:
        markers.update(registry.get_job_ids(cleanup=False))
    doomed = [key for key in connection.scan_iter() if any(m in key.decode() for m in markers)]
    if doomed:
        connection.delete(*doomed)
    connection.srem("rq:queues", queue.key)


# --- jobs --------------------------------------------------------------------------------


def send_note(recipient: str, subject: str) -> None:
    """Uses what only the app context has (the mailer, the session), and commits."""
    current_app.extensions["portal.mailer"].send(db.session, Mail(recipient, subject, "A note."))
    db.session.commit()


def always_fails(counter: str) -> None:
    """Counts its attempts in Redis (``counter`` names the key), then fails."""
    Redis.from_url(REDIS_TEST_URL).incr(counter)
    raise RuntimeError("the mail server refused the connection")
