"""Alembic environment: runs with the engine the portal hands it (``portal.migrate``)."""

from alembic import context

import portal.models  # noqa: F401 - maps every model onto the metadata
from portal.db import Base

engine = context.config.attributes["engine"]

with engine.connect() as connection:
    is_sqlite = connection.dialect.name == "sqlite"
    if is_sqlite:
        # SQLite alters a table by copying it; with foreign keys on, dropping the old copy
        # of a referenced table fails. The pragma only works outside a transaction.
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=OFF")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=is_sqlite,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
    if is_sqlite:
        connection.connection.driver_connection.execute("PRAGMA foreign_keys=ON")
