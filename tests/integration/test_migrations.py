"""The migrations build exactly the schema the models describe."""

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import Engine, inspect, text

from portal.db import Base, make_engine
from portal.migrate import alembic_config, upgrade
from tests.conftest import create_postgres_database, drop_postgres_database


def test_migrated_schema_matches_the_models(app: Flask) -> None:
    engine = app.extensions["portal.engine"]
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_database_is_at_the_single_head(app: Flask) -> None:
    engine = app.extensions["portal.engine"]
    heads = ScriptDirectory.from_config(alembic_config(engine)).get_heads()
    assert len(heads) == 1
    with engine.connect() as connection:
        assert MigrationContext.configure(connection).get_current_revision() == heads[0]


def test_queue_and_dashboard_indexes_exist(app: Flask) -> None:
    indexes = {
        index["name"] for index in inspect(app.extensions["portal.engine"]).get_indexes("cases")
    }
    assert {"ix_cases_queue", "ix_cases_collector_queue", "ix_cases_tenant_stage"} <= indexes


@pytest.fixture
def empty_database(database_url: str, tmp_path, worker_id: str) -> Iterator[Engine]:
    """A second, empty database of the same kind as the one under test."""
    if database_url.startswith("sqlite"):
        engine = make_engine(f"sqlite:///{tmp_path / 'upgrade.db'}")
        yield engine
        engine.dispose()
        return
    name = f"portal_upgrade_{worker_id}_{os.getpid()}"
    engine = make_engine(create_postgres_database(name))
    yield engine
    engine.dispose()
    drop_postgres_database(name)


def insert_one_case(engine: Engine) -> None:
    """A tenant, a debtor and a case as the first schema (0001) holds them."""
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO tenants (id, slug, name, status, currency, commission_amicable_bp,"
                " commission_legal_bp, plan_min_down_payment_bp, plan_max_instalments,"
                " plan_min_instalment_minor, plan_frequencies, dunning_cadence, brand_colour,"
                " created_at) VALUES (1, 'acme', 'Acme', 'active', 'EUR', 1500, 2500, 1000, 12,"
                " 2500, '[]', '[]', '#000000', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO debtors (id, tenant_id, kind, name, country, language, created_at)"
                " VALUES (1, 1, 'business', 'Keller Bau', 'DE', 'de', CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO cases (id, tenant_id, debtor_id, creditor_reference, agency_reference,"
                " currency, stage, priority, placed_at, updated_at) VALUES (1, 1, 1, 'R-1',"
                " '26-AAAA-BBBB', 'EUR', 'placed', 50, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )


def test_upgrade_keeps_existing_cases(empty_database: Engine) -> None:
    """Every migration runs on a database that already holds data, not just an empty one."""
    upgrade(empty_database, "0001")
    insert_one_case(empty_database)
    upgrade(empty_database)
    with empty_database.connect() as connection:
        row = connection.execute(
            text(
                "SELECT c.reminders_sent, c.contract_reviewed, t.mandate_months, t.csv_date_format"
                " FROM cases c JOIN tenants t ON t.id = c.tenant_id"
            )
        ).one()
        assert tuple(row) == (0, False, 12, "dmy")
        rules = connection.execute(text("SELECT count(*) FROM late_payment_rules")).scalar()
        assert rules and rules > 0


def test_the_money_summaries_are_filled_from_the_ledger_on_upgrade(
    empty_database: Engine,
) -> None:
    """Cases placed before 0008 get their summaries from the entries already booked."""
    upgrade(empty_database, "0001")
    insert_one_case(empty_database)
    upgrade(empty_database, "0007")
    with empty_database.begin() as connection:
        for number, due, amount in (("A", "2026-03-10", 100_000), ("B", "2026-02-10", 25_000)):
            connection.execute(
                text(
                    "INSERT INTO invoices (tenant_id, case_id, number, issue_date, due_date,"
                    " amount_minor) VALUES (1, 1, :number, '2026-01-10', :due, :amount)"
                ),
                {"number": number, "due": due, "amount": amount},
            )
        for kind, amount in (("principal", 125_000), ("interest", 1_234), ("payment", -50_000),
                             ("reversal", 10_000)):  # fmt: skip
            connection.execute(
                text(
                    "INSERT INTO ledger_entries (tenant_id, case_id, kind, amount_minor, currency,"
                    " value_date, description, created_at) VALUES (1, 1, :kind, :amount, 'EUR',"
                    " '2026-04-01', 'booked before 0008', CURRENT_TIMESTAMP)"
                ),
                {"kind": kind, "amount": amount},
            )
    upgrade(empty_database)
    with empty_database.connect() as connection:
        row = connection.execute(
            text("SELECT placed_minor, claimed_minor, collected_minor, oldest_due_on FROM cases")
        ).one()
    assert tuple(row)[:3] == (125_000, 126_234, 40_000)
    assert str(row[3]) == "2026-02-10"
