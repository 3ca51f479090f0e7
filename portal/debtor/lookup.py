"""Finding the account without the link: the reference on our letter and the postal code.

A business may give its registration number instead of the postal code. A wrong guess
gets the same answer whatever was wrong. Guesses are limited per client address and per
reference, so one reference cannot be tried from many addresses either.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from portal import db
from portal.db import utcnow
from portal.debtor import bp
from portal.extensions import limiter
from portal.services import payment_links
from portal.web.rendering import render_page
from tenants.scoping import unscoped

PER_ADDRESS_LIMIT = "10 per minute;30 per hour"
PER_REFERENCE_LIMIT = "5 per 15 minutes"


class LookupForm(FlaskForm):  # type: ignore[misc]
    reference = StringField(
        _l("Our reference"),
        validators=[DataRequired(_l("Enter the reference from our letter.")), Length(max=40)],
    )
    secret = StringField(
        _l("Your postal code, or your company registration number"),
        validators=[DataRequired(_l("Enter your postal code.")), Length(max=64)],
    )


@bp.context_processor
def _lookup_form() -> dict[str, object]:
    return {"new_lookup_form": LookupForm}


def _typed_reference() -> str:
    """The reference in the posted form, normalised ("" when it cannot be one)."""
    return payment_links.normalise_reference(request.form.get("reference", ""))


@bp.route("/lookup", methods=["GET", "POST"])
@limiter.limit(PER_ADDRESS_LIMIT, methods=["POST"])
@limiter.limit(
    PER_REFERENCE_LIMIT,
    methods=["POST"],
    key_func=lambda: f"reference:{_typed_reference()}",
    exempt_when=lambda: not _typed_reference(),  # nothing to find: the address limit holds
)
def lookup() -> Response | str:
    """Open the account these details name, on its payment link; else the form again."""
    if request.method == "GET":
        return redirect(url_for("debtor.start"))
    form = LookupForm()
    if not form.validate_on_submit():
        return render_page("debtor/start.html", form=form)
    token = _token_for(form.reference.data, form.secret.data)
    if token is None:
        return render_page("debtor/start.html", form=form, not_found=True)
    return redirect(url_for("debtor.case", token=token), 303)


def _token_for(reference: str, secret: str) -> str | None:
    """The current link of the case these details open (issued afresh if need be)."""
    # The debtor has no tenant until the case is found.
    with unscoped(db.session):
        case = payment_links.find_by_reference(db.session, reference, secret)
        if case is None:
            return None
        token = payment_links.current_token(case, utcnow())
        db.session.commit()
    return token
