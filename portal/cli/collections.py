"""``flask collections run-due``: the daily dunning run (see portal.services.dunning)."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from portal import db
from portal.db import utcnow
from portal.services import dunning

collections_group = AppGroup("collections", help="The daily collection work.")


@collections_group.command("run-due")
@click.option(
    "--date",
    "run_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as of this day (YYYY-MM-DD); today (UTC) when left out.",
)
@click.option("--batch-size", type=click.IntRange(1, 10_000), default=dunning.BATCH_SIZE)
def run_due(run_date: object, batch_size: int) -> None:
    """Advance every case whose next dunning step is due, post interest, mark promises.

    Safe to run more than once a day: a second run does nothing more.
    """
    today: date = run_date.date() if hasattr(run_date, "date") else utcnow().date()
    report = dunning.run_due(
        db.session,
        today=today,
        mailer=current_app.extensions["portal.mailer"],
        batch_size=batch_size,
    )
    click.echo(f"{today.isoformat()}: {report.summary()}")
