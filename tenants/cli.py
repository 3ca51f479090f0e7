from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from portal import db
from tenants.models import Tenant
from tenants.onboarding import OnboardingError, create_tenant
from tenants.scoping import unscoped

tenants_group = AppGroup("tenants", help="The agency's creditor clients.")
# `tenants api-key` joins this group from portal/api/commands.py: making a key is the
# services' work, and this layer does not import services.


@tenants_group.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="The creditor's legal name.")
@click.option("--currency", required=True, help="ISO 4217 code of its usual currency.")
def create(slug: str, name: str, currency: str) -> None:
    """Create a tenant with the agency's standard terms."""
    # An operator's command: a new tenant is outside every scope.
    with unscoped(db.session):
        try:
            tenant = create_tenant(db.session, slug=slug, name=name, currency=currency)
        except OnboardingError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from error
        db.session.commit()
    click.echo(f"created tenant {tenant.slug}")


@tenants_group.command("list")
def list_tenants() -> None:
    """One tenant a line: slug, currency, status, name."""
    with unscoped(db.session):
        for tenant in db.session.scalars(select(Tenant).order_by(Tenant.slug)):
            click.echo(f"{tenant.slug}\t{tenant.currency}\t{tenant.status.value}\t{tenant.name}")
