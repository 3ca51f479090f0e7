"""Prometheus metrics: request latency, background jobs, payments taken.

The metrics live in prometheus-client's default registry. Under gunicorn each worker is
a process of its own, so ``infra/gunicorn.conf.py`` sets ``PROMETHEUS_MULTIPROC_DIR``
before anything imports prometheus-client: every worker then writes its values to files
in that folder, and ``exposition`` adds them up across the workers, so a scrape of any
one worker shows the whole instance. Without the variable (tests, ``flask run``) the
values stay in the process and ``exposition`` shows them directly.

A payment is counted when the transaction that booked it commits, not when it is
booked: a booking that is rolled back (a refusal after it, a savepoint given up) was
never taken.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction, scoped_session

# Seconds; the defaults' spread, with finer steps where the portal's pages answer.
LATENCY_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip
_PENDING_PAYMENTS = "portal.metrics.pending_payments"
log = logging.getLogger(__name__)

REQUEST_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the request's arrival in the app to its response, by route.",
    ["endpoint", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
JOBS_ENQUEUED = Counter(
    "portal_jobs_enqueued", "Background jobs put on the queue, by job.", ["job"]
)
JOBS_COMPLETED = Counter(
    "portal_jobs_completed", "Background jobs that ran to the end, by job.", ["job"]
)
JOBS_FAILED = Counter(
    "portal_jobs_failed", "Background job runs that raised an error, by job.", ["job"]
)
PAYMENTS_TAKEN = Counter(
    "portal_payments_taken", "Payments booked on cases (committed), by currency.", ["currency"]
)
PAYMENTS_TAKEN_MINOR = Counter(
    "portal_payments_taken_minor",
    "Sum of the payments booked on cases (committed), in minor units, by currency.",
    ["currency"],
)


def observe_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(endpoint=endpoint, method=method, status=str(status)).observe(seconds)


def job_name(job: str | Callable[..., Any]) -> str:
    """A job's label: its dotted path (``portal.jobs.file_letter``), or the string given."""
    if isinstance(job, str):
        return job
    return f"{getattr(job, '__module__', '?')}.{getattr(job, '__qualname__', repr(job))}"


def job_enqueued(job: str | Callable[..., Any]) -> None:
    JOBS_ENQUEUED.labels(job=job_name(job)).inc()


def job_completed(job: str | Callable[..., Any]) -> None:
    JOBS_COMPLETED.labels(job=job_name(job)).inc()


def job_failed(job: str | Callable[..., Any]) -> None:
    """One failed run of ``job`` (each retry that fails counts again)."""
    JOBS_FAILED.labels(job=job_name(job)).inc()


def payment_booked(session: Session, currency: str, amount_minor: int) -> None:
    """Count a payment once ``session`` commits the transaction that booked it."""
    if isinstance(session, scoped_session):  # the registry does not proxy transactions
        session = session()
    pending: list[tuple[SessionTransaction | None, str, int]]
    pending = session.info.setdefault(_PENDING_PAYMENTS, [])
    innermost = session.get_nested_transaction() or session.get_transaction()
    pending.append((innermost, currency, amount_minor))


@event.listens_for(Session, "after_commit")
def _count_committed_payments(session: Session) -> None:
    for _transaction, currency, amount_minor in session.info.pop(_PENDING_PAYMENTS, []):
        PAYMENTS_TAKEN.labels(currency=currency).inc()
        PAYMENTS_TAKEN_MINOR.labels(currency=currency).inc(amount_minor)


@event.listens_for(Session, "after_soft_rollback")
def _forget_rolled_back_payments(session: Session, previous: SessionTransaction) -> None:
    """Drop the payments booked inside the transaction (or savepoint) just rolled back."""
    pending = session.info.get(_PENDING_PAYMENTS)
    if pending:
        session.info[_PENDING_PAYMENTS] = [
            item for item in pending if not _within(item[0], previous)
        ]


def _within(transaction: SessionTransaction | None, outer: SessionTransaction) -> bool:
    if transaction is None:  # booked before the session began: part of its next transaction
        return not outer.nested
    while transaction is not None:
        if transaction is outer:
            return True
        transaction = transaction.parent
    return False


def is_multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class QueueCollector(Collector):
    """The job queue's state as the queue itself reports it when scraped (RQ on Redis):
    jobs waiting, and failed jobs kept for an admin to see. Unlike the counters, these
    include what happened in worker processes, which nobody scrapes."""

    def __init__(self, waiting: Callable[[], int], failed: Callable[[], int]) -> None:
        self._waiting = waiting
        self._failed = failed

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            waiting, failed = self._waiting(), self._failed()
        except Exception as error:  # the scrape still shows everything else
            log.warning("job queue not reachable for metrics: %r", error)
            return
        yield GaugeMetricFamily(
            "portal_jobs_waiting", "Jobs on the queue, not yet started.", value=waiting
        )
        yield GaugeMetricFamily(
            "portal_jobs_failed_kept",
            "Jobs that failed every attempt and are kept for an agency admin to see.",
            value=failed,
        )


def exposition(*collectors: Collector) -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type; ``collectors`` add
    figures gathered at scrape time."""
    extra = CollectorRegistry()
    for collector in collectors:
        extra.register(collector)
    if is_multiprocess():
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry = REGISTRY
    return generate_latest(registry) + generate_latest(extra), CONTENT_TYPE_LATEST
