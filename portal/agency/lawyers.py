"""Agency admins keep the network of lawyers that legal action is proposed with."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length

from portal import db
from portal.agency import bp
from portal.models import Lawyer, Role
from portal.services import lawyers
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page


class LawyerForm(FlaskForm):  # type: ignore[misc]
    name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    firm = StringField("Firm", validators=[InputRequired(), Length(max=200)])
    email = EmailField("E-mail", validators=[InputRequired(), Length(max=254)])
    jurisdictions = StringField(
        "Jurisdictions (country codes)", validators=[InputRequired(), Length(max=200)]
    )
    languages = StringField("Languages (codes)", validators=[InputRequired(), Length(max=100)])
    fee_terms = TextAreaField("Fee terms", validators=[Length(max=2000)])


def _page(form: LawyerForm, status: int = 200) -> tuple[str, int]:
    page = render_page("agency/lawyers.html", lawyers=lawyers.all_lawyers(db.session), form=form)
    return page, status


@bp.get("/lawyers")
@roles_required(Role.AGENCY_ADMIN, Role.LEGAL)
def lawyers_page() -> tuple[str, int]:
    return _page(LawyerForm(formdata=None))


@bp.post("/lawyers")
@roles_required(Role.AGENCY_ADMIN)
def add_lawyer() -> BaseResponse | tuple[str, int]:
    form = LawyerForm()
    if not form.validate_on_submit():
        return _page(form, 422)
    details = lawyers.LawyerDetails(
        name=form.name.data, firm=form.firm.data, email=form.email.data,
        jurisdictions=form.jurisdictions.data, languages=form.languages.data,
        fee_terms=form.fee_terms.data or "",
    )  # fmt: skip
    try:
        added = lawyers.add(db.session, details, actor_id=current_user.id)
    except lawyers.LawyerError as error:
        db.session.rollback()
        form.name.errors = [*form.name.errors, str(error)]
        return _page(form, 422)
    db.session.commit()
    flash(f"{added.label} joined the network.", "success")
    return redirect(url_for("agency.lawyers_page"))


@bp.post("/lawyers/<int:lawyer_id>/active")
@roles_required(Role.AGENCY_ADMIN)
def toggle_lawyer(lawyer_id: int) -> BaseResponse:
    lawyer = load_or_404(Lawyer, lawyer_id)
    if not FlaskForm().validate_on_submit():
        return redirect(url_for("agency.lawyers_page"))
    lawyers.set_active(db.session, lawyer, not lawyer.active, actor_id=current_user.id)
    db.session.commit()
    flash(
        f"{lawyer.label} is {'back in' if lawyer.active else 'no longer in'} the network.",
        "success",
    )
    return redirect(url_for("agency.lawyers_page"))
