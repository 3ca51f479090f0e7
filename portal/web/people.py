"""Inviting people and changing a person's role or activity: the same for the agency's
admins keeping their staff and a client's admins keeping their colleagues."""

from __future__ import annotations

from flask import abort, current_app, flash
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from portal import db
from portal.db import utcnow
from portal.models import Invitation, Role, Tenant, User
from portal.services import invitations, users

# In the order the forms offer them.
CLIENT_ROLES = (Role.CREDITOR_ADMIN, Role.CREDITOR_USER)


def role_choices(roles: tuple[Role, ...]) -> list[SelectChoice]:
    return [SelectChoice(role.value, role.label) for role in roles]


class InviteForm(FlaskForm):  # type: ignore[misc]
    """Whom to invite; a client's roles unless a subclass offers others."""

    email = EmailField(
        "E-mail", validators=[InputRequired(), Length(max=invitations.MAX_EMAIL_LENGTH)]
    )
    name = StringField(
        "Name", validators=[InputRequired(), Length(max=invitations.MAX_NAME_LENGTH)]
    )
    role = SelectField("Role", choices=role_choices(CLIENT_ROLES))


class RoleForm(FlaskForm):  # type: ignore[misc]
    """A person's new role; a client's roles unless a subclass offers others."""

    role = SelectField("Role", choices=role_choices(CLIENT_ROLES))


def member_or_404(tenant_id: int | None, user_id: int) -> User:
    """The tenant's person (the agency's with None); 404 for anyone else."""
    found = users.member(db.session, tenant_id, user_id)
    if found is None:
        abort(404)
    return found


def invite_from_form(form: InviteForm, tenant: Tenant | None, limits: list[int]) -> bool:
    """Send the invitation the form describes and commit; False with the form's errors."""
    if not form.validate_on_submit():
        return False
    try:
        invitations.invite(
            db.session, current_app.extensions["portal.mailer"],
            email=form.email.data, name=form.name.data, role=Role(form.role.data), tenant=tenant,
            limited_to_tenant_ids=limits, invited_by=current_user,
            base_url=current_app.extensions["portal.settings"].public_base_url,
        )  # fmt: skip
    except invitations.InvitationError as error:
        db.session.rollback()
        form.email.errors = [*form.email.errors, str(error)]
        return False
    db.session.commit()
    days = invitations.VALID_FOR.days
    flash(
        f"Invitation sent to {form.email.data.strip()}: its link works for {days} days.", "success"
    )
    return True


def withdraw(invitation: Invitation) -> None:
    """Revoke an invitation still open and commit; one already closed stays as it is."""
    if invitations.revoke(db.session, invitation, actor_id=current_user.id, now=utcnow()):
        db.session.commit()
        flash(
            f"The invitation to {invitation.email} is withdrawn: its link no longer works.",
            "success",
        )


def change_role(member: User, form: RoleForm, invalid: str) -> str | None:
    """Give the person the role the form names and commit; else the problem to show
    (``invalid`` when the form names no role offered)."""
    if not form.validate_on_submit():
        return invalid
    try:
        users.change_role(db.session, member, Role(form.role.data), actor=current_user)
    except users.UserError as error:
        db.session.rollback()
        return str(error)
    db.session.commit()
    flash(f"{member.name} is {member.role.label.lower()} now.", "success")
    return None


def deactivate(member: User) -> str | None:
    """Stop the person signing in and commit; else the problem to show."""
    try:
        users.deactivate(db.session, member, actor=current_user)
    except users.UserError as error:
        db.session.rollback()
        return str(error)
    db.session.commit()
    flash(f"{member.name} can no longer sign in.", "success")
    return None


def reactivate(member: User) -> None:
    users.reactivate(db.session, member, actor=current_user)
    db.session.commit()
    flash(f"{member.name} can sign in again.", "success")
