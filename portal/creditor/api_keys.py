"""API keys for the creditor's own systems: made and revoked by the tenant's admins.

A new key is shown on the page that made it and never again (only its hash is kept).
"""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from portal import db
from portal.creditor import bp
from portal.models import ApiKey, Role, Tenant
from portal.services import api_keys
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page


class NewKeyForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        "Name",
        validators=[InputRequired(), Length(max=api_keys.MAX_NAME_LENGTH)],
        description="What will use the key, such as your accounting system.",
    )


def _page(
    form: NewKeyForm, new_key: api_keys.NewKey | None = None, status: int = 200
) -> tuple[str, int]:
    page = render_page(
        "creditor/api_keys.html",
        form=form,
        keys=api_keys.tenant_keys(db.session),
        new_key=new_key,
    )
    return page, status


@bp.get("/api-keys")
@roles_required(Role.CREDITOR_ADMIN)
def api_keys_page() -> tuple[str, int]:
    return _page(NewKeyForm(formdata=None))


@bp.post("/api-keys")
@roles_required(Role.CREDITOR_ADMIN)
def create_api_key() -> tuple[str, int]:
    form = NewKeyForm()
    if not form.validate_on_submit():
        return _page(form, status=422)
    tenant = load_or_404(Tenant, current_user.tenant_id)
    try:
        made = api_keys.create_key(
            db.session, tenant, form.name.data, created_by_id=current_user.id
        )
    except api_keys.ApiKeyError as error:
        db.session.rollback()
        form.name.errors.append(str(error))
        return _page(form, status=422)
    db.session.commit()
    return _page(NewKeyForm(formdata=None), new_key=made, status=201)


@bp.post("/api-keys/<int:key_id>/revoke")
@roles_required(Role.CREDITOR_ADMIN)
def revoke_api_key(key_id: int) -> Response:
    key = load_or_404(ApiKey, key_id)  # the CSRF token was checked before the view
    if api_keys.revoke(db.session, key, actor_id=current_user.id):
        db.session.commit()
        flash(f"The key “{key.name}” is revoked: it no longer opens the API.", "success")
    return redirect(url_for("creditor.api_keys_page"))
