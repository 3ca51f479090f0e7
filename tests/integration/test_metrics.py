"""Prometheus metrics: request latency by route, payments taken, and who may read them."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client import REGISTRY
from sqlalchemy.orm import Session

from portal import create_app, db
from portal import jobs as portal_jobs
from portal.adapters import metrics
from portal.adapters.jobs import InlineJobs
from portal.config import ConfigurationError
from portal.extensions import limiter
from portal.models import Tenant
from portal.services import letters, payments
from tenants.scoping import TenantScope, set_scope
from tests.conftest import TEST_SECRET
from tests.factories import make_case, make_tenant

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
TOKEN = "metrics-token-0123456789-abcdefghijkl"
TODAY = date(2026, 11, 23)


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def latency_count(endpoint: str, status: str = "200") -> float:
    return sample(
        "portal_http_request_duration_seconds_count", endpoint=endpoint, method="GET",
        status=status,
    )  # fmt: skip


@pytest.fixture
def metrics_app(app: Flask, tmp_path: Path) -> Iterator[Callable[..., Flask]]:
    """Build an app of its own with some settings changed. Building an app binds the
    shared session, configures the letters and points the rate limiter at its storage: put
    the suite's back afterwards."""
    letter_settings = letters.configured()
    built: list[Flask] = []

    def make(**settings: str) -> Flask:
        other = create_app(
            {
                "PORTAL_ENV": "testing",
                "JOBS_BACKEND": "inline",
                "SECRET_KEY": TEST_SECRET,
                "DATABASE_URL": f"sqlite:///{tmp_path / 'metrics.db'}",
                "STORAGE_URL": (tmp_path / "documents").as_uri(),
                **settings,
            }
        )
        built.append(other)
        return other

    yield make
    for other in built:
        other.extensions["portal.engine"].dispose()
    db.bind(app.extensions["portal.engine"])
    letters.configure(letter_settings)
    limiter.init_app(app)  # its storage again (the hooks are not added twice)


@pytest.fixture
def tenant(session: Session) -> Tenant:
    set_scope(session, TenantScope.every_tenant())
    return make_tenant(session)


# --- latency -----------------------------------------------------------------------------


def test_a_request_is_timed_under_its_endpoint(client: FlaskClient) -> None:
    before = latency_count("healthz")
    sum_before = sample(
        "portal_http_request_duration_seconds_sum", endpoint="healthz", method="GET", status="200"
    )
    assert client.get("/healthz").status_code == 200
    assert latency_count("healthz") == before + 1
    assert (
        sample(
            "portal_http_request_duration_seconds_sum",
            endpoint="healthz",
            method="GET",
            status="200",
        )
        > sum_before
    )


def test_the_route_not_the_path_labels_a_request(client: FlaskClient) -> None:
    """Unknown paths share one label: the label set cannot grow with what callers send."""
    before = latency_count("unmatched", "404")
    assert client.get("/no-such-page-4711").status_code == 404
    assert client.get("/no-such-page-4712").status_code == 404
    assert latency_count("unmatched", "404") == before + 2
    assert latency_count("/no-such-page-4711", "404") == 0


def test_a_refused_request_is_timed_with_its_status(client: FlaskClient) -> None:
    before = latency_count("creditor.home", "302")
    assert client.get("/creditor/").status_code == 302  # not signed in: to the login page
    assert latency_count("creditor.home", "302") == before + 1


# --- payments taken ----------------------------------------------------------------------


def taken(currency: str = "EUR") -> tuple[float, float]:
    return (
        sample("portal_payments_taken_total", currency=currency),
        sample("portal_payments_taken_minor_total", currency=currency),
    )


def test_a_committed_payment_is_counted_once(session: Session, tenant: Tenant) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    session.commit()
    count, amount = taken()
    payments.record_payment(session, case, amount_minor=30_000, event_key="metrics-1",
                            paid_on=TODAY, description="Transfer")  # fmt: skip
    assert taken() == (count, amount)  # booked, not yet committed
    session.commit()
    assert taken() == (count + 1, amount + 30_000)
    # The same event again books nothing, and counts nothing.
    again = payments.record_payment(session, case, amount_minor=30_000, event_key="metrics-1",
                                    paid_on=TODAY, description="Transfer")  # fmt: skip
    session.commit()
    assert not again.new
    assert taken() == (count + 1, amount + 30_000)


def test_a_rolled_back_payment_is_not_counted(session: Session, tenant: Tenant) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    session.commit()
    before = taken()
    payments.record_payment(session, case, amount_minor=10_000, event_key="metrics-2",
                            paid_on=TODAY, description="Transfer")  # fmt: skip
    session.rollback()
    session.commit()
    assert taken() == before


def test_a_payment_in_an_abandoned_savepoint_is_not_counted(
    session: Session, tenant: Tenant
) -> None:
    case = make_case(session, tenant, amounts=(100_000,))
    session.commit()
    before = taken()
    payments.record_payment(session, case, amount_minor=5_000, event_key="metrics-3",
                            paid_on=TODAY, description="Transfer")  # fmt: skip
    savepoint = session.begin_nested()
    payments.record_payment(session, case, amount_minor=7_000, event_key="metrics-4",
                            paid_on=TODAY, description="Transfer")  # fmt: skip
    savepoint.rollback()
    session.commit()
    assert taken() == (before[0] + 1, before[1] + 5_000)


def test_job_counters_are_labelled_by_the_job() -> None:
    def validate_import(batch_id: int) -> None:
        del batch_id

    name = f"{__name__}.test_job_counters_are_labelled_by_the_job.<locals>.validate_import"
    assert metrics.job_name(validate_import) == name
    metrics.job_enqueued(validate_import)
    metrics.job_enqueued("portal.jobs.file_letter")
    metrics.job_completed(validate_import)
    metrics.job_failed(validate_import)
    assert sample("portal_jobs_enqueued_total", job=name) >= 1
    assert sample("portal_jobs_enqueued_total", job="portal.jobs.file_letter") >= 1
    assert sample("portal_jobs_completed_total", job=name) >= 1
    assert sample("portal_jobs_failed_total", job=name) >= 1


def _works(value: int) -> int:
    return value


def _breaks(value: int) -> int:
    raise ValueError(value)


def test_the_job_queue_counts_each_job_it_runs() -> None:
    """What the queue adapter reports: enqueued, then completed or failed."""
    queue = InlineJobs(lambda job: job)
    works, breaks = metrics.job_name(_works), metrics.job_name(_breaks)
    before = [
        sample(f"portal_jobs_{what}_total", job=job) or 0
        for what, job in (("enqueued", works), ("completed", works), ("failed", breaks))
    ]
    queue.enqueue(_works, 1)
    with pytest.raises(ValueError):
        queue.enqueue(_breaks, 2)
    after = [
        sample(f"portal_jobs_{what}_total", job=job) or 0
        for what, job in (("enqueued", works), ("completed", works), ("failed", breaks))
    ]
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
    assert (sample("portal_jobs_completed_total", job=breaks) or 0) == 0


# --- who may read /metrics -----------------------------------------------------------------


def test_metrics_are_off_without_a_token_or_network(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_metrics_need_the_token(metrics_app: Callable[..., Flask]) -> None:
    client = metrics_app(METRICS_TOKEN=TOKEN).test_client()
    client.get("/healthz")
    refused = (
        {},
        {"Authorization": "Bearer wrong-token-0123456789-abcdefghijklmn"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
    )
    for headers in refused:
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 403, headers
        assert "portal_http_request_duration_seconds" not in response.get_data(as_text=True)
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_data(as_text=True)
    assert 'portal_http_request_duration_seconds_count{endpoint="healthz"' in body
    assert "portal_payments_taken_total" in body or "portal_payments_taken" in body


def test_metrics_answer_the_allowed_networks_only(metrics_app: Callable[..., Flask]) -> None:
    client = metrics_app(METRICS_ALLOW_NETWORKS="10.0.0.0/8, 2001:db8::/32").test_client()
    for address, status in (
        ("10.20.30.40", 200),
        ("2001:db8::7", 200),
        ("127.0.0.1", 403),  # loopback is not listed: a local proxy would pass everyone on
        ("192.168.1.10", 403),
    ):
        response = client.get("/metrics", environ_base={"REMOTE_ADDR": address})
        assert response.status_code == status, address
    # A token header does nothing where no token is configured.
    response = client.get(
        "/metrics", headers={"Authorization": "Bearer "}, environ_base={"REMOTE_ADDR": "1.2.3.4"}
    )
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("settings", "complaint"),
    [
        ({"METRICS_TOKEN": "too-short"}, "METRICS_TOKEN must be a random value"),
        ({"METRICS_ALLOW_NETWORKS": "10.0.0.0/8,not-a-net"}, "'not-a-net' is not a network"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of json, text"),
    ],
)
def test_bad_observability_settings_are_refused(
    metrics_app: Callable[..., Flask], settings: dict[str, str], complaint: str
) -> None:
    with pytest.raises(ConfigurationError, match=complaint):
        metrics_app(**settings)


def test_exposition_adds_up_the_worker_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under gunicorn: values written by other processes into the folder are shown."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    script = (
        "from portal.adapters import metrics; "
        "metrics.observe_request('creditor.home', 'GET', 200, 0.02)"
    )
    for _ in range(2):
        subprocess.run([sys.executable, "-c", script], check=True, env={  # noqa: S603
            "PROMETHEUS_MULTIPROC_DIR": str(tmp_path), "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        })  # fmt: skip
    body, _content_type = metrics.exposition()
    assert (
        b'portal_http_request_duration_seconds_count{endpoint="creditor.home",method="GET",'
        b'status="200"} 2.0' in body
    )


def test_metrics_show_the_redis_queue_as_the_queue_reports_it(
    metrics_app: Callable[..., Flask],
) -> None:
    """Jobs run in worker processes nobody scrapes: the queue's own figures stand in."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as error:
        pytest.skip(f"Redis not reachable at {REDIS_URL}: {error}")
    queue_name = f"metrics-{uuid.uuid4().hex[:8]}"
    app = metrics_app(
        METRICS_TOKEN=TOKEN, REDIS_URL=REDIS_URL, JOBS_BACKEND="rq", RQ_QUEUE=queue_name
    )
    jobs = app.extensions["portal.jobs"]
    try:
        jobs.enqueue(portal_jobs.file_letter, 1, "reminder", "2026-11-23")
        jobs.enqueue(portal_jobs.file_letter, 2, "reminder", "2026-11-23")
        body = (
            app.test_client()
            .get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
            .get_data(as_text=True)
        )
        assert "portal_jobs_waiting 2.0" in body
        assert "portal_jobs_failed_kept 0.0" in body
    finally:
        jobs.queue.empty()
        jobs.queue.delete(delete_jobs=True)


def test_metrics_still_answer_when_the_queue_does_not(metrics_app: Callable[..., Flask]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = metrics_app(
        METRICS_TOKEN=TOKEN, REDIS_URL=f"redis://127.0.0.1:{port}/0", JOBS_BACKEND="rq"
    )
    response = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "portal_http_request_duration_seconds" in body
    assert "portal_jobs_waiting" not in body
