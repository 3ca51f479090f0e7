"""Agency admins write a client's own letter and e-mail texts, tried against a sample
letter before they are kept; a text the client has no own version of is the agency's."""

from __future__ import annotations

from babel import Locale
from flask import abort, flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal import db
from portal.agency import bp
from portal.extensions import htmx
from portal.models import Role, Tenant
from portal.services import letters
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page

LANGUAGE_NAMES = {code: Locale.parse(code).get_display_name("en") for code in letters.LANGUAGES}
MAX_BODY = 20_000


class LetterTemplateForm(FlaskForm):  # type: ignore[misc]
    subject = StringField("Subject", validators=[InputRequired(), Length(max=letters.MAX_SUBJECT)])
    body = TextAreaField("Text", validators=[InputRequired(), Length(max=MAX_BODY)])


def _letter_of(tenant_id: int, letter_key: str, language: str) -> Tenant:
    """The client named in the URL; 404 for a letter or language there is none of."""
    if letter_key not in letters.KEYS or language not in letters.LANGUAGES:
        abort(404)
    return load_or_404(Tenant, tenant_id)


def _editor(
    tenant: Tenant,
    letter_key: str,
    language: str,
    form: LetterTemplateForm | None = None,
    *,
    preview: tuple[str, str] | None = None,
    problem: str | None = None,
    fragment: str | None = None,
) -> str:
    subject, body, row = letters.template_source(db.session, tenant.id, letter_key, language)
    return render_page(
        "agency/letter_template.html",
        fragment=fragment,
        tenant=tenant,
        letter_key=letter_key,
        language=language,
        language_name=LANGUAGE_NAMES[language],
        customised=row is not None and row.tenant_id == tenant.id,
        form=form or LetterTemplateForm(formdata=None, subject=subject, body=body),
        preview=preview,
        problem=problem,
        placeholders=letters.placeholders(language),
    )


@bp.get("/tenants/<int:tenant_id>/letters")
@roles_required(Role.AGENCY_ADMIN)
def letter_templates(tenant_id: int) -> str:
    found = load_or_404(Tenant, tenant_id)
    return render_page(
        "agency/letter_templates.html",
        tenant=found,
        keys=letters.KEYS,
        languages=LANGUAGE_NAMES,
        customised=letters.customised(db.session, found.id),
    )


@bp.route("/tenants/<int:tenant_id>/letters/<letter_key>/<language>", methods=["GET", "POST"])
@roles_required(Role.AGENCY_ADMIN)
def letter_template(
    tenant_id: int, letter_key: str, language: str
) -> BaseResponse | tuple[str, int]:
    found = _letter_of(tenant_id, letter_key, language)
    form = LetterTemplateForm()
    if not form.is_submitted():
        return _editor(found, letter_key, language), 200
    if not form.validate():
        return _editor(found, letter_key, language, form), 422
    try:
        letters.save_template(
            db.session,
            tenant_id=found.id,
            key=letter_key,
            language=language,
            subject=form.subject.data,
            body=form.body.data,
            actor_id=current_user.id,
        )
    except letters.LetterTemplateError as error:
        db.session.rollback()
        form.body.errors = [*form.body.errors, str(error)]
        return _editor(found, letter_key, language, form), 422
    db.session.commit()
    flash(
        f"Saved {found.name}'s own text for this letter in {LANGUAGE_NAMES[language]}.", "success"
    )
    return redirect(url_for("agency.letter_templates", tenant_id=found.id))


@bp.post("/tenants/<int:tenant_id>/letters/<letter_key>/<language>/preview")
@roles_required(Role.AGENCY_ADMIN)
def preview_letter_template(tenant_id: int, letter_key: str, language: str) -> tuple[str, int]:
    """The draft rendered against the sample letter: the preview block alone for htmx
    (always 200, so htmx shows a refusal too), else the editor page with it."""
    found = _letter_of(tenant_id, letter_key, language)
    form = LetterTemplateForm()
    preview, problem = None, None
    if not form.validate():
        problem = "; ".join(error for errors in form.errors.values() for error in errors)
    else:
        try:
            preview = letters.preview_template(
                letter_key, language, form.subject.data, form.body.data,
                creditor_name=found.display_name,
            )  # fmt: skip
        except letters.LetterTemplateError as error:
            problem = str(error)
    page = _editor(
        found, letter_key, language, form, preview=preview, problem=problem, fragment="preview"
    )
    return page, 422 if problem and not htmx else 200


@bp.post("/tenants/<int:tenant_id>/letters/<letter_key>/<language>/reset")
@roles_required(Role.AGENCY_ADMIN)
def reset_letter_template(tenant_id: int, letter_key: str, language: str) -> BaseResponse:
    found = _letter_of(tenant_id, letter_key, language)
    back = redirect(url_for("agency.letter_templates", tenant_id=found.id))
    if not FlaskForm().validate_on_submit():
        flash("The form expired: please try again.", "error")
        return back
    reset = letters.reset_template(
        db.session,
        tenant_id=found.id,
        key=letter_key,
        language=language,
        actor_id=current_user.id,
    )
    db.session.commit()
    flash(
        "The agency's text applies again." if reset else "This letter already used the default.",
        "success",
    )
    return back
