"""The legal stage for agency staff: proposing legal action, the court file, the judgment,
enforcement, and the legal queue.

Any staff member may propose legal action; the rest is the legal team's (and the
agency admin's). Like ``case_work``, every form posts here and comes back to the case
page (``#legal``); a refused one re-renders the page with the reason on the form (422)
and changes nothing. The ``agency/_legal.html`` partial gets its forms and lists from
``legal_context(case)``.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import abort, current_app, g, request
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    DateField,
    DateTimeLocalField,
    Field,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal import db
from portal.agency import bp, views
from portal.db import utcnow
from portal.models import (
    Case,
    EnforcementAction,
    EnforcementKind,
    EnforcementStatus,
    Lawyer,
    LegalProceeding,
    Role,
    Stage,
)
from portal.services import enforcement, legal_costs, legal_requests, litigation, stages
from portal.services.documents import DocumentRefused
from portal.services.money import AmountError, parse_amount
from portal.web.access import load_on_case, load_or_404, roles_required
from portal.web.rendering import render_page

Page = BaseResponse | tuple[str, int]
# Who works legal cases: everyone on the staff may propose legal action, no more.
LEGAL_ROLES = (Role.LEGAL, Role.AGENCY_ADMIN)
PROPOSE_STAGES = stages.TRANSITIONS["propose_legal"].sources | {Stage.LEGAL_REVIEW}
AMOUNT = [Length(max=24)]


class ProposeForm(FlaskForm):  # type: ignore[misc]
    lawyer = SelectField("Lawyer", validators=[InputRequired()], choices=[])
    court_fees = StringField("Court fees", validators=[InputRequired(), *AMOUNT])
    lawyer_fees = StringField("Lawyer's fees", validators=[InputRequired(), *AMOUNT])
    advance = StringField("Advance asked of the creditor", validators=[Optional(), *AMOUNT])
    note = TextAreaField("Why, for the creditor", validators=[Length(max=legal_requests.MAX_TEXT)])


class CourtFileForm(FlaskForm):  # type: ignore[misc]
    court = StringField("Court", validators=[InputRequired(), Length(max=200)])
    case_number = StringField("Court's case number", validators=[Length(max=100)])
    filed_on = DateField("Filed on", validators=[Optional()])


class HearingForm(FlaskForm):  # type: ignore[misc]
    held_at = DateTimeLocalField("Date and time (UTC)", validators=[InputRequired()])
    place = StringField("Place", validators=[Length(max=200)])
    note = TextAreaField("Note", validators=[Length(max=litigation.MAX_TEXT)])


class UpdateForm(FlaskForm):  # type: ignore[misc]
    text = TextAreaField(
        "Update for the creditor", validators=[InputRequired(), Length(max=litigation.MAX_TEXT)]
    )


class JudgmentForm(FlaskForm):  # type: ignore[misc]
    judgment_date = DateField("Date of the judgment", validators=[InputRequired()])
    principal = StringField("Principal awarded", validators=[InputRequired(), *AMOUNT])
    interest = StringField("Interest awarded", validators=[Optional(), *AMOUNT])
    costs = StringField("Costs awarded", validators=[Optional(), *AMOUNT])
    title = FileField("Enforceable title (optional)")


class ActionForm(FlaskForm):  # type: ignore[misc]
    kind = SelectField(
        "Action",
        choices=[SelectChoice(k.value, enforcement.label(k).capitalize()) for k in EnforcementKind],
    )
    note = TextAreaField("Note", validators=[Length(max=enforcement.MAX_TEXT)])


class StatusForm(FlaskForm):  # type: ignore[misc]
    status = SelectField(
        "Status",
        choices=[
            SelectChoice(s.value, enforcement.label(s).capitalize()) for s in EnforcementStatus
        ],
    )
    note = TextAreaField("Note", validators=[Length(max=enforcement.MAX_TEXT)])


class CostForm(FlaskForm):  # type: ignore[misc]
    description = StringField("What for", validators=[InputRequired(), Length(max=300)])
    amount = StringField("Amount", validators=[InputRequired(), *AMOUNT])
    incurred_on = DateField("Paid on", validators=[InputRequired()])
    action = SelectField("For", choices=[], default="")


class ProceedsForm(FlaskForm):  # type: ignore[misc]
    amount = StringField("Amount received", validators=[InputRequired(), *AMOUNT])
    received_on = DateField("Received on", validators=[InputRequired()])
    reference = StringField(
        "Reference", validators=[InputRequired(), Length(max=enforcement.MAX_REFERENCE)]
    )


FORMS: dict[str, type[FlaskForm]] = {
    "propose": ProposeForm,
    "court": CourtFileForm,
    "hearing": HearingForm,
    "update": UpdateForm,
    "judgment": JudgmentForm,
    "action": ActionForm,
    "status": StatusForm,
    "cost": CostForm,
    "proceeds": ProceedsForm,
}


def _with_choices(form: Any, case: Case) -> Any:
    """Fill the choices that come from the database (the lawyers, the case's actions)."""
    if isinstance(form, ProposeForm):
        form.lawyer.choices = [SelectChoice("", "Choose…")] + [
            SelectChoice(str(lawyer.id), lawyer.label)
            for lawyer in legal_requests.active_lawyers(db.session)
        ]
    if isinstance(form, CostForm):
        form.action.choices = [SelectChoice("", "The case")] + [
            SelectChoice(
                str(action.id), f"{enforcement.label(action.kind).capitalize()} #{action.id}"
            )
            for action in enforcement.actions_of(db.session, case)
        ]
    return form


def _form(name: str, case: Case) -> Any:
    """The posted form ``name`` (its fields are prefixed with the name)."""
    return _with_choices(FORMS[name](prefix=name), case)


def _blank(name: str, case: Case, proceeding: LegalProceeding | None) -> Any:
    """A form not posted; the court file's shows what is on file, to correct it."""
    data = None
    if name == "court" and proceeding is not None:
        data = {"court": proceeding.court, "case_number": proceeding.court_case_number,
                "filed_on": proceeding.filed_on}  # fmt: skip
    return _with_choices(FORMS[name](formdata=None, prefix=name, data=data), case)


@bp.app_template_global()
def legal_context(case: Case) -> dict[str, Any]:
    """What the legal partial shows: requests, court file, judgment, enforcement, forms."""
    session = db.session
    posted: dict[str, Any] = g.get("legal_forms", {})
    proceeding = litigation.proceeding_of(session, case)
    blank = {name: _blank(name, case, proceeding) for name in FORMS}
    requests = legal_requests.requests_of(session, case)
    pending = legal_requests.pending_request(session, case)
    return {
        "forms": {**blank, **posted},
        "blank": blank,
        "posted_action": g.get("legal_action_id"),
        "requests": requests,
        "can_propose": case.stage in PROPOSE_STAGES and pending is None,
        "can_work": current_user.role in LEGAL_ROLES,
        "proceeding": proceeding,
        "judgment": litigation.judgment_of(session, case),
        "actions": enforcement.actions_of(session, case),
        "costs": legal_costs.costs_of(session, case),
        "proceeds": enforcement.proceeds_by_action(session, case),
        "label": enforcement.label,
        "shown": bool(posted or requests) or proceeding is not None or case.stage in PROPOSE_STAGES,
    }


def _done(case: Case, message: str) -> BaseResponse:
    return views.case_form_done(case, message, "legal")


def _refused(
    case: Case,
    name: str,
    form: Any,
    field: Field | None = None,
    error: object = None,
    *,
    action_id: int | None = None,
) -> Page:
    """The case page again with the refused form; ``action_id``: the enforcement action
    whose form it was (its row shows the errors)."""
    g.legal_action_id = action_id
    return views.case_form_refused(case, "legal_forms", name, form, field=field, error=error)


def _amounts(currency: str, *fields: Field) -> list[int] | None:
    """The amounts typed in ``fields`` (left blank: zero); None, with the reason on each
    field that holds no amount, when one does not."""
    amounts: list[int] = []
    for field in fields:
        text = (field.data or "").strip()
        try:
            amounts.append(parse_amount(text, currency) if text else 0)
        except AmountError as error:
            field.errors = [*field.errors, str(error)]
    return amounts if len(amounts) == len(fields) else None


def _chosen_lawyer(value: str) -> Lawyer:
    """The lawyer picked in the form (the form only offers, and accepts, active ones)."""
    return next(
        lawyer for lawyer in legal_requests.active_lawyers(db.session) if str(lawyer.id) == value
    )


def _proceeding(case: Case) -> LegalProceeding:
    proceeding = litigation.proceeding_of(db.session, case)
    if proceeding is None:
        abort(404)  # no court file before the creditor approves legal action
    return proceeding


# --- proposing legal action (any staff member) -------------------------------------------


@bp.post("/cases/<int:case_id>/legal/requests")
def propose_legal(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("propose", case)
    if not form.validate_on_submit():
        return _refused(case, "propose", form)
    fields = (form.court_fees, form.lawyer_fees, form.advance)
    if (amounts := _amounts(case.currency, *fields)) is None:
        return _refused(case, "propose", form)
    lawyer = _chosen_lawyer(form.lawyer.data)
    try:
        legal_requests.propose(
            db.session, case, lawyer=lawyer, estimate=legal_requests.Estimate(*amounts),
            note=form.note.data or "", actor_id=current_user.id, role=current_user.role,
            mailer=current_app.extensions["portal.mailer"],
        )  # fmt: skip
    except (legal_requests.LegalRequestError, stages.StageError) as error:
        return _refused(case, "propose", form, form.lawyer, error)
    return _done(case, "Legal action proposed: the creditor is asked to approve it.")


# --- the court file ----------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/legal/court-file")
@roles_required(*LEGAL_ROLES)
def update_court_file(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    proceeding = _proceeding(case)
    form = _form("court", case)
    if not form.validate_on_submit():
        return _refused(case, "court", form)
    try:
        litigation.update_court_file(
            db.session, proceeding, court=form.court.data, case_number=form.case_number.data or "",
            filed_on=form.filed_on.data, actor_id=current_user.id,
        )  # fmt: skip
    except litigation.LitigationError as error:
        return _refused(case, "court", form, form.court, error)
    return _done(case, "Court file updated.")


@bp.post("/cases/<int:case_id>/legal/hearings")
@roles_required(*LEGAL_ROLES)
def add_hearing(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    proceeding = _proceeding(case)
    form = _form("hearing", case)
    if not form.validate_on_submit():
        return _refused(case, "hearing", form)
    try:
        litigation.add_hearing(
            db.session, proceeding, held_at=form.held_at.data.replace(tzinfo=UTC),
            place=form.place.data or "", note=form.note.data or "", actor_id=current_user.id,
        )  # fmt: skip
    except litigation.LitigationError as error:
        return _refused(case, "hearing", form, form.held_at, error)
    return _done(case, "Hearing added: a reminder goes out a few days before.")


@bp.post("/cases/<int:case_id>/legal/updates")
@roles_required(*LEGAL_ROLES)
def post_legal_update(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("update", case)
    if not form.validate_on_submit():
        return _refused(case, "update", form)
    try:
        litigation.post_update(db.session, case, text=form.text.data, actor_id=current_user.id)
    except litigation.LitigationError as error:
        return _refused(case, "update", form, form.text, error)
    return _done(case, "Update posted: the creditor sees it on the case.")


@bp.post("/cases/<int:case_id>/legal/judgment")
@roles_required(*LEGAL_ROLES)
def record_judgment(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("judgment", case)
    if not form.validate_on_submit():
        return _refused(case, "judgment", form)
    fields = (form.principal, form.interest, form.costs)
    if (amounts := _amounts(case.currency, *fields)) is None:
        return _refused(case, "judgment", form)
    principal, interest, costs = amounts
    try:
        litigation.record_judgment(
            db.session, case, judgment_date=form.judgment_date.data, principal_minor=principal,
            interest_minor=interest, costs_minor=costs, title=_upload(form.title.data),
            storage=current_app.extensions["portal.storage"],
            max_bytes=current_app.extensions["portal.settings"].max_document_bytes,
            actor_id=current_user.id, role=current_user.role,
        )  # fmt: skip
    except DocumentRefused as error:
        return _refused(case, "judgment", form, form.title, error)
    except (litigation.LitigationError, stages.StageError) as error:
        return _refused(case, "judgment", form, form.principal, error)
    return _done(case, "Judgment recorded: the claim now stands at the judgment's figures.")


def _upload(file: Any) -> litigation.UploadedFile | None:
    if not isinstance(file, FileStorage) or not file.filename:
        return None
    return litigation.UploadedFile(filename=file.filename, stream=file.stream)


# --- enforcement -------------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/enforcement")
@roles_required(*LEGAL_ROLES)
def start_enforcement(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("action", case)
    if not form.validate_on_submit():
        return _refused(case, "action", form)
    kind = EnforcementKind(form.kind.data)
    try:
        enforcement.start_action(
            db.session, case, kind, note=form.note.data or "", actor_id=current_user.id,
            role=current_user.role,
        )  # fmt: skip
    except (enforcement.EnforcementError, stages.StageError) as error:
        return _refused(case, "action", form, form.kind, error)
    return _done(case, f"Enforcement started: {enforcement.label(kind)}.")


@bp.post("/cases/<int:case_id>/enforcement/<int:action_id>/status")
@roles_required(*LEGAL_ROLES)
def enforcement_status(case_id: int, action_id: int) -> Page:
    case = load_or_404(Case, case_id)
    action = load_on_case(EnforcementAction, action_id, case.id)
    form = _form("status", case)
    if not form.validate_on_submit():
        return _refused(case, "status", form, action_id=action_id)
    status = EnforcementStatus(form.status.data)
    try:
        enforcement.update_status(
            db.session, action, status, note=form.note.data or "", actor_id=current_user.id
        )
    except enforcement.EnforcementError as error:
        return _refused(case, "status", form, form.status, error, action_id=action_id)
    return _done(case, f"The {enforcement.label(action.kind)} is {enforcement.label(status)}.")


@bp.post("/cases/<int:case_id>/legal/costs")
@roles_required(*LEGAL_ROLES)
def add_legal_cost(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("cost", case)
    if not form.validate_on_submit():
        return _refused(case, "cost", form)
    if (amounts := _amounts(case.currency, form.amount)) is None:
        return _refused(case, "cost", form)
    action = (
        load_on_case(EnforcementAction, int(form.action.data), case.id)
        if form.action.data
        else None
    )
    try:
        cost = enforcement.add_cost(
            db.session, case, description=form.description.data, amount_minor=amounts[0],
            incurred_on=form.incurred_on.data, enforcement=action, actor_id=current_user.id,
        )  # fmt: skip
    except enforcement.EnforcementError as error:
        return _refused(case, "cost", form, form.amount, error)
    return _done(case, f"Cost recorded, borne by the {cost.recoverable_from.value}.")


@bp.post("/cases/<int:case_id>/enforcement/<int:action_id>/proceeds")
@roles_required(*LEGAL_ROLES)
def record_proceeds(case_id: int, action_id: int) -> Page:
    case = load_or_404(Case, case_id)
    action = load_on_case(EnforcementAction, action_id, case.id)
    form = _form("proceeds", case)
    if not form.validate_on_submit():
        return _refused(case, "proceeds", form, action_id=action_id)
    if (amounts := _amounts(case.currency, form.amount)) is None:
        return _refused(case, "proceeds", form, action_id=action_id)
    try:
        recorded = enforcement.record_proceeds(
            db.session, action, amount_minor=amounts[0], received_on=form.received_on.data,
            reference=form.reference.data, actor_id=current_user.id,
        )  # fmt: skip
    except enforcement.EnforcementError as error:
        return _refused(case, "proceeds", form, form.amount, error, action_id=action_id)
    return _done(
        case,
        "Proceeds booked as a payment."
        if recorded.new
        else "These proceeds were booked before: nothing changed.",
    )


# --- the legal queue ---------------------------------------------------------------------


@bp.get("/legal")
def legal_queue() -> str:
    """Cases in the legal stages, with their court file and next hearing."""
    chosen = request.args.get("stage", "")
    stage = next((s for s in litigation.QUEUE_STAGES if s.value == chosen), None)
    return render_page(
        "agency/legal_queue.html",
        rows=litigation.legal_queue(db.session, utcnow(), stage=stage),
        stages=litigation.QUEUE_STAGES,
        stage=stage,
    )
