from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from portal import db
from portal.services import demo
from tenants.scoping import unscoped

demo_group = AppGroup("demo", help="Demo data for trying the portal.")


@demo_group.command("load")
def load() -> None:
    """Load demo tenants, users and cases once; print the logins."""
    if current_app.extensions["portal.settings"].is_production:
        raise click.ClickException("demo data is never loaded in production")
    # Demo data spans every tenant by design.
    with unscoped(db.session):
        if demo.is_loaded(db.session):
            click.echo("demo data already loaded")
        else:
            demo.load(db.session)
            db.session.commit()
    click.echo(f"Demo logins (password for all: {demo.DEMO_PASSWORD}):")
    for login in demo.logins():
        click.echo(f"  {login.email:<28} {login.role.value:<15} {login.tenant or 'agency'}")
