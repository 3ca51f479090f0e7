"""A client's admins keep their own team (invite colleagues, set their role, deactivate
and reactivate them, require a second factor of everyone) and their company details.
Everything here is for the tenant's admins only, and reaches only their own tenant's
people: anyone else's is not found."""

from __future__ import annotations

from dataclasses import asdict

from flask import abort, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import EmailField, RadioField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired

from portal import db
from portal.creditor import bp
from portal.db import utcnow
from portal.models import Role, Tenant
from portal.services import company_details, invitations, second_factor, users
from portal.web import people
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page


class CompanyForm(FlaskForm):  # type: ignore[misc]
    """Lengths and formats are checked by the service, which reports every field at once."""

    legal_name = StringField("Legal name", validators=[InputRequired()])
    legal_address = TextAreaField("Registered address")
    registration_number = StringField(
        "Company registration number", description="As in the trade register, e.g. HRB 12345."
    )
    vat_number = StringField("VAT number", description="With the country code, e.g. DE123456789.")
    approver_name = StringField(
        "Approver", description="Who approves legal costs and settlements on your side."
    )
    approver_email = EmailField("Approver's e-mail")
    account_holder = StringField("Account holder")
    iban = StringField("IBAN", description="Remittances of what we collect are paid here.")
    bic = StringField("BIC", description="Optional.")


class SecondFactorRequirementForm(FlaskForm):  # type: ignore[misc]
    required = RadioField(
        "A second factor at sign-in",
        choices=[
            SelectChoice("on", "Required of everyone"),
            SelectChoice("off", "Each person's choice"),
        ],
        invalid_choice_message="Choose required or each person's choice.",
    )


def _users_page(
    form: people.InviteForm | None = None, *, problem: str | None = None, status: int = 200
) -> tuple[str, int]:
    tenant = load_or_404(Tenant, current_user.tenant_id)
    page = render_page(
        "creditor/users.html",
        members=users.members(db.session, current_user.tenant_id),
        invitations=invitations.open_invitations(db.session, current_user.tenant_id, utcnow()),
        roles=people.role_choices(people.CLIENT_ROLES),
        form=form or people.InviteForm(formdata=None),
        problem=problem,
        tenant=tenant,
        second_factor_form=SecondFactorRequirementForm(
            formdata=None, data={"required": "on" if tenant.require_second_factor else "off"}
        ),
        has_second_factor=second_factor.is_enabled(current_user),
    )
    return page, status


@bp.get("/users")
@roles_required(Role.CREDITOR_ADMIN)
def users_page() -> tuple[str, int]:
    return _users_page()


@bp.post("/users/invite")
@roles_required(Role.CREDITOR_ADMIN)
def invite_user() -> BaseResponse | tuple[str, int]:
    form = people.InviteForm()
    tenant = load_or_404(Tenant, current_user.tenant_id)
    if not people.invite_from_form(form, tenant, []):
        return _users_page(form, status=422)
    return redirect(url_for("creditor.users_page"))


@bp.post("/users/<int:user_id>/role")
@roles_required(Role.CREDITOR_ADMIN)
def change_user_role(user_id: int) -> BaseResponse | tuple[str, int]:
    colleague = people.member_or_404(current_user.tenant_id, user_id)
    problem = people.change_role(colleague, people.RoleForm(), "Choose admin or user.")
    if problem:
        return _users_page(problem=problem, status=422)
    return redirect(url_for("creditor.users_page"))


@bp.post("/users/<int:user_id>/deactivate")
@roles_required(Role.CREDITOR_ADMIN)
def deactivate_user(user_id: int) -> BaseResponse | tuple[str, int]:
    problem = people.deactivate(people.member_or_404(current_user.tenant_id, user_id))
    if problem:
        return _users_page(problem=problem, status=422)
    return redirect(url_for("creditor.users_page"))


@bp.post("/users/<int:user_id>/reactivate")
@roles_required(Role.CREDITOR_ADMIN)
def reactivate_user(user_id: int) -> BaseResponse:
    people.reactivate(people.member_or_404(current_user.tenant_id, user_id))
    return redirect(url_for("creditor.users_page"))


@bp.post("/users/second-factor")
@roles_required(Role.CREDITOR_ADMIN)
def require_second_factor() -> BaseResponse | tuple[str, int]:
    """Require a second factor of everyone at the client, or leave it to each person.
    Colleagues signed in without one are signed out, and set one up at their next sign-in."""
    form = SecondFactorRequirementForm()
    tenant = load_or_404(Tenant, current_user.tenant_id)
    if not form.validate_on_submit():
        return _users_page(problem="Choose required or each person's choice.", status=422)
    required = form.required.data == "on"
    try:
        changed = second_factor.require_for_tenant(db.session, tenant, required, actor=current_user)
    except second_factor.SecondFactorError as error:
        db.session.rollback()
        return _users_page(problem=str(error), status=422)
    db.session.commit()
    if changed and required:
        flash(f"Everyone at {tenant.display_name} signs in with a second factor now.", "success")
    elif changed:
        flash("A second factor is each person's choice now.", "success")
    return redirect(url_for("creditor.users_page"))


@bp.post("/invitations/<int:invitation_id>/revoke")
@roles_required(Role.CREDITOR_ADMIN)
def revoke_invitation(invitation_id: int) -> BaseResponse:
    invitation = invitations.invitation_for(db.session, current_user.tenant_id, invitation_id)
    if invitation is None:
        abort(404)
    people.withdraw(invitation)
    return redirect(url_for("creditor.users_page"))


def _company_page(form: CompanyForm) -> str:
    return render_page("creditor/company.html", form=form, limits=company_details.MAX_LENGTHS)


@bp.route("/company", methods=["GET", "POST"])
@roles_required(Role.CREDITOR_ADMIN)
def company() -> BaseResponse | tuple[str, int]:
    tenant = load_or_404(Tenant, current_user.tenant_id)
    stored = company_details.details_of(tenant)
    form = CompanyForm(data=asdict(stored))
    if not form.is_submitted():
        return _company_page(form), 200
    if not form.validate():
        return _company_page(form), 422
    given = company_details.CompanyDetails(
        **{name: form[name].data or "" for name in asdict(stored)}
    )
    try:
        company_details.update(db.session, tenant, given, actor_id=current_user.id)
    except company_details.CompanyDetailsError as error:
        db.session.rollback()
        for name, problem in error.problems.items():
            form[name].errors = [*form[name].errors, problem]
        return _company_page(form), 422
    db.session.commit()
    flash("Your company details are saved.", "success")
    return redirect(url_for("creditor.company"))
