from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal import migrate

db_group = AppGroup("db", help="The database schema.")


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Apply the migrations up to REVISION (default: the newest)."""
    migrate.upgrade(current_app.extensions["portal.engine"], revision)
    click.echo(f"database at {revision}")
