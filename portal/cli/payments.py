"""``flask payments charge-due``: charge the instalments due today to the saved cards."""

from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from portal import db, jobs
from portal.db import utcnow
from portal.services import instalment_charges

payments_group = AppGroup("payments", help="Payments taken from debtors.")


def charge_due(today: date) -> instalment_charges.ChargeReport:
    """Charge what is due, then render the receipts of the payments as jobs."""
    report = instalment_charges.run_due(
        db.session,
        current_app.extensions["portal.payments"],
        current_app.extensions["portal.mailer"],
        today,
    )
    queue = current_app.extensions["portal.jobs"]
    for entry_id in report.payment_entry_ids:
        queue.enqueue(jobs.issue_receipt, entry_id)
    queue.wait_idle(timeout=max(60.0, len(report.payment_entry_ids) * 2.0))
    return report


@payments_group.command("charge-due")
@click.option(
    "--date",
    "run_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Run as of this day (YYYY-MM-DD); today (UTC) when left out.",
)
def charge_due_command(run_date: object) -> None:
    """Charge due instalments (and retries); safe to run again: nothing is charged twice."""
    today: date = run_date.date() if hasattr(run_date, "date") else utcnow().date()
    click.echo(f"{today.isoformat()}: {charge_due(today).summary()}")
