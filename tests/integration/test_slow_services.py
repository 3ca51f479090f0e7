"""Services that stop answering in the middle of a request without refusing it: the
rate limiter's Redis, document storage, PostgreSQL and the mail server.

A service that accepts the connection and then says nothing (hung, overloaded, or
behind a network that drops its answers) is played by ``SilentServer``, a loopback port
that accepts and never sends a byte; then the real service (``redis-server``, a moto S3
server, an SMTP server) is started on that very port. PostgreSQL is made slow by
holding, from a connection of the test's own, the row or table a request needs.

Each request must answer within a bound well inside the web server's 30 s request
timeout: the clear page with nothing saved, or (the rate limiter) the page itself.
"""

from __future__ import annotations

import smtplib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from datetime import date
from typing import Any

import psycopg
import pytest
import redis
from aiosmtpd.controller import Controller
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import db, migrate
from portal.adapters.errors import ServiceUnavailable
from portal.adapters.mail import Mail, SmtpMailer
from portal.adapters.storage import S3Storage
from portal.config import ConfigurationError, load_settings
from portal.models import (
    AuditEntry,
    Case,
    Checkout,
    Document,
    OutboxMessage,
    PasswordReset,
    Role,
    Tenant,
)
from portal.services import ledger, payment_links
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.conftest import POSTGRES_ADMIN_DSN, sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_documents import upload
from tests.integration.test_faults import (  # noqa: F401 - the fixtures
    RedisServer,
    assert_unavailable_page,
    aws_test_credentials,
    build_app,
    count,
    form_token,
    own_apps,
    own_postgres,
    pay_in_full,
    redis_port,
    world,
)
from tests.integration.test_health import closed_port
from tests.integration.test_mail_and_jobs import Inbox
from tests.integration.test_password_reset import ask
from tests.s3_support import use_test_credentials

# The most a request may take while a service is silent (seconds). The services'
# timeouts are shortened in these tests where the adapter takes them; the rate limiter
# and PostgreSQL's connect timeout run with the portal's own.
PROMPT = 5.0


class SilentServer(AbstractContextManager["SilentServer"]):
    """A loopback port that accepts connections and never sends a byte; with
    ``hang_up_after`` (seconds) it closes each one then, so that a client without a
    timeout of its own fails a test late instead of hanging it."""

    def __init__(self, port: int = 0, *, hang_up_after: float | None = None) -> None:
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._hang_up_after = hang_up_after
        self._accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _address = self._listener.accept()
            except OSError:
                return  # closed
            self._accepted.append(connection)
            if self._hang_up_after is not None:
                hang_up = threading.Timer(self._hang_up_after, connection.close)
                hang_up.daemon = True
                hang_up.start()

    def __exit__(self, *_exc: object) -> None:
        """Free the port for the real service."""
        self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(5)
        for connection in self._accepted:
            connection.close()


def within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s answer, which must come within ``seconds``."""
    started = time.monotonic()
    answer = call()
    took = time.monotonic() - started
    assert took < seconds, f"answered after {took:.1f} s"
    return answer


# --- the rate limiter's Redis ----------------------------------------------------------------


@pytest.fixture
def limited(
    database_url: str,
    own_apps: list[Flask],  # noqa: F811
    redis_port: RedisServer,  # noqa: F811
    tmp_path,
) -> tuple[Flask, Case]:
    """An app whose rate limits are counted in Redis on ``redis_port`` (not started), on
    a SQLite database of its own, with a case for the debtor's page."""
    if database_url.startswith("postgresql"):
        pytest.skip("the rate limiter's storage is the same on either database")
    limited = build_app(
        f"sqlite:///{tmp_path / 'limited.db'}",
        tmp_path,
        REDIS_URL=f"redis://127.0.0.1:{redis_port.port}/0",
        LOGIN_RATE_LIMIT="3 per minute",
    )
    own_apps.append(limited)
    migrate.upgrade(limited.extensions["portal.engine"])
    with limited.app_context(), unscoped(db.session):
        case = make_case(db.session, make_tenant(db.session, "acme"), debtor_name="Keller Bau")
        db.session.commit()
    return limited, case


def sign_in_attempt(client: FlaskClient) -> int:
    token = form_token(client, "/login")
    data = {"csrf_token": token, "email": "anna@acme.example", "password": "x" * 12}
    return int(within(PROMPT, lambda: client.post("/login", data=data)).status_code)


def limiter_keys(port: int) -> list[str]:
    keys = redis.Redis(port=port, socket_connect_timeout=1).keys("LIMITS*")
    return [key.decode() for key in keys]


@pytest.mark.parametrize("outage", ["stopped", "silent"])
def test_rate_limits_are_counted_in_memory_while_redis_is_away_then_in_redis_again(
    limited: tuple[Flask, Case],
    redis_port: RedisServer,  # noqa: F811
    outage: str,
) -> None:
    app, case = limited
    client = app.test_client()
    debtor_page = f"/pay/{payment_links.token_for(case)}"
    away: AbstractContextManager[Any] = (
        SilentServer(redis_port.port) if outage == "silent" else nullcontext()
    )
    with away:
        page = within(PROMPT, lambda: client.get(debtor_page))
        assert page.status_code == 200 and "Keller Bau" in page.get_data(as_text=True)
        assert [sign_in_attempt(client) for _ in range(4)] == [401, 401, 401, 429]

    redis_port.start()
    # The limiter asks Redis again after a pause that doubles with each failed try.
    deadline = time.monotonic() + 60
    while not limiter_keys(redis_port.port):
        assert time.monotonic() < deadline, "the rate limiter did not go back to Redis"
        assert client.get(debtor_page).status_code in {200, 429}
        time.sleep(0.5)
    # Counted afresh in Redis: three attempts again, then the limit.
    assert [sign_in_attempt(client) for _ in range(4)] == [401, 401, 401, 429]
    assert any("auth.login" in key for key in limiter_keys(redis_port.port))


# --- document storage ------------------------------------------------------------------------


def silent_storage(port: int) -> S3Storage:
    """The portal's S3 adapter with short timeouts and one retry, at a silent port."""
    return S3Storage(
        "documents",
        "portal",
        endpoint_url=f"http://127.0.0.1:{port}",
        connect_timeout=1,
        read_timeout=0.5,
        retries=1,
    )


@pytest.mark.usefixtures("aws_test_credentials")
def test_an_upload_to_a_silent_store_is_refused_in_time_and_works_once_it_answers(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    before = count(session, Document)
    with SilentServer() as silent:
        storage = silent_storage(silent.port)
        monkeypatch.setitem(app.extensions, "portal.storage", storage)
        token = form_token(client, f"/creditor/cases/{case.id}")
        response = within(PROMPT, lambda: upload(client, case, samples.pdf(), token=token))
    assert_unavailable_page(response)
    assert count(session, Document) == before

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=silent.port, verbose=False)
    server.start()
    try:
        storage.client.create_bucket(Bucket="documents")
        assert upload(client, case, samples.pdf()).status_code == 302
        with unscoped(session):
            [document] = session.scalars(select(Document).where(Document.case_id == case.id))
        assert storage.get(document.storage_key) == samples.pdf()
    finally:
        server.stop()


@pytest.mark.usefixtures("aws_test_credentials")
def test_downloads_do_not_wait_for_a_silent_store_and_a_logo_gives_the_clear_page(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: dict[str, Any],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A download is a presigned link: the browser, not the portal, waits for the store.
    The creditor's logo on the debtor's page is read by the portal itself."""
    case = world["case"]
    sign_in(client, world["creditor"])
    assert upload(client, case, samples.pdf()).status_code == 302  # the local folder
    with unscoped(session):
        [document] = session.scalars(select(Document).where(Document.case_id == case.id))
        acme = session.get(Tenant, world["acme"].id)
        assert acme is not None
        acme.logo_key = f"tenant/{acme.id}/branding/logo-0badc0de.png"
        session.commit()
    with SilentServer() as silent:
        monkeypatch.setitem(app.extensions, "portal.storage", silent_storage(silent.port))
        download = f"/creditor/cases/{case.id}/documents/{document.id}"
        response = within(PROMPT, lambda: client.get(download))
        assert response.status_code == 302
        assert response.headers["Location"].startswith(
            f"http://127.0.0.1:{silent.port}/documents/portal/{document.storage_key}?"
        )
        logo = f"/pay/{payment_links.token_for(case)}/logo"
        assert_unavailable_page(within(PROMPT, lambda: client.get(logo)))
    with unscoped(session):
        audited = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "document.downloaded")
        ).all()
    assert [entry.object_id for entry in audited] == [str(document.id)]


def test_the_store_gives_up_within_the_web_servers_request_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every attempt waiting out its connect and read timeouts, plus standard mode's
    backoff between attempts (at most 1, 2, 4 ... s), stays under gunicorn's 30 s with
    time to spare for the rest of the request."""
    use_test_credentials(monkeypatch)
    config = S3Storage("documents").client.meta.config
    attempts = config.retries["total_max_attempts"]
    backoff = sum(2**retry for retry in range(attempts - 1))
    assert attempts * (config.connect_timeout + config.read_timeout) + backoff <= 25


# --- PostgreSQL ------------------------------------------------------------------------------

# The web's limits, short: the statement's own, or the wait for a lock.
STATEMENT_CUT = {"DATABASE_STATEMENT_TIMEOUT": "1", "DATABASE_LOCK_TIMEOUT": "0"}
LOCK_CUT = {"DATABASE_STATEMENT_TIMEOUT": "30", "DATABASE_LOCK_TIMEOUT": "1"}
BOTH_CUT = {"DATABASE_STATEMENT_TIMEOUT": "1", "DATABASE_LOCK_TIMEOUT": "1"}


@contextmanager
def held(app: Flask, statement: str, *params: object, release_after: float) -> Iterator[None]:
    """Run ``statement`` (a row or table lock) in a transaction of another connection to
    ``app``'s database, held until ``release_after`` seconds pass or the block ends."""
    database = app.extensions["portal.engine"].url.database
    dsn = f"{POSTGRES_ADMIN_DSN.rsplit('/', 1)[0]}/{database}"
    with psycopg.connect(dsn) as holder:
        holder.execute(statement, params)
        release = threading.Timer(release_after, holder.rollback)
        release.start()
        try:
            yield
        finally:
            release.cancel()
            release.join()
            holder.rollback()


def placed_case(app: Flask) -> Case:
    with app.app_context(), unscoped(db.session):
        case = make_case(db.session, make_tenant(db.session, "acme"), amounts=(120_000,))
        db.session.commit()
    return case


def checkouts_of(app: Flask) -> int:
    with app.app_context():
        return count(db.session, Checkout)


@pytest.mark.parametrize("own_postgres", [STATEMENT_CUT, LOCK_CUT], indirect=True)
def test_paying_on_a_case_locked_elsewhere_gives_the_clear_page_in_time(
    own_postgres: Flask,  # noqa: F811
) -> None:
    """Starting a checkout takes the case's row; while another transaction holds it the
    request is cut by the web's statement or lock timeout, not by the web server."""
    case = placed_case(own_postgres)
    client = own_postgres.test_client()
    lock = "SELECT id FROM cases WHERE id = %s FOR UPDATE"
    # Released in any case, so that a request without the limits fails late, not never.
    with held(own_postgres, lock, case.id, release_after=2 * PROMPT):
        response = within(PROMPT, lambda: pay_in_full(client, case))
        assert response.status_code == 503
        assert "no payment was taken" in response.get_data(as_text=True)
        assert checkouts_of(own_postgres) == 0

    assert pay_in_full(client, case).status_code == 303
    assert checkouts_of(own_postgres) == 1


def postpone(case_id: int) -> None:
    """A job: take the case's row and move its next action on."""
    with unscoped(db.session):
        case = db.session.get(Case, case_id)
        assert case is not None
        ledger.lock_case(db.session, case)
        case.next_action_on = date(2030, 1, 1)
        db.session.commit()


@pytest.mark.parametrize("own_postgres", [BOTH_CUT | {"JOBS_BACKEND": "thread"}], indirect=True)
def test_commands_and_jobs_wait_for_a_lock_as_long_as_it_takes(
    own_postgres: Flask,  # noqa: F811
) -> None:
    """The limits are the web's: a migration or a job behind a lock held longer than
    they allow finishes once it is released, on a connection a request committed on."""
    case = placed_case(own_postgres)
    assert pay_in_full(own_postgres.test_client(), case).status_code == 303

    with held(own_postgres, "LOCK TABLE alembic_version", release_after=2.5):
        result = own_postgres.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output

    jobs = own_postgres.extensions["portal.jobs"]
    lock = "SELECT id FROM cases WHERE id = %s FOR UPDATE"
    with held(own_postgres, lock, case.id, release_after=2.5):
        jobs.enqueue(postpone, case.id)
        jobs.wait_idle()
    with own_postgres.app_context(), unscoped(db.session):
        assert db.session.get(Case, case.id).next_action_on == date(2030, 1, 1)


def test_a_database_that_accepts_and_never_answers_gives_the_clear_page_in_time(
    database_url: str,
    own_apps: list[Flask],  # noqa: F811
    tmp_path,
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL's connect timeout")
    with SilentServer(hang_up_after=2 * PROMPT) as silent:
        url = f"postgresql+psycopg://postgres@127.0.0.1:{silent.port}/portal"
        down = build_app(url, tmp_path, DATABASE_CONNECT_TIMEOUT="2")
        own_apps.append(down)
        client = down.test_client()
        token = form_token(client, "/login")
        data = {"csrf_token": token, "email": "anna@acme.example", "password": "x" * 12}
        assert_unavailable_page(within(PROMPT, lambda: client.post("/login", data=data)))


# --- the mail server -------------------------------------------------------------------------


def test_asking_for_a_reset_link_with_the_mail_server_silent_saves_nothing(
    app: Flask, client: FlaskClient, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    with unscoped(session):
        user = make_user(session, Role.COLLECTOR)
        session.commit()
    with SilentServer() as silent:
        mailer = SmtpMailer("127.0.0.1", silent.port, "collections@agency.example", timeout=0.5)
        monkeypatch.setitem(app.extensions, "portal.mailer", mailer)
        assert_unavailable_page(within(PROMPT, lambda: ask(client, user.email)))
    assert count(session, PasswordReset) == count(session, OutboxMessage) == 0

    inbox = Inbox()
    server = Controller(inbox, hostname="127.0.0.1", port=silent.port)
    server.start()
    try:
        assert ask(client, user.email).status_code == 200
    finally:
        server.stop()
    assert [message["To"] for message in inbox.received] == [user.email]
    assert count(session, PasswordReset) == count(session, OutboxMessage) == 1


class Refusing:
    """An SMTP server's handler that answers ``reply`` at the recipient or the message."""

    def __init__(self, stage: str, reply: str) -> None:
        self.stage, self.reply = stage, reply

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        if self.stage == "recipient":
            return self.reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        return self.reply


@pytest.mark.parametrize(
    "stage,reply,raised",
    [
        ("recipient", "450 4.2.1 Mailbox busy, try later", ServiceUnavailable),
        ("message", "451 4.3.0 Try again later", ServiceUnavailable),
        ("recipient", "550 5.1.1 No such user", smtplib.SMTPRecipientsRefused),
        ("message", "554 5.7.1 Rejected as spam", smtplib.SMTPDataError),
    ],
)
def test_a_refusal_for_now_is_unavailable_and_one_for_good_is_not(
    stage: str, reply: str, raised: type[Exception]
) -> None:
    server = Controller(Refusing(stage, reply), hostname="127.0.0.1", port=closed_port())
    server.start()
    try:
        mailer = SmtpMailer("127.0.0.1", server.port, "collections@agency.example", timeout=5)
        with pytest.raises(raised):
            mailer.send(Session(), Mail("debtor@example.com", "Reminder", "Please pay"))
    finally:
        server.stop()


@pytest.mark.parametrize(
    "name", ["DATABASE_CONNECT_TIMEOUT", "DATABASE_STATEMENT_TIMEOUT", "DATABASE_LOCK_TIMEOUT"]
)
def test_a_negative_database_timeout_is_refused(name: str, tmp_path) -> None:
    with pytest.raises(ConfigurationError, match=f"{name} must be 0"):
        load_settings({name: "-1"}, tmp_path)
