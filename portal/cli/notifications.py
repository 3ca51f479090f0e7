"""``flask notifications digest``: the daily digest e-mail (see portal.services.notices)."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from portal import db
from portal.db import utcnow
from portal.services import notices

notifications_group = AppGroup("notifications", help="Notices to the portal's users.")


@notifications_group.command("digest")
@click.option(
    "--date",
    "run_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="The digest of this day (YYYY-MM-DD); today (UTC) when left out.",
)
def digest(run_date: object) -> None:
    """E-mail each person their digest of the day's unread notices.

    Safe to run more than once a day: a person gets one digest a day.
    """
    day: date = run_date.date() if hasattr(run_date, "date") else utcnow().date()
    sent = notices.send_daily_digests(db.session, current_app.extensions["portal.mailer"], day)
    db.session.commit()
    click.echo(f"{day.isoformat()}: {sent} digest(s) sent")
