"""A service stopped or slow in the middle of a request: a clear page, nothing half-written,
and the same app working again once the service is back.

Each service is made to fail for real: document storage, Stripe and Redis are pointed at a
loopback port where nothing listens (then a moto S3 server, the fake Stripe or a
``redis-server`` is started on that very port); the database's connections are killed
from an admin connection, or the database is on a closed port.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from portal import create_app, db, migrate
from portal.adapters.errors import ServiceUnavailable
from portal.adapters.jobs import RedisJobs
from portal.adapters.storage import S3Storage
from portal.adapters.stripe_payments import StripePayments
from portal.creditor.imports import validate_import
from portal.extensions import limiter
from portal.models import Case, Checkout, Document, ImportBatch, ImportStatus, Role
from portal.services import letters, payment_links
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.conftest import (
    POSTGRES_ADMIN_DSN,
    TEST_SECRET,
    create_postgres_database,
    drop_postgres_database,
    sign_in,
)
from tests.factories import make_case, make_tenant, make_user
from tests.fake_stripe import FakeStripe, _Handler
from tests.integration.test_documents import upload
from tests.integration.test_health import closed_port
from tests.integration.test_imports import HEADER, batch_of, confirm, csv_bytes, fresh, row
from tests.integration.test_imports import upload as upload_csv
from tests.s3_support import use_test_credentials

PLAIN_WORDS = "Nothing was saved"


def assert_unavailable_page(response: Any) -> None:
    assert response.status_code == 503
    # 30 s, or longer where a rate limit's window (login, debtor pages) says so.
    assert int(response.headers["Retry-After"]) >= 30
    page = response.get_data(as_text=True)
    assert PLAIN_WORDS in page and "Traceback" not in page


def count(session: Session, model: type) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    limiter.reset()
    with unscoped(session):
        acme = make_tenant(session, "acme")
        world = {
            "acme": acme,
            "case": make_case(session, acme, debtor_name="Keller Bau GmbH", amounts=(120_000,)),
            "creditor": make_user(session, Role.CREDITOR_USER, acme),
        }
        session.commit()
    return world


# --- document storage ------------------------------------------------------------------------


@pytest.fixture
def aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Test credentials only: nothing real is read or reached."""
    use_test_credentials(monkeypatch)


def test_an_upload_with_storage_stopped_is_refused_and_works_once_it_is_back(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world,
    aws_test_credentials: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = closed_port()
    storage = S3Storage("documents", "portal", endpoint_url=f"http://127.0.0.1:{port}")
    monkeypatch.setitem(app.extensions, "portal.storage", storage)
    case = world["case"]
    sign_in(client, world["creditor"])
    before = count(session, Document)

    assert_unavailable_page(upload(client, case, samples.pdf(), "Rechnung.pdf"))
    assert count(session, Document) == before

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        storage.client.create_bucket(Bucket="documents")
        response = upload(client, case, samples.pdf(), "Rechnung.pdf")
        assert response.status_code == 302
        with unscoped(session):
            [document] = session.scalars(select(Document).where(Document.case_id == case.id))
        assert storage.get(document.storage_key) == samples.pdf()
    finally:
        server.stop()


def test_a_failed_commit_leaves_no_file_behind(
    client: FlaskClient, session: Session, world, app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The bytes go to storage first; when the row cannot be committed they are deleted."""
    storage = app.extensions["portal.storage"]
    stored: list[str] = []
    real_put = storage.put

    def put(key: str, data: Any, content_type: str) -> None:
        stored.append(key)
        real_put(key, data, content_type)

    def commit() -> None:
        raise OperationalError("COMMIT", {}, Exception("server closed the connection"))

    monkeypatch.setattr(storage, "put", put)
    sign_in(client, world["creditor"])
    case = world["case"]
    before = count(session, Document)
    token = form_token(client, f"/creditor/cases/{case.id}")
    monkeypatch.setattr(db.session, "commit", commit)
    response = upload(client, case, samples.pdf(), token=token)
    monkeypatch.undo()
    assert_unavailable_page(response)
    assert count(session, Document) == before
    [key] = stored
    assert not (storage.root / key).exists()


def form_token(client: FlaskClient, page: str) -> str:
    page_html = client.get(page).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page_html)
    assert found, f"no form on {page}"
    return found.group(1)


# --- the payment provider --------------------------------------------------------------------


class FakeStripeAt(FakeStripe):
    """The fake Stripe API served on a port chosen beforehand (where a test's app points)."""

    def __init__(self, port: int) -> None:
        super().__init__()
        self._server.server_close()
        self._server = _ServerAt(self, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )


class _ServerAt(ThreadingHTTPServer):
    def __init__(self, fake: FakeStripe, port: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.fake = fake


def pay_in_full(client: FlaskClient, case: Case) -> Any:
    page = f"/pay/{payment_links.token_for(case)}"
    return client.post(
        f"{page}/checkout", data={"csrf_token": form_token(client, page), "purpose": "full"}
    )


def test_paying_with_the_provider_stopped_records_nothing_and_works_once_it_is_back(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    port = closed_port()
    provider = StripePayments(
        FakeStripe.secret_key, FakeStripe.webhook_secret, f"http://127.0.0.1:{port}"
    )
    monkeypatch.setitem(app.extensions, "portal.payments", provider)
    case = world["case"]

    response = pay_in_full(client, case)
    assert response.status_code == 503
    page = response.get_data(as_text=True)
    assert "no payment was taken" in page
    # Back to the account, not to the form's address (which only takes a POST).
    token = payment_links.token_for(case)
    assert f'href="/pay/{token}" role="button"' in page
    assert count(session, Checkout) == 0

    fake = FakeStripeAt(port)
    fake.start()
    try:
        response = pay_in_full(client, case)
        assert response.status_code == 303
        [session_id] = fake.sessions
        assert response.headers["Location"] == fake.sessions[session_id]["url"]
        # Asked again (a double click): the same session, still one checkout.
        assert pay_in_full(client, case).headers["Location"] == response.headers["Location"]
        assert len(fake.sessions) == 1
        assert count(session, Checkout) == 1
    finally:
        fake.stop()


class _Slow(BaseHTTPRequestHandler):
    """Answers nothing until the test ends."""

    release = threading.Event()

    def do_POST(self) -> None:
        self.release.wait(10)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def test_a_provider_slower_than_the_timeout_gives_the_clear_page(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    provider = StripePayments(
        FakeStripe.secret_key,
        FakeStripe.webhook_secret,
        f"http://{host!s}:{port}",
        timeout=(1.0, 0.5),
    )
    monkeypatch.setitem(app.extensions, "portal.payments", provider)
    try:
        response = pay_in_full(client, world["case"])
    finally:
        _Slow.release.set()
        server.shutdown()
        server.server_close()
    assert response.status_code == 503
    assert "no payment was taken" in response.get_data(as_text=True)
    assert count(session, Checkout) == 0


# --- the job queue ---------------------------------------------------------------------------


class RedisServer:
    """A ``redis-server`` of the test's own on a given port, to stop and start again."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("redis-server")
        assert binary
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        self._process = subprocess.Popen(  # noqa: S603 - a fixed local binary
            [*command, "--appendonly", "no"], stdout=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_connect_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(10)
            self._process = None


@pytest.fixture
def redis_port() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    server = RedisServer(closed_port())
    yield server
    server.stop()


def test_confirming_an_import_with_the_queue_stopped_leaves_it_as_it_was(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world,
    redis_port: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sign_in(client, world["creditor"])
    content = csv_bytes([HEADER, row("ACME-9", "Harbour Cafe Ltd", "RE-9", "250.00")])
    batch = batch_of(session, upload_csv(client, content))  # checked inline
    assert batch.status == ImportStatus.VALIDATED
    queue = RedisJobs.from_url(f"redis://127.0.0.1:{redis_port.port}/0", "faults", 60)
    monkeypatch.setitem(app.extensions, "portal.jobs", queue)

    started = time.monotonic()
    assert_unavailable_page(confirm(client, batch))
    assert time.monotonic() - started < 20
    batch = fresh(session, ImportBatch, batch.id)
    assert batch.status == ImportStatus.VALIDATED
    assert "Place 1 case" in client.get(f"/creditor/imports/{batch.id}").get_data(as_text=True)

    redis_port.start()
    assert confirm(client, batch).status_code == 302
    assert fresh(session, ImportBatch, batch.id).status == ImportStatus.PLACING
    assert queue.queue.count == 1


# --- the database ----------------------------------------------------------------------------


@pytest.fixture
def own_apps(app: Flask) -> Iterator[list[Flask]]:
    """Apps built by the test; building one binds the shared session, configures the
    letters and points the rate limiter at its storage: the suite's are put back."""
    letter_settings = letters.configured()
    built: list[Flask] = []
    yield built
    for other in built:
        other.extensions["portal.engine"].dispose()
    db.registry.remove()
    db.bind(app.extensions["portal.engine"])
    letters.configure(letter_settings)
    limiter.init_app(app)


@pytest.fixture
def own_postgres(
    request: pytest.FixtureRequest, database_url: str, own_apps: list[Flask], tmp_path
) -> Iterator[Flask]:
    """An app on a PostgreSQL database of its own, committed to for real (its connections
    are killed or its rows locked, which the test's rolled-back transaction would not
    survive); parametrised indirectly, with settings of the test's own."""
    if not database_url.startswith("postgresql"):
        pytest.skip("connections are killed and rows locked on PostgreSQL")
    name = f"portal_faults_{uuid.uuid4().hex[:12]}"
    url = create_postgres_database(name)
    other = build_app(url, tmp_path, **getattr(request, "param", {}))
    own_apps.append(other)
    migrate.upgrade(other.extensions["portal.engine"])
    yield other
    other.extensions["portal.engine"].dispose()
    drop_postgres_database(name)


@pytest.fixture
def database_down(own_apps: list[Flask], tmp_path) -> FlaskClient:
    """A client of an app whose database is on a port where nothing listens."""
    down = build_app(f"postgresql+psycopg://postgres@127.0.0.1:{closed_port()}/portal", tmp_path)
    own_apps.append(down)
    return down.test_client()


def build_app(database_url: str, tmp_path, **settings: str) -> Flask:
    return create_app(
        {
            "PORTAL_ENV": "testing",
            "JOBS_BACKEND": "inline",
            "SECRET_KEY": TEST_SECRET,
            "DATABASE_URL": database_url,
            "STORAGE_URL": (tmp_path / "documents").as_uri(),
            **settings,
        }
    )


def _kill_connections(database: str) -> int:
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        killed = admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchone()
    return int(killed[0]) if killed else 0


def test_killed_database_connections_are_replaced_on_the_next_request(
    own_postgres: Flask,
) -> None:
    with own_postgres.app_context(), unscoped(db.session):
        acme = make_tenant(db.session, "acme")
        case = make_case(db.session, acme, debtor_name="Keller Bau GmbH")
        creditor = make_user(db.session, Role.CREDITOR_USER, acme)
        db.session.commit()
    client = own_postgres.test_client()
    with own_postgres.app_context():
        sign_in(client, creditor)
    assert client.get(f"/creditor/cases/{case.id}").status_code == 200
    database = own_postgres.extensions["portal.engine"].url.database
    assert _kill_connections(database) >= 1

    with own_postgres.app_context():
        token = form_token(client, f"/creditor/cases/{case.id}")  # the request after the kill
        assert upload(client, case, samples.pdf(), token=token).status_code == 302
        with unscoped(db.session):
            assert db.session.scalar(select(func.count()).select_from(Case)) == 1
            stored = db.session.scalars(select(Document)).all()
    assert [document.case_id for document in stored] == [case.id]


def test_a_database_that_does_not_answer_gives_the_clear_page_on_login(
    database_down: FlaskClient,
) -> None:
    token = form_token(database_down, "/login")
    response = database_down.post(
        "/login", data={"csrf_token": token, "email": "anna@acme.example", "password": "x" * 12}
    )
    assert_unavailable_page(response)


def test_the_api_answers_a_problem_document_when_the_database_does_not(
    database_down: FlaskClient,
) -> None:
    response = database_down.get("/api/v1/cases", headers={"Authorization": "Bearer pk_test_key"})
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"] == "30"
    assert PLAIN_WORDS in response.get_json()["detail"]


def test_the_queue_stopped_fails_fast_as_unavailable() -> None:
    queue = RedisJobs.from_url(f"redis://127.0.0.1:{closed_port()}/0", "faults", 60)
    with pytest.raises(ServiceUnavailable, match="the job queue"):
        queue.enqueue(validate_import, 1)
