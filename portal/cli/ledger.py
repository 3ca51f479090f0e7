"""``flask ledger verify``: prove every stored money figure equals the ledger."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from portal import db
from portal.services import ledger_check
from tenants.scoping import unscoped

ledger_group = AppGroup("ledger", help="The append-only ledger every balance comes from.")
SHOWN = 50  # discrepancies listed before the rest are only counted


@ledger_group.command("verify")
def verify_command() -> None:
    """Recompute every case summary, payment allocation and remittance statement from the
    ledger; exit with status 1 and list the differences if any figure disagrees."""
    with unscoped(db.session):
        found = ledger_check.verify(db.session)
    checked = (
        f"{found.cases} cases, {found.payments} payments and reversals, "
        f"{found.statements} statements"
    )
    if found.ok:
        click.echo(f"Checked {checked}: every stored figure equals the ledger.")
        return
    click.echo(f"Checked {checked}: {len(found.discrepancies)} figure(s) differ.", err=True)
    for discrepancy in found.discrepancies[:SHOWN]:
        click.echo(f"  {discrepancy}", err=True)
    if len(found.discrepancies) > SHOWN:
        click.echo(f"  ... and {len(found.discrepancies) - SHOWN} more", err=True)
    raise SystemExit(1)
