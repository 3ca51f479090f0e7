"""How fast a large placement CSV is checked and placed, and how much memory it takes.

    .venv/bin/python bench/import_bench.py [--rows 100000]

Generates a CSV of ``--rows`` invoice rows (semicolons, decimal commas, day/month/year
dates, one to three invoices per case, about 1 % of cases with a bad amount), then runs
the import the portal runs (whole-file check and storage, the validation job, the
placement job) on SQLite (a temporary file) and on PostgreSQL (a scratch database on
127.0.0.1:5432, dropped afterwards; skipped when the server cannot be reached).

Each measurement runs in its own process, so its peak resident memory
(``getrusage``) is its own. With ``--heap`` the imports also trace Python's own
allocations (``tracemalloc``, which slows them down) and report their peak. The
baseline is reading the same file with the ``csv`` module and nothing else; the ratio
says how many times slower the import is than that. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
HEADER = [
    "creditor_reference", "debtor_name", "email", "address_line1", "postal_code", "city",
    "country", "invoice_number", "issue_date", "due_date", "amount", "reminders_sent",
]  # fmt: skip


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def current_rss_mb() -> float:
    resident_pages = int(Path("/proc/self/statm").read_text().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# --- the file ----------------------------------------------------------------------------


def generate(path: Path, rows: int) -> dict[str, int]:
    """Write ``rows`` rows; returns how many cases and rows should pass the checks."""
    today = date.today()
    expected = {"cases": 0, "valid_cases": 0, "valid_rows": 0}
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
        writer.writerow(HEADER)
        written, case = 0, 0
        while written < rows:
            case += 1
            size = min(case % 3 + 1, rows - written)
            bad = case % 100 == 0
            expected["cases"] += 1
            if not bad:
                expected["valid_cases"] += 1
                expected["valid_rows"] += size
            for invoice in range(size):
                due = today - timedelta(days=30 + (case + invoice) % 300)
                cents = 1_000 + (case * 7919 + invoice * 104_729) % 5_000_000
                amount = f"{cents // 100:,}".replace(",", ".") + f",{cents % 100:02d}"
                writer.writerow([
                    f"CUST-{case:07d}", f"Debtor {case} GmbH", f"ap{case}@debtor.example",
                    f"Industriestrasse {case % 200 + 1}", f"{10000 + case % 89999}", "Berlin",
                    "DE", f"RE-{case}-{invoice + 1}",
                    (due - timedelta(days=30)).strftime("%d.%m.%Y"), due.strftime("%d.%m.%Y"),
                    "abc" if bad else amount, str(case % 4),
                ])  # fmt: skip
                written += 1
    return expected


# --- the measurements, each in a child process ----------------------------------------------


def measure_baseline(path: Path) -> dict[str, Any]:
    start_rss = current_rss_mb()
    started = time.perf_counter()
    count = 0
    with path.open("rb") as raw:
        for _row in csv.reader(io.TextIOWrapper(raw, encoding="utf-8", newline=""), delimiter=";"):
            count += 1
    seconds = time.perf_counter() - started
    return {"rows": count - 1, "stages": {"parse": seconds}, "seconds": seconds,
            "start_rss": start_rss, "peak_rss": peak_rss_mb()}  # fmt: skip


def expect(condition: bool, message: object) -> None:
    if not condition:
        raise RuntimeError(f"the import did not go as expected: {message}")


def measure_import(path: Path, database_url: str, workdir: Path, heap: bool) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from sqlalchemy import func, select  # noqa: PLC0415

    from portal import create_app, db, migrate  # noqa: PLC0415
    from portal.models import Case, ImportBatch, ImportStatus, Role  # noqa: PLC0415
    from portal.services import imports, passwords  # noqa: PLC0415
    from portal.services.users import create_user  # noqa: PLC0415
    from tenants.onboarding import create_tenant  # noqa: PLC0415
    from tenants.scoping import TenantScope, set_scope, unscoped  # noqa: PLC0415

    app = create_app({
        "DATABASE_URL": database_url,
        "STORAGE_URL": (workdir / "documents").as_uri(),
        "JOBS_BACKEND": "inline",
        "SECRET_KEY": secrets.token_urlsafe(32),
    })  # fmt: skip
    migrate.upgrade(app.extensions["portal.engine"])
    store = app.extensions["portal.storage"]
    passwords.set_hash_cost(time_cost=1, memory_kib=1024)
    with app.app_context():
        session = db.session
        with unscoped(session):
            tenant = create_tenant(session, slug="bench", name="Bench GmbH", currency="EUR")
            user = create_user(session, email="bench@example.com", name="Bench",
                               role=Role.CREDITOR_ADMIN, password=secrets.token_urlsafe(16),
                               tenant=tenant)  # fmt: skip
            session.commit()
        set_scope(session, TenantScope.only(tenant.id))
        start_rss = current_rss_mb()
        if heap:
            tracemalloc.start()
        stages: dict[str, float] = {}

        started = time.perf_counter()
        with path.open("rb") as upload:
            batch = imports.start_import(session, store, tenant=tenant, user_id=user.id,
                                         upload=upload, filename=path.name,
                                         date_format="dmy")  # fmt: skip
        session.commit()
        stages["upload check"] = time.perf_counter() - started

        started = time.perf_counter()
        expect(imports.begin_validation(session, batch), "validation did not start")
        session.commit()
        imports.run_validation(session, store, batch.id)
        stages["validation job"] = time.perf_counter() - started
        batch = session.get(ImportBatch, batch.id, populate_existing=True)
        expect(batch is not None and batch.status == ImportStatus.VALIDATED, batch and batch.error)
        checked = {"cases": batch.summary["cases"], "valid_cases": batch.valid_cases,
                   "valid_rows": batch.valid_rows}  # fmt: skip

        started = time.perf_counter()
        expect(imports.begin_placing(session, batch), "placing did not start")
        session.commit()
        imports.run_placement(session, store, batch.id, user.id)
        stages["placement job"] = time.perf_counter() - started
        batch = session.get(ImportBatch, batch.id, populate_existing=True)
        expect(batch is not None and batch.status == ImportStatus.PLACED, batch and batch.error)
        placed = session.scalar(select(func.count()).select_from(Case))
    heap_peak = tracemalloc.get_traced_memory()[1] / 2**20 if heap else None
    db.registry.remove()
    app.extensions["portal.engine"].dispose()
    return {"rows": batch.total_rows, "stages": stages, "seconds": sum(stages.values()),
            "start_rss": start_rss, "peak_rss": peak_rss_mb(), "checked": checked,
            "placed": placed, "heap_peak": heap_peak}  # fmt: skip


def child(arguments: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *arguments]
    done = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(arguments[:1])} failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# --- PostgreSQL scratch database ---------------------------------------------------------------


def scratch_postgres(name: str) -> str | None:
    import psycopg  # noqa: PLC0415

    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"PostgreSQL skipped: not reachable at {POSTGRES_ADMIN} ({str(error).strip()})")
        return None
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def drop_postgres(name: str) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the report ----------------------------------------------------------------------------


def report(name: str, result: dict[str, Any], baseline_rate: float | None) -> None:
    rows, seconds = result["rows"], result["seconds"]
    rate = rows / seconds
    ratio = f"{baseline_rate / rate:6.1f}x slower than the baseline" if baseline_rate else ""
    print(f"\n{name}: {rows:,} rows in {seconds:.2f} s = {rate:,.0f} rows/s  {ratio}")
    for stage, stage_seconds in result["stages"].items():
        print(f"  {stage:<15} {stage_seconds:8.2f} s  {rows / stage_seconds:>12,.0f} rows/s")
    print(f"  memory: peak RSS {result['peak_rss']:.1f} MB, "
          f"{result['peak_rss'] - result['start_rss']:+.1f} MB over the "
          f"{result['start_rss']:.1f} MB before the import started")  # fmt: skip
    if result.get("heap_peak") is not None:
        print(f"  memory: Python heap peak during the import {result['heap_peak']:.1f} MB "
              "(tracemalloc, which also slows it down)")  # fmt: skip
    if "checked" in result:
        print(f"  checked: {result['checked']}; cases in the database after placing: "
              f"{result['placed']:,}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--heap", action="store_true", help="also trace Python's allocations")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        kind, path, *rest = options.child
        if kind == "baseline":
            result = measure_baseline(Path(path))
        else:
            result = measure_import(Path(path), rest[0], Path(rest[1]), rest[2:] == ["heap"])
        print(json.dumps(result))
        return

    with tempfile.TemporaryDirectory(prefix="import-bench-") as folder:
        workdir = Path(folder)
        path = workdir / "placements.csv"
        expected = generate(path, options.rows)
        size_mb = path.stat().st_size / 2**20
        print(f"{options.rows:,} rows, {expected['cases']:,} cases, {size_mb:.1f} MB: {path.name}")
        print(
            f"expected to pass: {expected['valid_cases']:,} cases, {expected['valid_rows']:,} rows"
        )

        baseline = child(["baseline", str(path)])
        baseline_rate = baseline["rows"] / baseline["seconds"]
        report("Baseline (csv module, parsing only)", baseline, None)

        sqlite_dir = workdir / "sqlite"
        sqlite_dir.mkdir()
        heap = ["heap"] if options.heap else []
        sqlite_url = f"sqlite:///{sqlite_dir / 'bench.db'}"
        sqlite = child(["import", str(path), sqlite_url, str(sqlite_dir), *heap])
        report("SQLite", sqlite, baseline_rate)

        name = f"import_bench_{os.getpid()}"
        url = scratch_postgres(name)
        if url is not None:
            try:
                postgres_dir = workdir / "postgres"
                postgres_dir.mkdir()
                postgres = child(["import", str(path), url, str(postgres_dir), *heap])
                report("PostgreSQL", postgres, baseline_rate)
            finally:
                drop_postgres(name)


if __name__ == "__main__":
    main()
