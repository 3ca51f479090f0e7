"""The portal under concurrent load, as production runs it, beside a minimal Flask ceiling.

    .venv/bin/python bench/load_bench.py [--cases 20000] [--tenants 20] [--users 20]
        [--seconds 30] [--links 2000] [--import-rows 1000] [--no-jobs] [--reuse] [--keep]

Starts, each as a process of its own on this machine:

- an S3 endpoint (``moto_server``) with the documents bucket;
- two gunicorn instances of the portal (``infra/gunicorn.conf.py``, the image's command),
  on PostgreSQL (a scratch database ``bench_load``, migrated and filled with
  ``bench/reporting_bench.py``'s generator: ``--cases`` cases over ``--tenants``
  creditors), Redis (rate limits and, with RQ, the job queue) and S3 storage;
- a job worker (``flask worker``) when the portal has the RQ backend;
- two gunicorn instances of a minimal Flask app answering ``hello``, same settings: the
  ceiling, what gunicorn and the client manage with no portal at all.

Then it drives them with locust (headless, in a child process), round-robin over the
two instances request by request (signed-cookie sessions work on either), in three
phases of ``--seconds`` each with ``--users`` concurrent clients that wait for nothing
between requests:

1. ceiling: ``GET /`` of the hello app;
2. debtors: the debtor's payment page, opened by its link token;
3. mixed: debtors (half the users), collectors browsing their queue (a quarter) and
   creditors browsing their case list (a quarter), signed in through the login form.

It prints requests per second and p50/p95/p99 latency per endpoint, the error count,
the debtor page's share of the ceiling and the targets; then, with the worker, pushes a
CSV import (validation and placement jobs) and the scheduler's daily run (the dunning
run and the instalment charges) through the queue and prints how long they took.

The portal runs in development mode: production marks the session cookie ``Secure``,
which a client on plain-HTTP loopback would not send back. Every client connects from
127.0.0.1, so the served app (``PORTAL_APP`` below) gives each request an address of its
own before the rate limits see it: they still count each request in Redis, and no
client is refused for sharing an address with all the others. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
DATABASE_NAME = "bench_load"
CREDITOR_FOR_IMPORT = "finance@bench-01.bench.example"  # the largest creditor's admin
BUCKET = "bench-load-documents"
PASSWORD = "bench-password-2026"  # noqa: S105 - the scratch database's users (reporting_bench)
AMICABLE = ("placed", "amicable.reminder", "amicable.demand", "amicable.negotiation")
HELLO_APP = """
from flask import Flask

app = Flask(__name__)


@app.get("/")
def hello() -> str:
    return "hello"
"""
# The portal as gunicorn serves it, each request seen as coming from an address of its own:
# the debtor pages allow 30 requests a minute per address, which a client that never
# pauses exceeds within a second from 127.0.0.1. The limiter still counts every request
# in Redis, as in production.
PORTAL_APP = """
import random

from portal import create_app as create_portal


def create_app():
    app = create_portal()
    portal = app.wsgi_app

    def from_many_addresses(environ, start_response):
        environ["REMOTE_ADDR"] = "10.%d.%d.%d" % tuple(random.randrange(256) for _ in range(3))
        return portal(environ, start_response)

    app.wsgi_app = from_many_addresses
    return app
"""
# Where the issue sets the bar.
DEBTOR_SHARE_TARGET = 0.5
LIST_P95_TARGET_MS = 50
STOP_TIMEOUT_SECONDS = 60


# --- processes ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Processes:
    """The processes this run started, stopped in reverse order at the end."""

    workdir: Path
    started: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.workdir / f"{name}.log").open("wb") as log:  # the child keeps its copy
            process = subprocess.Popen(  # noqa: S603 - our own commands
                argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        self.started.append((name, process))
        return process

    def stop_all(self) -> None:
        for _name, process in reversed(self.started):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for name, process in reversed(self.started):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                print(f"  {name} did not stop on SIGTERM: killing it")
                process.kill()
                process.wait()


def wait_for(url: str, process: subprocess.Popen[bytes], what: str, seconds: float = 60) -> None:
    import urllib.error  # noqa: PLC0415 - after locust's child is not a concern here
    import urllib.request  # noqa: PLC0415

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{what} exited at start (exit code {process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback
                if response.status < 500:
                    return
        except urllib.error.HTTPError as error:
            if error.code < 500:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"{what} did not answer at {url} within {seconds:.0f} s")


def base_env() -> dict[str, str]:
    return {
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108
        "LANG": "C.UTF-8",
    }


# --- the database and its data -----------------------------------------------------------


def postgres_database(name: str, reuse: bool) -> tuple[str, bool]:
    """The scratch database's URL, and whether it already held data to reuse."""
    import psycopg  # noqa: PLC0415

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not (reuse and exists):
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}", bool(reuse and exists)


def drop_database(name: str) -> None:
    import psycopg  # noqa: PLC0415

    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(database_url: str, cases: int, tenants: int, reuse: bool) -> dict[str, Any]:
    """Migrate, generate (unless reused), and name the people the clients sign in as."""
    sys.path.insert(0, str(ROOT / "bench"))
    import reporting_bench  # noqa: PLC0415
    from sqlalchemy import func, select  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from portal import db, migrate  # noqa: PLC0415
    from portal.models import Case, Role, User  # noqa: PLC0415
    from tenants.scoping import unscoped  # noqa: PLC0415

    engine = db.make_engine(database_url)
    try:
        migrate.upgrade(engine)
        if reuse and reporting_bench.has_data(engine):
            print("  reusing the data already there")
            reporting_bench.show_counts(engine)
        else:
            print(f"  generating {cases:,} cases over {tenants} creditors (reporting_bench)")
            reporting_bench.generate(engine, cases, tenants)
        with Session(engine) as session, unscoped(session):
            creditors = session.scalars(
                select(User.email).where(User.role == Role.CREDITOR_ADMIN).order_by(User.id)
            ).all()
            collectors = session.scalars(
                select(User.email).where(User.role == Role.COLLECTOR).order_by(User.id)
            ).all()
            total = session.scalar(select(func.count()).select_from(Case))
    finally:
        engine.dispose()
    return {"cases": total, "creditors": list(creditors), "collectors": list(collectors)}


def issue_links(database_url: str, secret_key: str, count: int) -> dict[str, int]:
    """Fresh payment links for ``count`` open cases (as letters carry them): each token
    with its case's id."""
    from sqlalchemy import bindparam, text  # noqa: PLC0415

    from portal import db  # noqa: PLC0415
    from portal.db import utcnow  # noqa: PLC0415
    from portal.services import payment_links  # noqa: PLC0415

    payment_links.set_secret(secret_key)
    engine = db.make_engine(database_url)
    now = utcnow()
    tokens: dict[str, int] = {}
    rows = []
    try:
        with engine.begin() as connection:
            picked = connection.execute(
                text(
                    "SELECT id, agency_reference FROM cases WHERE stage IN :stages "
                    "ORDER BY md5(id::text) LIMIT :count"
                ).bindparams(bindparam("stages", expanding=True)),
                {"stages": list(AMICABLE), "count": count},
            ).all()
            for case_id, reference in picked:
                link = payment_links.new_link(reference, 90, now)
                rows.append({"id": case_id, **link})
                token = payment_links._derive(reference, str(link["payment_link_nonce"]))
                tokens[token] = case_id
            connection.execute(
                text(
                    "UPDATE cases SET payment_link_nonce = :payment_link_nonce, "
                    "payment_link_hash = :payment_link_hash, "
                    "payment_link_expires_at = :payment_link_expires_at WHERE id = :id"
                ),
                rows,
            )
    finally:
        engine.dispose()
    return tokens


# --- the stack ---------------------------------------------------------------------------


def start_s3(processes: Processes) -> str:
    port = free_port()
    process = processes.start(
        "s3", [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], base_env()
    )
    endpoint = f"http://127.0.0.1:{port}"
    wait_for(f"{endpoint}/moto-api/", process, "moto_server")
    import boto3  # noqa: PLC0415

    boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
        aws_secret_access_key="bench",  # noqa: S106 - the local stand-in's
    ).create_bucket(Bucket=BUCKET)  # fmt: skip
    return endpoint


def portal_env(
    database_url: str, s3_endpoint: str, secret_key: str, queue: str, rq: bool
) -> dict[str, str]:
    return {
        **base_env(),
        "PYTHONPATH": str(ROOT),
        "PORTAL_ENV": "development",
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "JOBS_BACKEND": "rq" if rq else "thread",
        "RQ_QUEUE": queue,
        "STORAGE_URL": f"s3://{BUCKET}",
        "S3_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": "/nonexistent/aws-config",
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": secret_key,
    }


def start_gunicorn(
    processes: Processes, name: str, app: str, env: dict[str, str], workers: int | None
) -> str:
    port = free_port()
    environment = {
        **env,
        "PORT": str(port),
        "PROMETHEUS_MULTIPROC_DIR": str(processes.workdir / f"{name}-metrics"),
    }
    if workers:
        environment["WEB_CONCURRENCY"] = str(workers)
    command = [str(BIN / "gunicorn"), "-c", str(ROOT / "infra" / "gunicorn.conf.py"), app]
    process = processes.start(name, command, environment)
    base = f"http://127.0.0.1:{port}"
    wait_for(f"{base}/healthz" if "portal" in app else f"{base}/", process, name)
    return base


def has_rq_backend() -> bool:
    source = (ROOT / "portal" / "adapters" / "jobs.py").read_text()
    return "class RedisJobs" in source and (ROOT / "portal" / "cli" / "worker.py").exists()


def flush_redis() -> None:
    import redis  # noqa: PLC0415

    redis.Redis.from_url(REDIS_URL).flushdb()


def start_portal(
    processes: Processes, database_url: str, secret_key: str, rq: bool, args: argparse.Namespace
) -> tuple[list[str], dict[str, str]]:
    """S3, two gunicorn instances of the portal and ``--job-workers`` job workers (with
    RQ); the instances' addresses and the portal's environment."""
    flush_redis()
    s3 = start_s3(processes)
    env = portal_env(database_url, s3, secret_key, f"bench-{os.getpid()}", rq)
    (processes.workdir / "bench_portal.py").write_text(PORTAL_APP)
    served = {**env, "PYTHONPATH": f"{ROOT}{os.pathsep}{processes.workdir}"}
    portal = [
        start_gunicorn(processes, f"portal-{n}", "bench_portal:create_app()", served, args.workers)
        for n in (1, 2)
    ]
    if not rq:
        print("  (no RQ backend or --no-jobs: jobs run in the web processes, no worker)")
        return portal, env
    job_workers = [
        processes.start(f"worker-{n}", [str(BIN / "flask"), "--app", "portal", "worker"], env)
        for n in range(1, args.job_workers + 1)
    ]
    time.sleep(2)
    if any(worker.poll() is not None for worker in job_workers):
        raise SystemExit("a worker exited at start: see worker-*.log")
    return portal, env


# --- driving the load (in a child process: locust patches the standard library) ------------


def round_robin_user(numbering: Any) -> Any:
    """The locust client class every journey builds on: each request goes to the next
    instance in turn, and it signs in through the login form. Import locust before
    calling (it patches the standard library)."""
    from locust import constant  # noqa: PLC0415
    from locust.contrib.fasthttp import FastHttpUser  # noqa: PLC0415

    class RoundRobin(FastHttpUser):  # type: ignore[misc]
        """A client that sends each request to the next instance in turn."""

        abstract = True
        wait_time = constant(0)
        hosts: tuple[str, ...] = ()

        def __init__(self, environment: Any) -> None:
            self.host = self.hosts[0]
            super().__init__(environment)
            self.number = next(numbering)
            self.sent = self.number

        def url(self, path: str) -> str:
            self.sent += 1
            return self.hosts[self.sent % len(self.hosts)] + path

        def sign_in(self, email: str) -> None:
            page = self.client.get(self.url("/login"), name="sign in (form)")
            self.client.post(
                self.url("/login"),
                data={"csrf_token": csrf_token(page.text), "email": email, "password": PASSWORD},
                name="sign in",
            )

    return RoundRobin


def csrf_token(page: str | None, field: str = "csrf_token") -> str:
    """The value of the hidden CSRF field ``field`` in a page ("" when it has none)."""
    tag = re.search(rf'<input[^>]*name="{re.escape(field)}"[^>]*>', page or "")
    value = re.search(r'value="([^"]*)"', tag.group(0)) if tag else None
    return value.group(1) if value else ""


def run_phase(user_classes: list[Any], config: dict[str, Any]) -> dict[str, Any]:
    """Run ``user_classes`` together for the configured time; their figures per endpoint."""
    import gevent  # noqa: PLC0415
    from locust.env import Environment  # noqa: PLC0415

    # Stopping lets each client finish the task it is in: a payment the portal confirms
    # after the measured time still reaches the client that asked for it.
    environment = Environment(user_classes=user_classes, stop_timeout=STOP_TIMEOUT_SECONDS)
    runner = environment.create_local_runner()
    users = config["users"]
    runner.start(users, spawn_rate=users)
    gevent.sleep(config["warmup"])  # sign-ins and first requests, not measured
    environment.stats.reset_all()
    started = time.monotonic()
    gevent.sleep(config["seconds"])
    elapsed = time.monotonic() - started
    endpoints = {}
    for (name, method), entry in environment.stats.entries.items():
        if entry.num_requests == 0 or name.startswith("sign in"):
            continue
        endpoints[name] = {
            "method": method,
            "requests": entry.num_requests,
            "failures": entry.num_failures,
            "rps": entry.num_requests / elapsed,
            "p50": entry.get_response_time_percentile(0.5),
            "p95": entry.get_response_time_percentile(0.95),
            "p99": entry.get_response_time_percentile(0.99),
        }
    errors = [
        {"name": error.name, "error": str(error.error), "count": error.occurrences}
        for error in environment.stats.errors.values()
    ]
    runner.stop()
    runner.quit()
    return {"seconds": elapsed, "endpoints": endpoints, "errors": errors}


def drive(config_path: Path, result_path: Path) -> None:
    """Run the four phases with locust and write their figures to ``result_path``."""
    import locust  # noqa: PLC0415, F401 - patches the standard library first
    from locust import task  # noqa: PLC0415

    config = json.loads(config_path.read_text())
    RoundRobin = round_robin_user(iter(range(1_000_000)))

    class Hello(RoundRobin):  # type: ignore[misc, valid-type]
        hosts = tuple(config["hello"])

        @task
        def hello(self) -> None:
            self.client.get(self.url("/"), name="ceiling: hello")

    class Health(RoundRobin):  # type: ignore[misc, valid-type]
        hosts = tuple(config["portal"])

        @task
        def healthz(self) -> None:
            self.client.get(self.url("/healthz"), name="portal: /healthz")

    class Debtor(RoundRobin):  # type: ignore[misc, valid-type]
        hosts = tuple(config["portal"])
        weight = 2

        @task
        def payment_page(self) -> None:
            token = config["tokens"][(self.sent * 7919 + self.number) % len(config["tokens"])]
            self.client.get(self.url(f"/pay/{token}"), name="debtor payment page")

    class Collector(RoundRobin):  # type: ignore[misc, valid-type]
        hosts = tuple(config["portal"])
        weight = 1

        def on_start(self) -> None:
            self.sign_in(config["collectors"][self.number % len(config["collectors"])])

        @task
        def queue(self) -> None:
            self.client.get(self.url("/agency/"), name="collector queue")

    class Creditor(RoundRobin):  # type: ignore[misc, valid-type]
        hosts = tuple(config["portal"])
        weight = 1

        def on_start(self) -> None:
            self.sign_in(config["creditors"][self.number % len(config["creditors"])])

        @task
        def case_list(self) -> None:
            self.client.get(self.url("/creditor/"), name="creditor case list")

    results = {
        "ceiling": run_phase([Hello], config),
        "pipeline": run_phase([Health], config),
        "debtors": run_phase([Debtor], config),
        "mixed": run_phase([Debtor, Collector, Creditor], config),
    }
    result_path.write_text(json.dumps(results, indent=2))


THIS_SCRIPT = Path(__file__).resolve()


def run_load(workdir: Path, config: dict[str, Any], script: Path = THIS_SCRIPT) -> dict[str, Any]:
    """Run ``script --drive`` (locust) in a child process; the figures it wrote."""
    config_path, result_path = workdir / "load-config.json", workdir / "load-results.json"
    config_path.write_text(json.dumps(config))
    subprocess.run(  # noqa: S603 - a bench script, in its driving role
        [sys.executable, str(script), "--drive", str(config_path),
         str(result_path)],
        check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    results: dict[str, Any] = json.loads(result_path.read_text())
    return results


# --- jobs through the worker --------------------------------------------------------------


def through_the_worker(env: dict[str, str], workdir: Path, rows: int, timeout: float) -> None:
    """A CSV import (both its jobs) and the scheduler's daily run, on the worker."""
    os.environ.update({k: v for k, v in env.items() if k not in ("PATH", "HOME")})
    from portal import create_app, db  # noqa: PLC0415

    app = create_app()
    try:
        with app.app_context():
            csv_import(app.extensions["portal.jobs"], app.extensions["portal.storage"],
                       workdir, rows, timeout)  # fmt: skip
            daily_run(app.extensions["portal.jobs"], env, timeout)
    finally:
        db.registry.remove()
        app.extensions["portal.engine"].dispose()


def csv_import(jobs: Any, store: Any, workdir: Path, rows: int, timeout: float) -> None:
    """Upload a file as the largest creditor's admin, then let the worker validate and
    place it, as the import pages do."""
    sys.path.insert(0, str(ROOT / "bench"))
    import import_bench  # noqa: PLC0415
    from sqlalchemy import func, select  # noqa: PLC0415

    from portal import db  # noqa: PLC0415
    from portal.creditor.imports import place_import, validate_import  # noqa: PLC0415
    from portal.models import Case, ImportBatch, ImportStatus, User  # noqa: PLC0415
    from portal.services import imports  # noqa: PLC0415
    from tenants.scoping import TenantScope, set_scope, unscoped  # noqa: PLC0415

    csv_path = workdir / "placement.csv"
    import_bench.generate(csv_path, rows)
    session = db.session
    with unscoped(session):
        user = session.scalars(select(User).where(User.email == CREDITOR_FOR_IMPORT)).one()
        tenant = user.tenant
    set_scope(session, TenantScope.only(tenant.id))
    with csv_path.open("rb") as upload:
        batch = imports.start_import(
            session, store, tenant=tenant, user_id=user.id, upload=upload,
            filename=csv_path.name, date_format="dmy",
        )  # fmt: skip
    session.commit()
    batch_id = batch.id

    def reached(wanted: ImportStatus, started: float) -> float:
        while time.monotonic() - started < timeout:
            session.expire_all()
            found = session.get(ImportBatch, batch_id)
            if found is not None and found.status == wanted:
                return time.monotonic() - started
            if found is not None and found.status == ImportStatus.FAILED:
                raise SystemExit(f"the import failed on the worker: {found.error}")
            session.rollback()
            time.sleep(0.2)
        raise SystemExit(f"the import did not reach {wanted} within {timeout:.0f} s")

    started = time.monotonic()
    imports.begin_validation(session, batch)
    session.commit()
    jobs.enqueue(validate_import, batch_id)
    validated = reached(ImportStatus.VALIDATED, started)
    started = time.monotonic()
    batch = session.get(ImportBatch, batch_id)
    if batch is None or not imports.begin_placing(session, batch):
        raise SystemExit("the validated import could not be confirmed")
    session.commit()
    jobs.enqueue(place_import, batch_id, user.id)
    placing = reached(ImportStatus.PLACED, started)
    with unscoped(session):
        placed = session.scalar(
            select(func.count()).select_from(Case).where(Case.import_batch_id == batch_id)
        )
    session.rollback()
    print(f"  CSV import of {rows:,} rows: validation job {validated:.1f} s, "
          f"placement job {placing:.1f} s, {placed:,} cases placed")  # fmt: skip


def daily_run(jobs: Any, env: dict[str, str], timeout: float) -> None:
    """``flask scheduler --once`` queues the day's dunning run and instalment charges (and
    the month's statements on its first tick); the worker runs them and what they queue."""
    from sqlalchemy import func, select  # noqa: PLC0415

    from portal import db  # noqa: PLC0415
    from portal.models import Activity, Document  # noqa: PLC0415
    from tenants.scoping import unscoped  # noqa: PLC0415

    def counts() -> tuple[int, int]:
        with unscoped(db.session):
            found = (
                db.session.scalar(select(func.count()).select_from(Activity)) or 0,
                db.session.scalar(select(func.count()).select_from(Document)) or 0,
            )
        db.session.rollback()
        return found

    before = counts()
    started = time.monotonic()
    queued = subprocess.run(  # noqa: S603 - the portal's own command
        [str(BIN / "flask"), "--app", "portal", "scheduler", "--once"],
        check=True, cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    for line in queued.stdout.splitlines():
        print(f"    {line}")
    tasks: dict[str, float] = {}
    while time.monotonic() - started < timeout:
        tasks.update(finished_tasks(jobs))
        if not (jobs.queue.count or jobs.queue.started_job_registry.count):
            break
        time.sleep(1)
    elapsed = time.monotonic() - started
    tasks.update(finished_tasks(jobs))
    for name, seconds in sorted(tasks.items()):
        print(f"  {name}: ran {seconds:.1f} s on the worker")
    after = counts()
    left = jobs.queue.count + jobs.queue.started_job_registry.count
    print(f"  {after[0] - before[0]:,} activities and {after[1] - before[1]:,} documents "
          f"(letters) added in {elapsed:.0f} s"
          + (f"; {left:,} jobs (letters to render) still queued after --job-timeout"
             if left else "; the queue is empty"))  # fmt: skip
    print(f"  failed jobs kept on the queue: {jobs.failed_count()}")
    for job in jobs.failed_jobs(5):
        print(f"    {job.function}({job.arguments}): {job.error}")


def finished_tasks(jobs: Any) -> dict[str, float]:
    """How long each finished scheduled task (``run_task`` job) ran, by task name."""
    from rq.job import Job  # noqa: PLC0415
    from rq.serializers import JSONSerializer  # noqa: PLC0415

    registry = jobs.queue.finished_job_registry
    found = Job.fetch_many(
        registry.get_job_ids(), connection=jobs.connection, serializer=JSONSerializer
    )
    return {
        str(job.args[0]): (job.ended_at - job.started_at).total_seconds()
        for job in found
        if job is not None
        and (job.func_name or "").endswith(".run_task")
        and job.started_at
        and job.ended_at
    }


# --- figures -------------------------------------------------------------------------------


def show(label: str, phase: dict[str, Any]) -> int:
    print(f"\n{label} ({phase['seconds']:.0f} s)")
    print(f"  {'endpoint':<24} {'requests':>9} {'req/s':>8} {'p50 ms':>7} {'p95 ms':>7} "
          f"{'p99 ms':>7} {'errors':>7}")  # fmt: skip
    failures = 0
    for name, entry in sorted(phase["endpoints"].items()):
        failures += entry["failures"]
        print(f"  {name:<24} {entry['requests']:>9,} {entry['rps']:>8.0f} {entry['p50']:>7.0f} "
              f"{entry['p95']:>7.0f} {entry['p99']:>7.0f} {entry['failures']:>7}")  # fmt: skip
    for error in phase["errors"]:
        print(f"  ERROR {error['count']}x {error['name']}: {error['error']}")
    return failures


def scrape(base: str, token: str) -> dict[str, float]:
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(  # noqa: S310 - loopback
        f"{base}/metrics", headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
        body = response.read().decode()
    counts: dict[str, float] = {}
    for line in body.splitlines():
        if line.startswith("portal_http_request_duration_seconds_count{"):
            labels, value = line.rsplit(" ", 1)
            endpoint = labels.split('endpoint="', 1)[1].split('"', 1)[0]
            counts[endpoint] = counts.get(endpoint, 0) + float(value)
    return counts


def report(results: dict[str, Any]) -> int:
    errors = sum(show(f"Phase {n}: {label}", results[key]) for n, (key, label) in enumerate(
        (("ceiling", "ceiling, minimal Flask app"),
         ("pipeline", "the portal's request pipeline alone (/healthz, no page work)"),
         ("debtors", "debtor payment page alone"),
         ("mixed", "debtors, collectors and creditors together")), start=1))  # fmt: skip
    ceiling = results["ceiling"]["endpoints"]["ceiling: hello"]["rps"]
    debtor = results["debtors"]["endpoints"]["debtor payment page"]["rps"]
    mixed = results["mixed"]["endpoints"]
    share = debtor / ceiling if ceiling else 0.0
    print("\nTargets")
    print(f"  debtor page {debtor:.0f} req/s = {share:.0%} of the ceiling's {ceiling:.0f} "
          f"(target {DEBTOR_SHARE_TARGET:.0%} or better): "
          f"{'met' if share >= DEBTOR_SHARE_TARGET else 'NOT met'}")  # fmt: skip
    for name in ("collector queue", "creditor case list"):
        if name not in mixed:  # the clients go 2:1:1 to debtors, collectors and creditors
            print(f"  {name}: not measured (no client of its kind; 4 clients or more)")
            continue
        p95 = mixed[name]["p95"]
        print(f"  {name} p95 {p95:.0f} ms (target under {LIST_P95_TARGET_MS} ms): "
              f"{'met' if p95 < LIST_P95_TARGET_MS else 'NOT met'}")  # fmt: skip
    print(f"  errors: {errors} (target 0): {'met' if errors == 0 else 'NOT met'}")
    return errors


# --- the run --------------------------------------------------------------------------------


def bench(args: argparse.Namespace, processes: Processes) -> int:
    print(f"Working folder (process logs): {processes.workdir}")
    rq = has_rq_backend() and not args.no_jobs
    database_url, reused = postgres_database(args.database_name, args.reuse)
    print(f"\nData: {database_url}")
    people = fill(database_url, args.cases, args.tenants, reused)
    secret_key = secrets.token_urlsafe(48)
    tokens = issue_links(database_url, secret_key, args.links)
    print(
        f"  {people['cases']:,} cases; {len(tokens):,} payment links issued; "
        f"{len(people['creditors'])} creditors, {len(people['collectors'])} collectors"
    )

    print("\nStarting: S3 (moto), Redis queue, 2 portal instances, worker, 2 hello instances")
    portal, env = start_portal(processes, database_url, secret_key, rq, args)
    hello_dir = processes.workdir / "hello"
    hello_dir.mkdir(exist_ok=True)
    (hello_dir / "bench_hello.py").write_text(HELLO_APP)
    hello_env = {**base_env(), "PYTHONPATH": str(hello_dir), "LOG_FORMAT": "json"}
    hello = [
        start_gunicorn(processes, f"hello-{n}", "bench_hello:app", hello_env, args.workers)
        for n in (1, 2)
    ]
    workers = args.workers or 2 * (os.cpu_count() or 1) + 1
    print(
        f"  portal {', '.join(portal)}; hello {', '.join(hello)}; "
        f"{workers} gunicorn workers each; {os.cpu_count()} CPUs on this machine"
    )

    print(
        f"\nLoad: {args.users} concurrent clients, {args.seconds} s per phase "
        f"(after {args.warmup} s unmeasured), no think time, locust in one process"
    )
    results = run_load(processes.workdir, {
        "portal": portal, "hello": hello, "tokens": list(tokens), "users": args.users,
        "seconds": args.seconds, "warmup": args.warmup, "creditors": people["creditors"],
        "collectors": people["collectors"],
    })  # fmt: skip
    errors = report(results)
    counted = [scrape(base, secret_key) for base in portal]
    print("\nThe portal's own /metrics, both instances added up (requests since start):")
    for endpoint in ("debtor.case", "agency.queue", "creditor.home"):
        print(f"  {endpoint:<16} {sum(c.get(endpoint, 0) for c in counted):>9,.0f}")

    if rq:
        print("\nJobs through the worker")
        through_the_worker(env, processes.workdir, args.import_rows, args.job_timeout)
    return errors


def stack_arguments(
    description: str, *, users: int, seconds: int, links: int
) -> argparse.ArgumentParser:
    """The options of every load script on this stack: the data, the clients, the
    processes (the script adds its own)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--users", type=int, default=users, help="concurrent clients")
    parser.add_argument("--seconds", type=int, default=seconds, help="measured time")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured start")
    parser.add_argument("--workers", type=int, help="gunicorn workers per instance")
    parser.add_argument("--links", type=int, default=links, help="debtor links issued")
    parser.add_argument("--job-workers", type=int, default=1, help="flask worker processes")
    parser.add_argument(
        "--job-timeout", type=float, default=900, help="seconds to wait for the queued jobs"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse the database's data")
    parser.add_argument(
        "--database-name", default=DATABASE_NAME,
        help="the scratch database (reporting_bench.py's bench_reporting: its 1,000,000 cases)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the database")
    parser.add_argument("--drive", nargs=2, type=Path, help=argparse.SUPPRESS)
    return parser


def checked(parser: argparse.ArgumentParser) -> argparse.Namespace:
    args = parser.parse_args()
    if args.cases < args.tenants or args.tenants < 1 or args.users < 1 or args.seconds < 1:
        parser.error("--cases >= --tenants >= 1, --users >= 1 and --seconds >= 1")
    return args


def main() -> None:
    parser = stack_arguments(
        (__doc__ or "").splitlines()[0], users=20, seconds=30, links=2_000
    )  # fmt: skip
    parser.add_argument("--import-rows", type=int, default=1_000)
    parser.add_argument("--no-jobs", action="store_true", help="no worker, no import or run")
    args = checked(parser)
    if args.drive:
        drive(*args.drive)
        return
    errors = run_alone(parser, args, "load-bench-", bench)
    raise SystemExit(1 if errors else 0)


def run_alone(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    prefix: str,
    work: Callable[[argparse.Namespace, Processes], int],
) -> int:
    """Run ``work`` as the only bench on this machine (they share the database), with a
    fresh working folder; stop the processes it started and, unless kept, drop the
    database. What ``work`` returned."""
    with Path(tempfile.gettempdir(), "load_bench.lock").open("w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            parser.error("another load bench is running (it would drop this one's database)")
        processes = Processes(Path(tempfile.mkdtemp(prefix=prefix)))
        try:
            return work(args, processes)
        finally:
            processes.stop_all()
            if not (args.keep or args.reuse):
                drop_database(args.database_name)


if __name__ == "__main__":
    main()
