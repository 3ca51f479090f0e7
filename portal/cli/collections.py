"""``flask collections run-due``: the daily dunning run (see portal.services.dunning)."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask import current_app
from flask.cli import AppGroup

from portal import db, jobs
from portal.cli.payments import charge_due
from portal.db import utcnow
from portal.services import dunning, invoice_checks, litigation
from tenants.scoping import unscoped

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
    """Advance every case whose next dunning step is due, post interest, mark promises,
    then write the invoice checks (converting those unpaid too long), charge the
    instalments due (marking the missed ones) and remind the hearings ahead.

    Safe to run more than once a day: a second run does nothing more.
    """
    today: date = run_date.date() if hasattr(run_date, "date") else utcnow().date()
    letters_to_file: list[tuple[int, str, str]] = []
    report = dunning.run_due(
        db.session,
        today=today,
        mailer=current_app.extensions["portal.mailer"],
        file_letter=lambda *letter: letters_to_file.append(letter),
        batch_size=batch_size,
    )
    click.echo(f"{today.isoformat()}: {report.summary()}")
    # After the dunning run: a case converted today is dunned from tomorrow, not twice now.
    click.echo(f"{today.isoformat()}: {_check_invoices(today)}")
    click.echo(f"{today.isoformat()}: {charge_due(today).summary()}")
    # The run has committed; the letters' PDFs are rendered as jobs, then kept on the cases.
    queue = current_app.extensions["portal.jobs"]
    for letter in letters_to_file:
        queue.enqueue(jobs.file_letter, *letter)
    queue.wait_idle(timeout=max(60.0, len(letters_to_file) * 2.0))
    click.echo(f"{len(letters_to_file)} letter(s) filed as PDF")
    # Run on another day, the reminders are those due at this time of that day.
    now = datetime.combine(today, utcnow().timetz())
    reminded = litigation.send_hearing_reminders(
        db.session, current_app.extensions["portal.mailer"], now
    )
    db.session.commit()
    click.echo(f"{reminded} hearing reminder(s) sent")


def _check_invoices(today: date) -> str:
    """Write to the debtors of invoices newly under check; convert those unpaid too long."""
    with unscoped(db.session):
        written = invoice_checks.send_check_letters(
            db.session, current_app.extensions["portal.mailer"], today
        )
        converted = invoice_checks.convert_due(db.session, today)
        db.session.commit()
    return f"{written} invoice check(s) written, {converted} converted to collection"
