"""``flask debtors export|erase-expired``: debtors' personal data (services.personal_data)."""

from __future__ import annotations

import json
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup

from portal import db
from portal.adapters.storage import Storage
from portal.db import utcnow
from portal.models import Debtor
from portal.services import audit, personal_data
from tenants.scoping import unscoped

debtors_group = AppGroup("debtors", help="Debtors' personal data: a copy of it, and its erasure.")


@debtors_group.command("export")
@click.argument("debtor_id", type=int)
def export_command(debtor_id: int) -> None:
    """Print, as JSON, everything the portal holds about one debtor."""
    with unscoped(db.session):
        debtor = db.session.get(Debtor, debtor_id)
        if debtor is None:
            raise click.ClickException(f"There is no debtor {debtor_id}.")
        exported = personal_data.export(db.session, debtor)
        audit.record(db.session, "debtor.data_exported", tenant_id=debtor.tenant_id, subject=debtor)
        db.session.commit()
    click.echo(json.dumps(exported, ensure_ascii=False, indent=2))


@debtors_group.command("erase-expired")
@click.option(
    "--date",
    "run_date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    default=None,
    help="Erase as of this day (YYYY-MM-DD); today (UTC) when left out.",
)
@click.option("--dry-run", is_flag=True, help="Say whom it would erase, and change nothing.")
def erase_expired_command(run_date: object, dry_run: bool) -> None:
    """Erase the personal data of debtors whose cases have been closed longer than their
    client's retention period. Safe to run again: nobody is erased twice."""
    day: date = run_date.date() if hasattr(run_date, "date") else utcnow().date()
    with unscoped(db.session):
        if dry_run:
            due = personal_data.due_for_erasure(db.session, day)
            ids = ", ".join(str(debtor.id) for debtor in due) or "none"
            click.echo(f"{day.isoformat()}: {len(due)} debtor(s) would be erased: {ids}")
            db.session.rollback()
            return
        storage: Storage = current_app.extensions["portal.storage"]
        report = personal_data.erase_expired(db.session, storage, day)
        db.session.commit()
    click.echo(
        f"{day.isoformat()}: {len(report.debtor_ids)} debtor(s) erased "
        f"({report.cases} case(s), {report.documents} document(s) deleted)"
    )
