"""Agency admins keep the team: invite staff, set their role and the clients they work
on, deactivate and reactivate them; and invite a client's first users."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import EmailField, SelectField, SelectMultipleField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length
from wtforms.widgets import CheckboxInput, ListWidget

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Invitation, Role, Tenant, User
from portal.services import invitations, users
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page

# In the order the forms offer them.
STAFF_ROLE_ORDER = (Role.COLLECTOR, Role.LEGAL, Role.AGENCY_ADMIN)
CLIENT_ROLE_ORDER = (Role.CREDITOR_ADMIN, Role.CREDITOR_USER)


def _choices(roles: tuple[Role, ...]) -> list[SelectChoice]:
    return [SelectChoice(role.value, role.label) for role in roles]


class InviteForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        "E-mail", validators=[InputRequired(), Length(max=invitations.MAX_EMAIL_LENGTH)]
    )
    name = StringField(
        "Name", validators=[InputRequired(), Length(max=invitations.MAX_NAME_LENGTH)]
    )
    role = SelectField("Role", choices=_choices(CLIENT_ROLE_ORDER))


class StaffInviteForm(InviteForm):
    role = SelectField("Role", choices=_choices(STAFF_ROLE_ORDER))
    tenants = SelectMultipleField(
        "Works on these clients only",
        coerce=int,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        description="None ticked: every client. An agency admin always works on every client.",
    )


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField("Role", choices=_choices(STAFF_ROLE_ORDER))


class LimitsForm(FlaskForm):  # type: ignore[misc]
    tenants = SelectMultipleField("Clients", coerce=int)


def _tenant_choices() -> list[SelectChoice]:
    return [SelectChoice(tenant.id, tenant.name) for tenant in users.tenants_by_name(db.session)]


def _staff_page(
    form: StaffInviteForm | None = None, *, problem: str | None = None, status: int = 200
) -> tuple[str, int]:
    if form is None:
        form = StaffInviteForm(formdata=None)
        form.tenants.choices = _tenant_choices()
    page = render_page(
        "agency/staff.html",
        staff=users.members(db.session, None),
        invitations=invitations.open_invitations(db.session, None, utcnow()),
        tenant_names={choice.value: choice.label for choice in form.tenants.choices},
        roles=_choices(STAFF_ROLE_ORDER),
        limitable={role.value for role in users.LIMITABLE_ROLES},
        form=form,
        problem=problem,
    )
    return page, status


def _staff_member(user_id: int) -> User:
    found = users.member(db.session, None, user_id)
    if found is None:
        abort(404)
    return found


def _invite(form: InviteForm, tenant: Tenant | None, limits: list[int]) -> bool:
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


@bp.get("/staff")
@roles_required(Role.AGENCY_ADMIN)
def staff() -> tuple[str, int]:
    return _staff_page()


@bp.post("/staff/invite")
@roles_required(Role.AGENCY_ADMIN)
def invite_staff() -> BaseResponse | tuple[str, int]:
    form = StaffInviteForm()
    form.tenants.choices = _tenant_choices()
    if not _invite(form, None, form.tenants.data or []):
        return _staff_page(form, status=422)
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/role")
@roles_required(Role.AGENCY_ADMIN)
def change_staff_role(user_id: int) -> BaseResponse | tuple[str, int]:
    member = _staff_member(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        return _staff_page(problem="Choose one of the staff roles.", status=422)
    try:
        users.change_role(db.session, member, Role(form.role.data), actor=current_user)
    except users.UserError as error:
        db.session.rollback()
        return _staff_page(problem=str(error), status=422)
    db.session.commit()
    flash(f"{member.name} is {member.role.label.lower()} now.", "success")
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/tenants")
@roles_required(Role.AGENCY_ADMIN)
def limit_staff_tenants(user_id: int) -> BaseResponse | tuple[str, int]:
    member = _staff_member(user_id)
    form = LimitsForm()
    form.tenants.choices = _tenant_choices()
    if not form.validate_on_submit():
        return _staff_page(problem="Tick only clients from the list.", status=422)
    try:
        users.limit_to_tenants(
            db.session, member, form.tenants.data or [], actor_id=current_user.id
        )
    except users.UserError as error:
        db.session.rollback()
        return _staff_page(problem=str(error), status=422)
    db.session.commit()
    limited = "only the clients ticked" if member.limited_to_tenants else "every client"
    flash(f"{member.name} works on {limited}.", "success")
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/deactivate")
@roles_required(Role.AGENCY_ADMIN)
def deactivate_staff(user_id: int) -> BaseResponse | tuple[str, int]:
    member = _staff_member(user_id)
    try:
        users.deactivate(db.session, member, actor=current_user)
    except users.UserError as error:
        db.session.rollback()
        return _staff_page(problem=str(error), status=422)
    db.session.commit()
    flash(f"{member.name} can no longer sign in.", "success")
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/reactivate")
@roles_required(Role.AGENCY_ADMIN)
def reactivate_staff(user_id: int) -> BaseResponse:
    member = _staff_member(user_id)
    users.reactivate(db.session, member, actor=current_user)
    db.session.commit()
    flash(f"{member.name} can sign in again.", "success")
    return redirect(url_for("agency.staff"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@roles_required(Role.AGENCY_ADMIN)
def revoke_invitation(invitation_id: int) -> BaseResponse:
    invitation = load_or_404(Invitation, invitation_id)
    if invitations.revoke(db.session, invitation, actor_id=current_user.id, now=utcnow()):
        db.session.commit()
        flash(
            f"The invitation to {invitation.email} is withdrawn: its link no longer works.",
            "success",
        )
    if invitation.tenant_id is None:
        return redirect(url_for("agency.staff"))
    return redirect(url_for("agency.tenant_users", tenant_id=invitation.tenant_id))


# --- a client's users ---------------------------------------------------------------------


def _tenant_users_page(
    tenant: Tenant, form: InviteForm | None = None, status: int = 200
) -> tuple[str, int]:
    page = render_page(
        "agency/tenant_users.html",
        tenant=tenant,
        members=users.members(db.session, tenant.id),
        invitations=invitations.open_invitations(db.session, tenant.id, utcnow()),
        form=form or InviteForm(formdata=None),
    )
    return page, status


@bp.get("/tenants/<int:tenant_id>/users")
@roles_required(Role.AGENCY_ADMIN)
def tenant_users(tenant_id: int) -> tuple[str, int]:
    return _tenant_users_page(load_or_404(Tenant, tenant_id))


@bp.post("/tenants/<int:tenant_id>/invite")
@roles_required(Role.AGENCY_ADMIN)
def invite_tenant_user(tenant_id: int) -> BaseResponse | tuple[str, int]:
    tenant = load_or_404(Tenant, tenant_id)
    form = InviteForm()
    if not _invite(form, tenant, []):
        return _tenant_users_page(tenant, form, 422)
    return redirect(url_for("agency.tenant_users", tenant_id=tenant.id))
