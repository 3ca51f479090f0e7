"""/healthz (the process answers) and /readyz (database, Redis and storage answer)."""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from portal import create_app, db
from portal.extensions import limiter
from portal.services import letters
from portal.web.health import Readiness
from tests.conftest import TEST_SECRET

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url() -> str:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        message = f"Redis not reachable at {REDIS_URL}: {error}"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)", pytrace=False)
        pytest.skip(message)
    return REDIS_URL


@pytest.fixture
def build(app: Flask, tmp_path: Path, database_url: str) -> Iterator[object]:
    """Build an app of its own on the test database, with some settings changed. Building
    an app binds the shared session, configures the letters and points the rate limiter
    at its storage: put the suite's back."""
    letter_settings = letters.configured()
    built: list[Flask] = []

    def make(**settings: str) -> FlaskClient:
        other = create_app(
            {
                "PORTAL_ENV": "testing",
                "JOBS_BACKEND": "inline",
                "SECRET_KEY": TEST_SECRET,
                "DATABASE_URL": database_url,
                "STORAGE_URL": (tmp_path / "documents").as_uri(),
                **settings,
            }
        )
        built.append(other)
        return other.test_client()

    yield make
    for other in built:
        other.extensions["portal.engine"].dispose()
    db.bind(app.extensions["portal.engine"])
    letters.configure(letter_settings)
    limiter.init_app(app)  # its storage again (the hooks are not added twice)


def test_healthz_answers_without_signing_in(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_without_redis_configured(client: FlaskClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "storage": "ok", "redis": "not configured"},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_readyz_with_everything_up(build, redis_url: str) -> None:
    response = build(REDIS_URL=redis_url).get("/readyz")
    assert response.status_code == 200
    assert response.get_json() == {
        "status": "ready",
        "checks": {"database": "ok", "storage": "ok", "redis": "ok"},
    }


def test_readyz_names_the_database_when_it_is_down(build, redis_url: str) -> None:
    down = f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/portal"
    response = build(DATABASE_URL=down, REDIS_URL=redis_url).get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["status"] == "unavailable"
    assert body["failing"] == ["database"]
    assert body["checks"]["database"] == "failed: OperationalError"
    assert body["checks"]["redis"] == "ok"
    assert body["checks"]["storage"] == "ok"
    assert "127.0.0.1" not in response.get_data(as_text=True)  # no host names to anyone


def test_readyz_names_redis_when_it_is_down(build) -> None:
    response = build(REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0").get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["redis"]
    assert body["checks"] == {
        "database": "ok",
        "storage": "ok",
        "redis": "failed: ConnectionError",
    }


def test_readyz_names_the_storage_when_documents_cannot_be_written(build, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    response = build(STORAGE_URL=(blocker / "documents").as_uri()).get("/readyz")
    assert response.status_code == 503
    body = response.get_json()
    assert body["failing"] == ["storage"]
    assert body["checks"]["storage"].startswith("failed: ")
    assert body["checks"]["database"] == "ok"


def test_readyz_names_several_failures_at_once(build, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    response = build(
        DATABASE_URL=f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/portal",
        REDIS_URL=f"redis://127.0.0.1:{closed_port()}/0",
        STORAGE_URL=(blocker / "documents").as_uri(),
    ).get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["failing"] == ["database", "redis", "storage"]


def test_a_check_that_hangs_fails_on_time_and_is_not_started_twice() -> None:
    release = threading.Event()
    calls: list[str] = []

    def hangs() -> None:
        calls.append("hangs")
        release.wait(5)

    readiness = Readiness({"database": hangs, "storage": lambda: None}, timeout=0.2)
    try:
        started = time.perf_counter()
        assert readiness.run() == {"database": "timed out", "storage": "ok"}
        assert readiness.run() == {"database": "timed out", "storage": "ok"}
        assert time.perf_counter() - started < 2
        assert calls == ["hangs"]  # the second probe waited on the first run
    finally:
        release.set()
    # Once the hanging run has returned, the next probe starts the check afresh; until
    # that thread has finished, a probe still waits on (and reports) the old run.
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        assert readiness.run()["database"] == "ok"
        time.sleep(0.01)
    assert calls == ["hangs", "hangs"]
