"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask
from sqlalchemy import inspect

from portal.db import Base
from portal.migrate import alembic_config


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
