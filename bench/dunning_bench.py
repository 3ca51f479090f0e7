"""How fast the daily dunning run gets through many cases, and how much memory it takes.

    .venv/bin/python bench/dunning_bench.py [--cases 20000] [--batch-size 500]
        [--databases sqlite,postgresql]

Places ``--cases`` cases (one or two invoices each) with the bulk placement the imports
use, then runs ``flask collections run-due``'s service twice on the same day: the first
run takes every case's first cadence step and posts its interest, the second finds
nothing left to do (idempotency). Prints cases per second of each run and the peak
resident memory. Runs on SQLite (a temporary file) and on PostgreSQL (a scratch
database on 127.0.0.1:5432, dropped afterwards; skipped when the server cannot be
reached). Each database is measured in its own process, so the peak memory is its own.
Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import text

from portal import create_app, db, migrate
from portal.adapters.mail import OutboxMailer
from portal.models import DebtorKind
from portal.services import dunning
from portal.services.placement import (
    DebtorDetails,
    InvoiceDetails,
    PlacementRequest,
    place_many,
)
from tenants.onboarding import create_tenant
from tenants.scoping import unscoped

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
RUN_DAY = date(2026, 3, 1)
CHUNK = 2_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure(database_url: str, cases: int, batch_size: int) -> dict[str, float]:
    """Runs in the worker process: place the cases, run the dunning twice."""

    with tempfile.TemporaryDirectory() as documents:
        app = create_app(
            {
                "PORTAL_ENV": "testing",
                "JOBS_BACKEND": "inline",
                "DATABASE_URL": database_url,
                "SECRET_KEY": secrets.token_hex(32),
                "STORAGE_URL": Path(documents).as_uri(),
            }
        )
        migrate.upgrade(app.extensions["portal.engine"])
        with app.app_context(), unscoped(db.session):
            session = db.session
            tenant = create_tenant(session, slug="bench", name="Bench GmbH", currency="EUR")
            session.commit()
            started = time.perf_counter()
            for first in range(0, cases, CHUNK):
                requests = [
                    PlacementRequest(
                        debtor=DebtorDetails(
                            kind=DebtorKind.BUSINESS,
                            name=f"Debtor {number} GmbH",
                            email=f"ap{number}@debtor.example" if number % 3 else None,
                            postal_code=f"{10000 + number % 89999}",
                        ),
                        creditor_reference=f"CUST-{number:08d}",
                        invoices=tuple(
                            InvoiceDetails(
                                number=f"INV-{number}-{index}",
                                issue_date=RUN_DAY - timedelta(days=60 + number % 300),
                                due_date=RUN_DAY - timedelta(days=30 + number % 300),
                                amount_minor=1_000 + (number * 7919 + index) % 5_000_000,
                            )
                            for index in range(1 + number % 2)
                        ),
                        contract_interest_bp=1_000 if number % 10 == 0 else None,
                    )
                    for number in range(first, min(first + CHUNK, cases))
                ]
                place_many(
                    session,
                    tenant,
                    requests,
                    placed_by_id=None,
                    today=RUN_DAY,
                    placed_at=datetime(2026, 3, 1, 8, tzinfo=UTC),
                )
                session.commit()
                session.expunge_all()
            placed = time.perf_counter() - started
            if session.bind is not None and session.bind.dialect.name == "postgresql":
                # Fresh statistics, as autovacuum keeps them in production: without them the
                # planner guesses a bulk-loaded table's row counts badly.
                session.execute(text("ANALYZE"))
                session.commit()
            rss_before = peak_rss_mb()
            results: dict[str, float] = {"placement_s": placed, "rss_after_placing_mb": rss_before}
            for label in ("first", "second"):
                started = time.perf_counter()
                queued: list[tuple[int, str, str]] = []  # letters go to workers, not timed here
                report = dunning.run_due(
                    session,
                    today=RUN_DAY,
                    mailer=OutboxMailer(),
                    file_letter=lambda *letter, queue=queued: queue.append(letter),
                    batch_size=batch_size,
                )
                elapsed = time.perf_counter() - started
                results[f"{label}_s"] = elapsed
                results[f"{label}_cases_per_s"] = cases / elapsed
                results[f"{label}_processed"] = report.cases
                results[f"{label}_advanced"] = report.advanced
                results[f"{label}_interest_entries"] = report.interest_entries
                results[f"{label}_peak_rss_mb"] = peak_rss_mb()
        db.registry.remove()
        app.extensions["portal.engine"].dispose()
    return results


def worker(database_url: str, cases: int, batch_size: int) -> dict[str, float]:
    command = [
        sys.executable,
        __file__,
        "--worker",
        database_url,
        "--cases",
        str(cases),
        "--batch-size",
        str(batch_size),
    ]
    # This interpreter running this file: no outside input reaches the command.
    output = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)  # noqa: S603
    return json.loads(output.stdout.strip().splitlines()[-1])


def postgres_database() -> tuple[str, str] | None:
    name = f"dunning_bench_{os.getpid()}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"PostgreSQL skipped: not reachable at {POSTGRES_ADMIN} ({error})".strip())
        return None
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return name, f"{base}/{name}"


def drop_postgres(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def show(label: str, cases: int, figures: dict[str, float]) -> None:
    print(f"\n{label}: {cases} cases placed in {figures['placement_s']:.1f} s")
    for run in ("first", "second"):
        print(
            f"  {run} run: {figures[f'{run}_s']:.2f} s, "
            f"{figures[f'{run}_cases_per_s']:,.0f} cases/s; "
            f"{int(figures[f'{run}_processed'])} processed, "
            f"{int(figures[f'{run}_advanced'])} advanced, "
            f"{int(figures[f'{run}_interest_entries'])} interest entries; "
            f"peak RSS {figures[f'{run}_peak_rss_mb']:.0f} MB"
        )
    print(f"  (peak RSS after placing, before the runs: {figures['rss_after_placing_mb']:.0f} MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    databases = set(args.databases.split(","))
    if args.worker:
        print(json.dumps(measure(args.worker, args.cases, args.batch_size)))
        return
    if "sqlite" in databases:
        with tempfile.TemporaryDirectory() as scratch:
            url = f"sqlite:///{Path(scratch) / 'bench.db'}"
            show("SQLite", args.cases, worker(url, args.cases, args.batch_size))
    if "postgresql" in databases and (found := postgres_database()) is not None:
        name, url = found
        try:
            show("PostgreSQL", args.cases, worker(url, args.cases, args.batch_size))
        finally:
            drop_postgres(name)


if __name__ == "__main__":
    main()
