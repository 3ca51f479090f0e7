"""Agency admins keep the list of clients: sign one up, its profile and logo, and the
switches that stop it (suspension, paused collection)."""

from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response as BaseResponse
from wtforms import ColorField, StringField
from wtforms.validators import InputRequired, Length, Optional

from portal import db
from portal.agency import bp
from portal.models import Role, Tenant
from portal.services import branding, company_details, tenant_admin
from portal.services.documents import human_size
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page

LOGO_LIMIT = human_size(branding.MAX_LOGO_BYTES)


class NewTenantForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Legal name", validators=[InputRequired(), Length(max=200)])
    slug = StringField(
        "Short name in the portal",
        validators=[InputRequired(), Length(max=40)],
        description="Lowercase letters, digits and hyphens, e.g. acme-gmbh. It cannot change.",
    )
    currency = StringField(
        "Usual currency",
        validators=[
            InputRequired(),
            Length(min=3, max=3, message="Give the three-letter ISO 4217 code, e.g. EUR."),
        ],
        description="ISO 4217 code, e.g. EUR.",
    )


class ProfileForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Legal name", validators=[InputRequired(), Length(max=200)])
    brand_name = StringField(
        "Name shown to debtors",
        validators=[Optional(), Length(max=200)],
        description="Leave empty to show the legal name.",
    )
    brand_colour = ColorField("Brand colour", validators=[InputRequired(), Length(max=7)])


class LogoForm(FlaskForm):  # type: ignore[misc]
    logo = FileField(
        f"Logo (PNG or JPEG, at most {LOGO_LIMIT})",
        validators=[FileRequired("Choose the logo's image file.")],
    )


def _tenant_page(
    tenant: Tenant,
    *,
    profile_form: ProfileForm | None = None,
    logo_form: LogoForm | None = None,
    status: int = 200,
) -> tuple[str, int]:
    page = render_page(
        "agency/tenant.html",
        tenant=tenant,
        company=company_details.details_of(tenant),
        profile_form=profile_form or ProfileForm(formdata=None, obj=tenant),
        logo_form=logo_form or LogoForm(formdata=None),
    )
    return page, status


def _back_to(tenant: Tenant, anchor: str | None = None) -> BaseResponse:
    return redirect(url_for("agency.tenant", tenant_id=tenant.id, _anchor=anchor))


@bp.get("/tenants")
@roles_required(Role.AGENCY_ADMIN)
def tenants() -> str:
    return render_page("agency/tenants.html", rows=tenant_admin.tenant_overview(db.session))


@bp.route("/tenants/new", methods=["GET", "POST"])
@roles_required(Role.AGENCY_ADMIN)
def new_tenant() -> BaseResponse | tuple[str, int]:
    form = NewTenantForm()
    if request.method == "GET":
        return render_page("agency/tenant_new.html", form=form), 200
    if not form.validate_on_submit():
        return render_page("agency/tenant_new.html", form=form), 422
    try:
        tenant = tenant_admin.create(
            db.session,
            slug=form.slug.data,
            name=form.name.data,
            currency=form.currency.data,
            actor_id=current_user.id,
        )
    except tenant_admin.TenantAdminError as error:
        db.session.rollback()
        form.slug.errors = [*form.slug.errors, str(error)]
        return render_page("agency/tenant_new.html", form=form), 422
    db.session.commit()
    flash(f"{tenant.name} is a client now, on the agency's standard terms.", "success")
    return _back_to(tenant)


@bp.get("/tenants/<int:tenant_id>")
@roles_required(Role.AGENCY_ADMIN)
def tenant(tenant_id: int) -> tuple[str, int]:
    return _tenant_page(load_or_404(Tenant, tenant_id))


@bp.post("/tenants/<int:tenant_id>/profile")
@roles_required(Role.AGENCY_ADMIN)
def tenant_profile(tenant_id: int) -> BaseResponse | tuple[str, int]:
    found = load_or_404(Tenant, tenant_id)
    form = ProfileForm()
    if not form.validate_on_submit():
        return _tenant_page(found, profile_form=form, status=422)
    try:
        changes = tenant_admin.update_profile(
            db.session,
            found,
            name=form.name.data,
            brand_name=form.brand_name.data or "",
            brand_colour=form.brand_colour.data,
            actor_id=current_user.id,
        )
    except tenant_admin.TenantAdminError as error:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(error)]
        return _tenant_page(found, profile_form=form, status=422)
    db.session.commit()
    flash("Profile saved." if changes else "Nothing to change.", "success")
    return _back_to(found, "profile")


@bp.post("/tenants/<int:tenant_id>/branding")
@roles_required(Role.AGENCY_ADMIN)
def tenant_branding(tenant_id: int) -> BaseResponse | tuple[str, int]:
    found = load_or_404(Tenant, tenant_id)
    form = LogoForm()
    if not form.validate_on_submit():
        return _tenant_page(found, logo_form=form, status=422)
    upload = form.logo.data
    try:
        branding.upload_logo(
            db.session,
            current_app.extensions["portal.storage"],
            found,
            filename=upload.filename,
            stream=upload.stream,
            actor_id=current_user.id,
        )
    except branding.LogoRefused as refusal:
        db.session.rollback()
        form.logo.errors = [*form.logo.errors, str(refusal)]
        return _tenant_page(found, logo_form=form, status=422)
    db.session.commit()
    flash("The new logo is in place.", "success")
    return _back_to(found, "branding")


@bp.get("/tenants/<int:tenant_id>/logo")
@roles_required(Role.AGENCY_ADMIN)
def tenant_logo(tenant_id: int) -> BaseResponse:
    found = branding.logo(current_app.extensions["portal.storage"], load_or_404(Tenant, tenant_id))
    if found is None:
        abort(404)
    return current_app.response_class(found.data, mimetype=found.content_type)


Switch = Callable[..., None]


def _switch(tenant_id: int, change: Switch, done: str) -> BaseResponse:
    """Suspend, reactivate, pause or resume: one button each on the client's page."""
    found = load_or_404(Tenant, tenant_id)
    if not FlaskForm().validate_on_submit():
        flash("The form expired: please try again.", "error")
        return _back_to(found, "status")
    try:
        change(db.session, found, actor_id=current_user.id)
    except tenant_admin.TenantAdminError as error:
        db.session.rollback()
        flash(str(error), "error")
        return _back_to(found, "status")
    db.session.commit()
    flash(done.format(name=found.name), "success")
    return _back_to(found, "status")


@bp.post("/tenants/<int:tenant_id>/suspend")
@roles_required(Role.AGENCY_ADMIN)
def suspend_tenant(tenant_id: int) -> BaseResponse:
    return _switch(
        tenant_id, tenant_admin.suspend, "{name} is suspended: its users are signed out."
    )


@bp.post("/tenants/<int:tenant_id>/reactivate")
@roles_required(Role.AGENCY_ADMIN)
def reactivate_tenant(tenant_id: int) -> BaseResponse:
    return _switch(
        tenant_id, tenant_admin.reactivate, "{name} is active again: its users may sign in."
    )


@bp.post("/tenants/<int:tenant_id>/pause")
@roles_required(Role.AGENCY_ADMIN)
def pause_tenant_collection(tenant_id: int) -> BaseResponse:
    return _switch(
        tenant_id,
        tenant_admin.pause_collection,
        "Collection for {name} is paused: no letters, stage moves or instalment charges.",
    )


@bp.post("/tenants/<int:tenant_id>/resume")
@roles_required(Role.AGENCY_ADMIN)
def resume_tenant_collection(tenant_id: int) -> BaseResponse:
    return _switch(
        tenant_id, tenant_admin.resume_collection, "Collection for {name} goes on again."
    )
