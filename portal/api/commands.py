"""``flask tenants api-key SLUG --name NAME``: an API key made by an operator.

It joins the ``tenants`` command group, beside the commands that create tenants; it
lives here because the tenancy layer does not import services.
"""

from __future__ import annotations

import click
from sqlalchemy import select

from portal import db
from portal.services import api_keys
from tenants.cli import tenants_group
from tenants.models import Tenant
from tenants.scoping import unscoped


@tenants_group.command("api-key")
@click.argument("slug")
@click.option("--name", required=True, help="What uses the key, such as the creditor's ERP.")
def api_key(slug: str, name: str) -> None:
    """Make an API key for a tenant; the key is printed once, alone on the last line."""
    # An operator's command: it names the tenant itself, outside every scope.
    with unscoped(db.session):
        tenant = db.session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise click.ClickException(f"no tenant {slug!r} (see: flask tenants list)")
        try:
            made = api_keys.create_key(db.session, tenant, name, created_by_id=None)
        except api_keys.ApiKeyError as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from error
        db.session.commit()
    click.echo(f"API key {made.key.name!r} for {tenant.slug}, prefix {made.key.prefix}.")
    click.echo("Keep it now: it is not shown again.")
    click.echo(made.secret)
