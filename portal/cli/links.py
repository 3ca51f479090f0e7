from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal import db
from portal.db import utcnow
from portal.models import Case, Stage
from portal.services import payment_links
from tenants.scoping import unscoped

links_group = AppGroup("payment-links", help="Debtors' payment links.")


@links_group.command("issue")
def issue_missing() -> None:
    """Give every open case without a payment link one (cases placed before links existed)."""
    now = utcnow()
    # An operator's command over every tenant.
    with unscoped(db.session):
        statement = select(Case).where(Case.payment_link_hash.is_(None), Case.stage != Stage.CLOSED)
        cases = db.session.scalars(statement).all()
        for case in cases:
            payment_links.reissue(case, now)
        db.session.commit()
    click.echo(f"issued {len(cases)} payment link(s)")
