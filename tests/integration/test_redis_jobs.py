"""Jobs on Redis (RQ): queued through the adapter, run by ``flask worker`` with the app
context, retried, then listed for the agency admins, who may queue them again.

The worker runs in this process (``--no-fork``) so its jobs share the test's rolled-back
transaction; one test runs the real forking worker as a separate process on a database
it commits to.
"""

from __future__ import annotations

import os
import re
import subprocess  # nosec B404
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from redis import Redis
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from portal import jobs as portal_jobs
from portal.adapters.jobs import InProcessJobs, RedisJobs, job_path
from portal.config import ConfigurationError, load_settings
from portal.models import OutboxMessage, Role
from tenants.scoping import unscoped
from tests.conftest import TEST_SECRET, sign_in
from tests.factories import make_tenant, make_user
from tests.integration.test_password_reset import ask
from tests.jobs_support import (
    REDIS_TEST_URL,
    always_fails,
    redis_or_skip,
    remove_namespace,
    send_note,
    unique_name,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def on_redis(app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[RedisJobs]:
    """The app with its jobs on a Redis queue of this test's own (retries without pauses)."""
    connection = redis_or_skip()
    name = unique_name()
    queue = RedisJobs(connection, name, timeout=60, retry_intervals=(0, 0, 0))
    settings = app.extensions["portal.settings"]
    monkeypatch.setitem(app.extensions, "portal.jobs", queue)
    monkeypatch.setitem(
        app.extensions,
        "portal.settings",
        replace(settings, jobs_backend="rq", redis_url=REDIS_TEST_URL, rq_queue=name),
    )
    yield queue
    remove_namespace(connection, name)
    connection.close()


def run_worker(app: Flask) -> str:
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--no-fork"])
    assert result.exit_code == 0, result.output
    return result.output


def outbox_subjects(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxMessage.subject).order_by(OutboxMessage.id)))


def attempts(queue: RedisJobs) -> int:
    return int(queue.connection.get(f"{queue.queue.name}:attempts") or 0)


@pytest.fixture
def people(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session)
        found = {
            "admin": make_user(session, Role.AGENCY_ADMIN),
            "collector": make_user(session, Role.COLLECTOR),
            "legal": make_user(session, Role.LEGAL),
            "creditor": make_user(session, Role.CREDITOR_ADMIN, tenant),
        }
        session.commit()
    return found


def csrf(client: FlaskClient) -> str:
    page = client.get("/agency/jobs").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


# --- queue and worker ----------------------------------------------------------------------


def test_a_job_runs_on_the_worker_with_the_app_context(
    app: Flask, session: Session, on_redis: RedisJobs
) -> None:
    on_redis.enqueue(send_note, "debtor@example.com", "Your payment plan")
    on_redis.enqueue(send_note, "debtor@example.com", "Your receipt")
    assert on_redis.queue.count == 2
    assert outbox_subjects(session) == []  # queued, not run

    run_worker(app)

    assert outbox_subjects(session) == ["Your payment plan", "Your receipt"]
    assert on_redis.queue.count == 0
    assert on_redis.failed_count() == 0


def test_asking_for_a_new_password_answers_alike_before_any_mail_is_sent(
    app: Flask, client: FlaskClient, session: Session, on_redis: RedisJobs, people: dict
) -> None:
    """Whether an address has an account shows neither in the page nor in its timing (the
    mail waits for the worker) nor when the mail server is down (the job is retried)."""
    known = ask(client, people["creditor"].email)
    unknown = ask(client, "nobody@nowhere.example")

    assert known.status_code == unknown.status_code == 200
    page = known.get_data(as_text=True).replace(people["creditor"].email, "ADDRESS")
    assert page == unknown.get_data(as_text=True).replace("nobody@nowhere.example", "ADDRESS")
    assert on_redis.queue.count == 2 and outbox_subjects(session) == []

    run_worker(app)

    with unscoped(session):
        sent = session.scalars(select(OutboxMessage.recipient)).all()
    assert sent == [people["creditor"].email]


def test_the_portals_own_jobs_travel_by_their_path(app: Flask, on_redis: RedisJobs) -> None:
    on_redis.enqueue(portal_jobs.issue_receipt, 404_404)  # no such entry: nothing to do
    [job] = on_redis.queue.get_jobs()
    assert (job.func_name, job.args) == ("portal.jobs.issue_receipt", [404_404])
    assert job.timeout == 60

    run_worker(app)

    assert on_redis.failed_count() == 0
    assert job.get_status(refresh=True) == "finished"


def test_a_failing_job_is_retried_three_times_then_kept_as_failed(
    app: Flask, on_redis: RedisJobs
) -> None:
    on_redis.enqueue(always_fails, f"{on_redis.queue.name}:attempts")

    run_worker(app)

    assert attempts(on_redis) == 4  # the first attempt and three retries
    [failed] = on_redis.failed_jobs()
    assert failed.function == "tests.jobs_support.always_fails"
    assert failed.arguments == repr(f"{on_redis.queue.name}:attempts")
    assert failed.error == "RuntimeError: the mail server refused the connection"
    assert failed.retries_left == 0
    assert failed.failed_at is not None
    assert on_redis.queue.count == 0


def test_retries_wait_with_backoff(on_redis: RedisJobs) -> None:
    queue = RedisJobs(on_redis.connection, on_redis.queue.name)
    queue.enqueue(always_fails, "unused")
    [job] = queue.queue.get_jobs()
    assert (job.retries_left, job.retry_intervals) == (3, [10, 60, 300])


def test_arguments_travel_as_json_so_an_object_is_refused(on_redis: RedisJobs) -> None:
    with pytest.raises(TypeError):
        on_redis.enqueue(send_note, object(), "subject")
    assert on_redis.queue.count == 0


def test_only_module_level_functions_are_queued() -> None:
    def nested() -> None:
        pass

    assert job_path(send_note) == "tests.jobs_support.send_note"
    for job in (nested, lambda: None):
        with pytest.raises(ValueError, match="a job must be a module-level function"):
            job_path(job)


def test_wait_idle_returns_when_the_queue_is_empty_or_the_time_is_up(
    app: Flask, on_redis: RedisJobs
) -> None:
    started = time.monotonic()
    on_redis.wait_idle(timeout=5)  # nothing queued
    assert time.monotonic() - started < 1
    on_redis.enqueue(send_note, "a@example.com", "Waiting")
    started = time.monotonic()
    on_redis.wait_idle(timeout=0.5)  # no worker: gives up, the job still queued
    assert 0.5 <= time.monotonic() - started < 2
    assert on_redis.queue.count == 1


def test_the_worker_refuses_to_start_without_redis(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 1
    assert "set REDIS_URL" in result.output


def test_a_job_on_the_thread_pool_does_not_wait_for_itself() -> None:
    """A scheduled run queues its letters and waits for them: never for itself."""
    queue = InProcessJobs(lambda job: job)
    finished: list[str] = []

    def letter() -> None:
        finished.append("letter")

    def run() -> None:
        queue.enqueue(letter)
        queue.wait_idle(timeout=10)
        finished.append("run")

    started = time.monotonic()
    queue.enqueue(run)
    queue.wait_idle(timeout=10)
    assert time.monotonic() - started < 5
    assert sorted(finished) == ["letter", "run"]


def test_the_forking_worker_runs_jobs_in_a_process_of_its_own(
    race_engine: Engine, tmp_path: Path
) -> None:
    """``flask worker`` as deployed: a separate process, each job in a forked child."""
    connection = redis_or_skip()
    name = unique_name()
    queue = RedisJobs(connection, name)
    queue.enqueue(send_note, "debtor@example.com", f"Forked {name}")
    environment = {
        **os.environ,
        "PYTHONPATH": str(PROJECT_ROOT),
        "PORTAL_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": race_engine.url.render_as_string(hide_password=False),
        "STORAGE_URL": tmp_path.as_uri(),
        "REDIS_URL": REDIS_TEST_URL,
        "RQ_QUEUE": name,
    }
    environment.pop("JOBS_BACKEND", None)  # follows REDIS_URL: rq
    try:
        finished = subprocess.run(  # nosec B603
            [sys.executable, "-m", "flask", "--app", "portal", "worker", "--burst"],
            env=environment,
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert finished.returncode == 0, finished.stderr
        with Session(race_engine) as check:
            subjects = check.scalars(
                select(OutboxMessage.subject).where(OutboxMessage.subject == f"Forked {name}")
            ).all()
        assert subjects == [f"Forked {name}"]
        assert queue.failed_count() == 0
    finally:
        remove_namespace(connection, name)
        connection.close()


# --- settings ------------------------------------------------------------------------------


def test_jobs_follow_redis_unless_told_otherwise(tmp_path: Path) -> None:
    assert load_settings({}, tmp_path).jobs_backend == "thread"
    with_redis = load_settings({"REDIS_URL": "redis://cache:6379/0"}, tmp_path)
    assert (with_redis.jobs_backend, with_redis.rq_queue, with_redis.rq_job_timeout) == (
        "rq",
        "portal",
        3600,
    )
    told = {"REDIS_URL": "redis://cache:6379/0", "JOBS_BACKEND": "thread", "RQ_QUEUE": "eu"}
    assert load_settings(told, tmp_path).jobs_backend == "thread"
    assert load_settings(told, tmp_path).rq_queue == "eu"


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"JOBS_BACKEND": "rq"}, "JOBS_BACKEND=rq needs REDIS_URL"),
        ({"JOBS_BACKEND": "celery"}, "JOBS_BACKEND must be one of thread, inline, rq"),
        ({"REDIS_URL": "redis://cache", "RQ_JOB_TIMEOUT": "0"}, "RQ_JOB_TIMEOUT must be positive"),
        ({"RQ_JOB_TIMEOUT": "an hour"}, "not a whole number"),
    ],
)
def test_unusable_job_settings_are_refused(
    overrides: dict[str, str], complaint: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        load_settings(overrides, tmp_path)


# --- the failed jobs page ------------------------------------------------------------------


def test_an_agency_admin_sees_the_failed_jobs(
    app: Flask, client: FlaskClient, on_redis: RedisJobs, people: dict
) -> None:
    on_redis.enqueue(always_fails, f"{on_redis.queue.name}:attempts")
    run_worker(app)

    page = sign_in(client, people["admin"]).get("/agency/jobs")

    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "1 failed job." in text
    assert "tests.jobs_support.always_fails" in text
    assert "RuntimeError: the mail server refused the connection" in text
    assert "Retry</button>" in text
    [failed] = on_redis.failed_jobs()
    assert f'name="job_id" value="{failed.id}"' in text


def test_no_failed_jobs_is_said_plainly(client: FlaskClient, on_redis: RedisJobs, people) -> None:
    text = sign_in(client, people["admin"]).get("/agency/jobs").get_data(as_text=True)
    assert "No failed jobs." in text
    assert "Retry</button>" not in text


def test_in_process_jobs_point_to_the_log(client: FlaskClient, people: dict) -> None:
    page = sign_in(client, people["admin"]).get("/agency/jobs")
    assert page.status_code == 200
    assert "Jobs run in this process; failures are in the log." in page.get_data(as_text=True)


def test_retry_queues_the_job_again_for_one_more_attempt(
    app: Flask, client: FlaskClient, on_redis: RedisJobs, people: dict
) -> None:
    on_redis.enqueue(always_fails, f"{on_redis.queue.name}:attempts")
    run_worker(app)
    [failed] = on_redis.failed_jobs()
    sign_in(client, people["admin"])

    response = client.post(
        "/agency/jobs/retry", data={"job_id": failed.id, "csrf_token": csrf(client)}
    )

    assert response.status_code == 302
    assert response.headers["Location"].endswith("/agency/jobs")
    assert (on_redis.failed_count(), on_redis.queue.count) == (0, 1)
    assert "The job is queued again" in client.get("/agency/jobs").get_data(as_text=True)
    run_worker(app)
    assert attempts(on_redis) == 5  # one attempt more, then listed again
    assert [job.id for job in on_redis.failed_jobs()] == [failed.id]


@pytest.mark.parametrize("job_id", ["no-such-job", "", "x" * 65])
def test_retrying_an_unknown_job_is_not_found(
    app: Flask, client: FlaskClient, on_redis: RedisJobs, people: dict, job_id: str
) -> None:
    on_redis.enqueue(always_fails, f"{on_redis.queue.name}:attempts")
    run_worker(app)
    sign_in(client, people["admin"])

    response = client.post(
        "/agency/jobs/retry", data={"job_id": job_id, "csrf_token": csrf(client)}
    )

    assert response.status_code == 404
    assert (on_redis.failed_count(), on_redis.queue.count) == (1, 0)


def test_retry_needs_the_csrf_token(
    app: Flask, client: FlaskClient, on_redis: RedisJobs, people: dict
) -> None:
    on_redis.enqueue(always_fails, f"{on_redis.queue.name}:attempts")
    run_worker(app)
    [failed] = on_redis.failed_jobs()

    response = sign_in(client, people["admin"]).post(
        "/agency/jobs/retry", data={"job_id": failed.id}
    )

    assert response.status_code == 400
    assert (on_redis.failed_count(), on_redis.queue.count) == (1, 0)


def test_retry_without_a_queue_is_not_found(client: FlaskClient, people: dict) -> None:
    sign_in(client, people["admin"])
    response = client.post("/agency/jobs/retry", data={"job_id": "x", "csrf_token": csrf(client)})
    assert response.status_code == 404


@pytest.mark.parametrize("role", ["collector", "legal", "creditor"])
def test_only_agency_admins_see_or_retry_jobs(
    app: Flask, client: FlaskClient, on_redis: RedisJobs, people: dict, role: str
) -> None:
    on_redis.enqueue(always_fails, f"{on_redis.queue.name}:attempts")
    run_worker(app)
    [failed] = on_redis.failed_jobs()
    token = csrf(sign_in(client, people["admin"]))  # the session's token, kept across sign-ins
    sign_in(client, people[role])

    assert client.get("/agency/jobs").status_code == 403
    retry = client.post("/agency/jobs/retry", data={"job_id": failed.id, "csrf_token": token})
    assert retry.status_code == 403
    assert (on_redis.failed_count(), on_redis.queue.count) == (1, 0)


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/agency/jobs")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_redis_connection_is_the_test_database(on_redis: RedisJobs) -> None:
    """Guard: these tests only ever write to the test database."""
    assert isinstance(on_redis.connection, Redis)
    assert on_redis.connection.connection_pool.connection_kwargs["db"] == int(
        REDIS_TEST_URL.rsplit("/", 1)[1]
    )
