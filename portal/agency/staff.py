"""Agency admins keep the team: invite staff, set their role and the clients they work
on, deactivate and reactivate them; and invite a client's first users."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectField, SelectMultipleField
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Invitation, Role, Tenant
from portal.services import invitations, users
from portal.web import people
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page

# In the order the forms offer them.
STAFF_ROLES = (Role.COLLECTOR, Role.LEGAL, Role.AGENCY_ADMIN)


class StaffInviteForm(people.InviteForm):
    role = SelectField("Role", choices=people.role_choices(STAFF_ROLES))
    tenants = SelectMultipleField(
        "Works on these clients only",
        coerce=int,
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        description="None ticked: every client. An agency admin always works on every client.",
    )


class StaffRoleForm(people.RoleForm):
    role = SelectField("Role", choices=people.role_choices(STAFF_ROLES))


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
        roles=people.role_choices(STAFF_ROLES),
        limitable={role.value for role in users.LIMITABLE_ROLES},
        form=form,
        problem=problem,
    )
    return page, status


@bp.get("/staff")
@roles_required(Role.AGENCY_ADMIN)
def staff() -> tuple[str, int]:
    return _staff_page()


@bp.post("/staff/invite")
@roles_required(Role.AGENCY_ADMIN)
def invite_staff() -> BaseResponse | tuple[str, int]:
    form = StaffInviteForm()
    form.tenants.choices = _tenant_choices()
    if not people.invite_from_form(form, None, form.tenants.data or []):
        return _staff_page(form, status=422)
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/role")
@roles_required(Role.AGENCY_ADMIN)
def change_staff_role(user_id: int) -> BaseResponse | tuple[str, int]:
    member = people.member_or_404(None, user_id)
    problem = people.change_role(member, StaffRoleForm(), "Choose one of the staff roles.")
    if problem:
        return _staff_page(problem=problem, status=422)
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/tenants")
@roles_required(Role.AGENCY_ADMIN)
def limit_staff_tenants(user_id: int) -> BaseResponse | tuple[str, int]:
    member = people.member_or_404(None, user_id)
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
    problem = people.deactivate(people.member_or_404(None, user_id))
    if problem:
        return _staff_page(problem=problem, status=422)
    return redirect(url_for("agency.staff"))


@bp.post("/staff/<int:user_id>/reactivate")
@roles_required(Role.AGENCY_ADMIN)
def reactivate_staff(user_id: int) -> BaseResponse:
    people.reactivate(people.member_or_404(None, user_id))
    return redirect(url_for("agency.staff"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@roles_required(Role.AGENCY_ADMIN)
def revoke_invitation(invitation_id: int) -> BaseResponse:
    invitation = load_or_404(Invitation, invitation_id)
    people.withdraw(invitation)
    if invitation.tenant_id is None:
        return redirect(url_for("agency.staff"))
    return redirect(url_for("agency.tenant_users", tenant_id=invitation.tenant_id))


# --- a client's users ---------------------------------------------------------------------


def _tenant_users_page(
    tenant: Tenant, form: people.InviteForm | None = None, status: int = 200
) -> tuple[str, int]:
    page = render_page(
        "agency/tenant_users.html",
        tenant=tenant,
        members=users.members(db.session, tenant.id),
        invitations=invitations.open_invitations(db.session, tenant.id, utcnow()),
        form=form or people.InviteForm(formdata=None),
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
    form = people.InviteForm()
    if not people.invite_from_form(form, tenant, []):
        return _tenant_users_page(tenant, form, 422)
    return redirect(url_for("agency.tenant_users", tenant_id=tenant.id))
