"""Early intervention for agency staff: the queue of invoices under check, and the check on
the case page (what the debtor said, or converting the invoice to a collection case).

Like ``case_work``, the forms post here and come back to the case page (``#check``); a
refused one re-renders the page with the reason on the form (422) and changes nothing.
The ``agency/_check.html`` partial gets its check and forms from ``check_context(case)``.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateField, Field, RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal import db
from portal.agency import bp, views
from portal.db import utcnow
from portal.models import Case, CheckStatus, InvoiceCheck, Stage
from portal.services import invoice_checks, notifications, stages
from portal.services.invoice_checks import Answer
from portal.web.access import load_or_404
from portal.web.rendering import render_page

Page = BaseResponse | tuple[str, int]
CONVERTIBLE = (*invoice_checks.WAITING, CheckStatus.DISPUTED)


class AnswerForm(FlaskForm):  # type: ignore[misc]
    answer = RadioField(
        "What the debtor said",
        choices=[SelectChoice(a.value, a.label) for a in Answer],
        validators=[InputRequired()],
    )
    expected_on = DateField("Will pay by (when confirmed)", validators=[Optional()])
    reason = TextAreaField(
        "What the debtor says (required when disputed)",
        validators=[Length(max=invoice_checks.MAX_TEXT)],
    )


class ConvertForm(FlaskForm):  # type: ignore[misc]
    why = TextAreaField("Reason", validators=[InputRequired(), Length(max=500)])


FORMS: dict[str, type[FlaskForm]] = {"check": AnswerForm, "convert": ConvertForm}


@bp.app_template_global()
def check_context(case: Case) -> dict[str, Any]:
    """What the check partial shows: the case's check (None: no section) and the forms."""
    posted: dict[str, Any] = g.get("check_forms", {})
    check = invoice_checks.check_of(db.session, case)
    status = check.status if check is not None and case.stage is Stage.CHECK else None
    return {
        "check": check,
        "forms": {
            name: posted.get(name) or form_class(formdata=None, prefix=name)
            for name, form_class in FORMS.items()
        },
        "can_answer": status in invoice_checks.WAITING,
        "can_convert": status in CONVERTIBLE,
    }


def _check(case: Case) -> InvoiceCheck:
    check = invoice_checks.check_of(db.session, case)
    if check is None:
        abort(404)  # the case was placed for collection, not for a check
    return check


def _done(case: Case, message: str) -> BaseResponse:
    return views.case_form_done(case, message, "check")


def _refused(
    case: Case, name: str, form: Any, field: Field | None = None, error: object = None
) -> Page:
    return views.case_form_refused(case, "check_forms", name, form, field=field, error=error)


@bp.get("/checks")
def check_queue() -> str:
    """Invoices under check waiting for the debtor's answer or payment, due ones first."""
    today = utcnow().date()
    return render_page(
        "agency/check_queue.html", checks=invoice_checks.due_checks(db.session, today), today=today
    )


@bp.post("/cases/<int:case_id>/check")
def record_check_answer(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    check = _check(case)
    form = AnswerForm(prefix="check")
    if not form.validate_on_submit():
        return _refused(case, "check", form)
    answer = Answer(form.answer.data)
    try:
        invoice_checks.record_answer(
            db.session, check, answer=answer, expected_on=form.expected_on.data,
            reason=form.reason.data or "", actor_id=current_user.id, today=utcnow().date(),
        )  # fmt: skip
    except invoice_checks.CheckError as error:
        return _refused(case, "check", form, _field_for(form, answer), error)
    if answer is Answer.DISPUTED:  # reported back to the creditor
        notifications.check_disputed(db.session, current_app.extensions["portal.mailer"], check)
    return _done(case, f"Answer recorded: {answer.label}.")


def _field_for(form: AnswerForm, answer: Answer) -> Field:
    """Where a refused answer's reason shows: on what the answer needed."""
    return {Answer.CONFIRMED: form.expected_on, Answer.DISPUTED: form.reason}.get(
        answer, form.answer
    )


@bp.post("/cases/<int:case_id>/check/convert")
def convert_check(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    check = _check(case)
    form = ConvertForm(prefix="convert")
    if not form.validate_on_submit():
        return _refused(case, "convert", form)
    try:
        invoice_checks.convert(
            db.session, check, actor_id=current_user.id, why=form.why.data, today=utcnow().date()
        )
    except (invoice_checks.CheckError, stages.StageError) as error:
        return _refused(case, "convert", form, form.why, error)
    return _done(case, "Converted to a collection case.")
