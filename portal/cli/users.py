from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from portal import db
from portal.services.users import UserError, create_user, parse_role
from tenants.onboarding import OnboardingError, tenant_by_slug
from tenants.scoping import unscoped

users_group = AppGroup("users", help="People who sign in.")


@users_group.command("create")
@click.argument("email")
@click.option(
    "--role", required=True, help="agency_admin, collector, legal, creditor_admin or creditor_user"
)
@click.option("--tenant", "tenant_slug", help="The tenant of a creditor user.")
@click.option("--name", default="", help="Full name (defaults to the e-mail).")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
def create(email: str, role: str, tenant_slug: str | None, name: str, password_stdin: bool) -> None:
    """Create a user; the password comes from a prompt or standard input."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    # An operator's command: it works across tenants by design.
    with unscoped(db.session):
        try:
            tenant = tenant_by_slug(db.session, tenant_slug) if tenant_slug else None
            user = create_user(
                db.session,
                email=email,
                name=name,
                role=parse_role(role),
                password=password,
                tenant=tenant,
            )
        except (UserError, OnboardingError, ValueError) as error:
            db.session.rollback()
            raise click.ClickException(str(error)) from error
        db.session.commit()
    click.echo(f"created {user.email} ({user.role.value})")
