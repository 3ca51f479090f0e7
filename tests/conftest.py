"""Fixtures: each database test runs on SQLite and on PostgreSQL, inside a transaction.

The schema is built by the Alembic migrations (never ``create_all``), once per
database per test process; each test then runs in a transaction that is rolled back,
with the app's session joined to it through SAVEPOINTs (SQLAlchemy's "joining a
session into an external transaction" recipe), so commits inside views are real
commits of a savepoint and nothing leaks between tests.

PostgreSQL is required in CI (``CI`` set): there an unreachable server fails the run.
Elsewhere its tests are skipped with the reason shown.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from portal import create_app, db, migrate
from portal.extensions import limiter
from portal.models import User
from portal.services import passwords, users

POSTGRES_ADMIN_DSN = os.environ.get(
    "TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
TEST_SECRET = "test-secret-key-that-is-long-enough-for-signing"


def create_postgres_database(name: str) -> str:
    try:
        with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True, connect_timeout=3) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        message = f"PostgreSQL not reachable at {POSTGRES_ADMIN_DSN}: {error}".strip()
        if os.environ.get("CI"):
            pytest.fail(f"{message} (required in CI)", pytrace=False)
        pytest.skip(message)
    base = POSTGRES_ADMIN_DSN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


def drop_postgres_database(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> None:
    """Still argon2, with small work factors: hashing dominates test time otherwise."""
    passwords.set_hash_cost(time_cost=1, memory_kib=1024)


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'portal.db'}"
        return
    name = f"portal_test_{worker_id}_{os.getpid()}"  # several runs may share the server
    yield create_postgres_database(name)
    drop_postgres_database(name)


@pytest.fixture(scope="session")
def app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    documents = tmp_path_factory.mktemp("documents")
    application = create_app(
        {
            "PORTAL_ENV": "testing",
            "JOBS_BACKEND": "inline",
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET,
            "STORAGE_URL": documents.as_uri(),
        }
    )
    engine: Engine = application.extensions["portal.engine"]
    migrate.upgrade(engine)
    yield application
    db.registry.remove()
    engine.dispose()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """The app's session, joined to a transaction rolled back after the test."""
    engine: Engine = app.extensions["portal.engine"]
    connection = engine.connect()
    outer = connection.begin()
    db.registry.remove()
    db.registry.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield db.session
    finally:
        db.registry.remove()
        outer.rollback()
        connection.close()
        db.registry.configure(bind=engine, join_transaction_mode="conditional_savepoint")


@pytest.fixture
def client(app: Flask, session: Session) -> FlaskClient:
    limiter.reset()
    return app.test_client()


def sign_in(client: FlaskClient, user: User) -> FlaskClient:
    """Start a signed-in session for ``user`` without going through the login form."""
    with client.session_transaction() as http_session:
        http_session["_user_id"] = str(user.id)
        http_session["_fresh"] = True
        # Read afresh: signing out (another request) raises it behind this object's back.
        version = db.session.scalar(select(User.session_version).where(User.id == user.id))
        http_session[users.SESSION_VERSION] = version
    return client


@pytest.fixture(scope="module")
def race_engine(
    app: Flask, database_url: str, tmp_path_factory: pytest.TempPathFactory, worker_id: str
) -> Iterator[Engine]:
    """A database of its own, committed to for real: the rolled-back test transaction
    cannot hold two connections racing each other. (``app``: the services configured,
    the payment link's secret among them.)"""
    if database_url.startswith("sqlite"):
        url, name = f"sqlite:///{tmp_path_factory.mktemp('race') / 'race.db'}", None
    else:
        name = f"portal_race_{worker_id}_{Path(database_url).name}"[:63]
        url = create_postgres_database(name)
    engine = db.make_engine(url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
    if name is not None:
        drop_postgres_database(name)
