"""``flask statements issue``: the monthly remittance statements (portal.services.remittance)."""

from __future__ import annotations

from datetime import date, datetime

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal import db
from portal.db import utcnow
from portal.models import Tenant
from portal.services import remittance
from portal.services.money import format_money
from tenants.scoping import unscoped

statements_group = AppGroup("statements", help="Remittance statements to the creditors.")


def _month(_context: click.Context, _parameter: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month written YYYY-MM.") from None


@statements_group.command("issue")
@click.option(
    "--month",
    callback=_month,
    default=None,
    help="The calendar month to issue (YYYY-MM); the previous month when left out.",
)
@click.option("--tenant", "slug", default=None, help="Only this tenant (its slug).")
def issue_command(month: date | None, slug: str | None) -> None:
    """Issue each tenant's statement per currency for a month that has ended.

    Safe to run again: a statement already issued for the month is not issued twice.
    """
    today = utcnow().date()
    # Every tenant's statements, issued by the agency's own run.
    with unscoped(db.session):
        tenant = None
        if slug is not None:
            tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug.lower()))
            if tenant is None:
                raise click.BadParameter(f"no tenant with slug {slug!r}", param_hint="--tenant")
        try:
            issued = remittance.issue_monthly(db.session, today, month=month, tenant=tenant)
        except remittance.StatementError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from None
        for statement in issued:
            net = format_money(statement.net_minor, statement.currency)
            click.echo(
                f"issued {statement.number}\t{statement.currency}\t"
                f"{statement.period_start.isoformat()}..{statement.period_end.isoformat()}\t"
                f"{len(statement.lines)} line(s)\tnet {net}"
            )
        db.session.commit()
    click.echo(f"{len(issued)} statement(s) issued")
