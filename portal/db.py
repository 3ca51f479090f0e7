"""The database handle shared by models, services and the web layer.

A plain SQLAlchemy ``scoped_session`` (one session per thread, removed when a Flask
app context ends) rather than Flask-SQLAlchemy, so that services and CLI commands use
the same session without a request, and tests can bind it to an outer transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import DateTime, Engine, MetaData, create_engine, event, make_url
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC that always comes back timezone-aware.

    SQLite keeps no zone, so without this a value read back would compare unequal to
    the aware value that was written.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC timestamp is stored")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


registry: scoped_session[Session] = scoped_session(sessionmaker(expire_on_commit=False))
# The registry proxies every Session method to the current thread's session; typed as one.
session = cast(Session, registry)


def make_engine(url: str, *, connect_timeout: int = 0, **options: Any) -> Engine:
    """Create an engine; SQLite gets foreign keys and real SAVEPOINT support.

    Elsewhere a new connection gives up after ``connect_timeout`` seconds (0: the
    driver's default, which waits as long as the network does) unless the URL names
    its own ``connect_timeout``: a server that accepts and never answers fails the
    request instead of holding it.
    """
    if url.startswith("sqlite"):
        options.setdefault("connect_args", {"check_same_thread": False})
        engine = create_engine(url, **options)
        _make_sqlite_transactional(engine)
        return engine
    options.setdefault("pool_pre_ping", True)
    if connect_timeout and "connect_timeout" not in make_url(url).query:
        options.setdefault("connect_args", {}).setdefault("connect_timeout", connect_timeout)
    return create_engine(url, **options)


def limit_transactions(
    engine: Engine,
    *,
    statement_timeout: int,
    lock_timeout: int,
    applies: Callable[[], bool],
) -> None:
    """On PostgreSQL, every transaction begun while ``applies()`` holds cancels a
    statement that runs longer than ``statement_timeout`` seconds or waits longer than
    ``lock_timeout`` for a lock (0: no limit); the statement raises ``OperationalError``.

    The limits are set for the transaction only (``SET LOCAL``), so a pooled connection
    carries nothing over to work that ``applies()`` leaves unlimited.
    """
    if engine.dialect.name != "postgresql" or not (statement_timeout or lock_timeout):
        return
    limits = {"statement": str(statement_timeout * 1000), "lock": str(lock_timeout * 1000)}

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        if applies():
            connection.exec_driver_sql(
                "SELECT set_config('statement_timeout', %(statement)s, true), "
                "set_config('lock_timeout', %(lock)s, true)",
                limits,
            )


def _make_sqlite_transactional(engine: Engine) -> None:
    # pysqlite's own transaction handling breaks SAVEPOINT; the SQLAlchemy docs'
    # recipe hands BEGIN to SQLAlchemy instead. BEGIN IMMEDIATE takes the write lock at
    # the start, so a second writer (a background job beside a request) waits its turn
    # instead of failing with "database is locked"; WAL keeps readers out of its way.
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if cursor.execute("PRAGMA journal_mode").fetchone()[0] != "memory":
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def bind(engine: Engine) -> None:
    registry.remove()
    registry.configure(bind=engine)
