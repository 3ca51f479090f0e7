"""The collector's work on a case: contact, notes, stage moves, promises, disputes, settlements,
and the payment plans debtors ask for beyond the tenant's policy.

Every form posts here and comes back to the case page (``#case-work``); a refused
action re-renders the page with the reason on the form (422) and changes nothing.
The forms and lists the ``agency/_case_work.html`` partial shows come from
``case_work(case)``, a template helper this blueprint provides.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, g
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as BaseResponse
from wtforms import BooleanField, DateField, Field, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, Optional

from portal import db, jobs
from portal.agency import bp, views
from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    Dispute,
    HoldReason,
    Party,
    PaymentPlan,
    SettlementStatus,
)
from portal.services import (
    audit,
    case_work,
    contact_rules,
    disputes,
    ledger,
    payment_links,
    payment_plans,
    promises,
    settlements,
    stages,
)
from portal.services.documents import DocumentRefused
from portal.services.money import AmountError, parse_amount
from portal.services.timeline import log_activity
from portal.web.access import load_on_case, load_or_404
from portal.web.letters import confirm_settlement_by_letter

Page = BaseResponse | tuple[str, int]

HOLD_REASON_LABELS = {
    HoldReason.DISPUTE: "Dispute",
    HoldReason.INSOLVENCY: "Insolvency",
    HoldReason.CEASE_CONTACT: "Cease contact",
    HoldReason.CREDITOR_REQUEST: "Creditor's request",
}


class CallForm(FlaskForm):  # type: ignore[misc]
    outcome = SelectField(
        "Outcome",
        choices=[SelectChoice(o.value, o.label) for o in case_work.CallOutcome],
        default=case_work.CallOutcome.SPOKE.value,
    )
    notes = TextAreaField("Notes", validators=[Length(max=case_work.MAX_TEXT)])
    visible = BooleanField("Visible to the creditor", default=True)


class EmailForm(FlaskForm):  # type: ignore[misc]
    subject = StringField(
        "Subject", validators=[InputRequired(), Length(max=case_work.MAX_SUBJECT)]
    )
    body = TextAreaField("E-mail", validators=[InputRequired(), Length(max=case_work.MAX_TEXT)])
    visible = BooleanField("Visible to the creditor", default=True)


class LetterForm(FlaskForm):  # type: ignore[misc]
    text = TextAreaField(
        "Text of the letter", validators=[InputRequired(), Length(max=case_work.MAX_TEXT)]
    )
    visible = BooleanField("Visible to the creditor", default=True)


class NoteForm(FlaskForm):  # type: ignore[misc]
    text = TextAreaField("Note", validators=[InputRequired(), Length(max=case_work.MAX_TEXT)])
    visible = BooleanField("Visible to the creditor", default=False)


class ContactPreferencesForm(FlaskForm):  # type: ignore[misc]
    no_calls = BooleanField("No calls")
    no_emails = BooleanField("No e-mails")
    no_letters = BooleanField("No letters")
    cease_contact = BooleanField("Cease all contact")


class StageForm(FlaskForm):  # type: ignore[misc]
    step = StringField(validators=[InputRequired()])
    why = TextAreaField("Reason", validators=[Length(max=500)])
    hold_reason = SelectField(
        "Why on hold",
        choices=[SelectChoice("", "Choose…")]
        + [SelectChoice(r.value, label) for r, label in HOLD_REASON_LABELS.items()],
        default="",
    )


class PromiseForm(FlaskForm):  # type: ignore[misc]
    amount = StringField("Amount promised", validators=[InputRequired(), Length(max=24)])
    due_on = DateField("To be paid by", validators=[InputRequired()])


class DisputeForm(FlaskForm):  # type: ignore[misc]
    raised_by = SelectField(
        "Raised by",
        choices=[SelectChoice(p.value, p.value.capitalize()) for p in Party],
        default=Party.DEBTOR.value,
    )
    reason = TextAreaField(
        "What the debtor contests", validators=[InputRequired(), Length(max=disputes.MAX_TEXT)]
    )


class EvidenceForm(FlaskForm):  # type: ignore[misc]
    party = SelectField(
        "From", choices=[SelectChoice(p.value, p.value.capitalize()) for p in Party]
    )
    statement = TextAreaField(
        "Statement", validators=[InputRequired(), Length(max=disputes.MAX_TEXT)]
    )
    document = FileField("Document (optional)")


class EvidenceRequestForm(FlaskForm):  # type: ignore[misc]
    body = TextAreaField(
        "What the creditor should send",
        validators=[InputRequired(), Length(max=disputes.MAX_TEXT)],
        default="Please send your evidence for the debtor's dispute "
        "(contract, delivery notes, correspondence).",
    )


class ResolveForm(FlaskForm):  # type: ignore[misc]
    resolution = SelectField(
        "Decision", choices=[SelectChoice(r.value, r.label) for r in disputes.Resolution]
    )
    amount = StringField(
        "Amount off the claim (when reduced)", validators=[Optional(), Length(max=24)]
    )
    comment = TextAreaField("Reasons", validators=[InputRequired(), Length(max=disputes.MAX_TEXT)])


class SettlementForm(FlaskForm):  # type: ignore[misc]
    amount = StringField("Settle for", validators=[InputRequired(), Length(max=24)])
    note = TextAreaField("Note", validators=[Length(max=1000)])


class PlanDecisionForm(FlaskForm):  # type: ignore[misc]
    decision = SelectField(
        "Decision",
        choices=[
            SelectChoice("approve", "Approve the plan"),
            SelectChoice("decline", "Decline it"),
        ],
        validators=[InputRequired()],
    )
    comment = TextAreaField(
        "Comment (the debtor reads it when declined)",
        validators=[Length(max=payment_plans.MAX_COMMENT)],
    )


FORMS: dict[str, type[FlaskForm]] = {
    "call": CallForm,
    "email": EmailForm,
    "letter": LetterForm,
    "note": NoteForm,
    "contact": ContactPreferencesForm,
    "stage": StageForm,
    "promise": PromiseForm,
    "dispute": DisputeForm,
    "evidence": EvidenceForm,
    "request": EvidenceRequestForm,
    "resolve": ResolveForm,
    "settlement": SettlementForm,
    "plan": PlanDecisionForm,
}


def _form(name: str) -> Any:
    """The posted form ``name`` (its fields are prefixed with the name)."""
    return FORMS[name](prefix=name)


@bp.app_template_global()
def case_work_context(case: Case) -> dict[str, Any]:
    """What the case-work partial shows: forms (a refused one with its errors), lists, limits."""
    posted: dict[str, Any] = g.get("case_work_forms", {})
    forms = {
        name: posted.get(name) or form_class(formdata=None, prefix=name)
        for name, form_class in FORMS.items()
    }
    if "contact" not in posted:
        forms["contact"] = ContactPreferencesForm(formdata=None, obj=case.debtor, prefix="contact")
    session = db.session
    outstanding = ledger.balance(session, case).outstanding
    return {
        "forms": forms,
        "refusals": contact_rules.refusals(session, case, utcnow()),
        "calls_made": contact_rules.calls_in_window(session, case, utcnow()),
        "steps": stages.available(case, current_user.role),
        "promises": promises.promises_of(session, case),
        "disputes": disputes.disputes_of(session, case),
        "open_dispute": disputes.open_dispute_of(session, case),
        "settlements": settlements.settlements_of(session, case),
        "pending_settlement": settlements.pending_settlement(session, case),
        "authority_floor": settlements.authority_floor(case, outstanding),
        "outstanding": outstanding,
        "plans": payment_plans.plans_of(session, case),
        "hold_reason_labels": HOLD_REASON_LABELS,
    }


def _done(case: Case, message: str, anchor: str = "case-work") -> BaseResponse:
    return views.case_form_done(case, message, anchor)


def _refused(
    case: Case, name: str, form: Any, field: Field | None = None, error: object = None
) -> Page:
    return views.case_form_refused(case, "case_work_forms", name, form, field=field, error=error)


# --- contact and notes -------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/calls")
def log_call(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("call")
    if not form.validate_on_submit():
        return _refused(case, "call", form)
    try:
        case_work.log_call(
            db.session, case, outcome=case_work.CallOutcome(form.outcome.data),
            notes=form.notes.data or "", actor_id=current_user.id, now=utcnow(),
            visible_to_creditor=bool(form.visible.data),
        )  # fmt: skip
    except (case_work.CaseWorkError, contact_rules.ContactRefused) as error:
        return _refused(case, "call", form, form.outcome, error)
    return _done(case, "Call logged.")


@bp.post("/cases/<int:case_id>/emails")
def send_email(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("email")
    if not form.validate_on_submit():
        return _refused(case, "email", form)
    try:
        case_work.send_email(
            db.session, current_app.extensions["portal.mailer"], case,
            subject=form.subject.data, body=form.body.data, actor_id=current_user.id,
            now=utcnow(), visible_to_creditor=bool(form.visible.data),
        )  # fmt: skip
    except (case_work.CaseWorkError, contact_rules.ContactRefused) as error:
        return _refused(case, "email", form, form.subject, error)
    return _done(case, f"E-mail sent to {case.debtor.email}.")


@bp.post("/cases/<int:case_id>/letters")
def record_letter(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("letter")
    if not form.validate_on_submit():
        return _refused(case, "letter", form)
    try:
        case_work.record_letter(
            db.session, case, text=form.text.data, actor_id=current_user.id, now=utcnow(),
            visible_to_creditor=bool(form.visible.data),
        )  # fmt: skip
    except (case_work.CaseWorkError, contact_rules.ContactRefused) as error:
        return _refused(case, "letter", form, form.text, error)
    return _done(case, "Letter recorded.")


@bp.post("/cases/<int:case_id>/notes")
def add_note(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("note")
    if not form.validate_on_submit():
        return _refused(case, "note", form)
    try:
        case_work.add_note(
            db.session, case, text=form.text.data, actor_id=current_user.id, now=utcnow(),
            visible_to_creditor=bool(form.visible.data),
        )  # fmt: skip
    except case_work.CaseWorkError as error:
        return _refused(case, "note", form, form.text, error)
    return _done(case, "Note added.")


@bp.post("/cases/<int:case_id>/contact-preferences")
def contact_preferences(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("contact")
    if not form.validate_on_submit():
        return _refused(case, "contact", form)
    changed = contact_rules.set_preferences(
        db.session, case, actor_id=current_user.id,
        **{name: bool(getattr(form, name).data) for name in contact_rules.PREFERENCES},
    )  # fmt: skip
    return _done(case, "Contact preferences saved." if changed else "Nothing changed.")


# --- stage moves -------------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/stage")
def move_stage(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("stage")
    if not form.validate_on_submit():
        return _refused(case, "stage", form, form.why, "Choose a step.")
    step = stages.TRANSITIONS.get(form.step.data or "")
    if form.step.data in stages.GUIDED_STEPS:
        return _refused(case, "stage", form, form.why, "This step has its own form below.")
    hold_reason = HoldReason(form.hold_reason.data) if form.hold_reason.data else None
    try:
        stages.move(
            db.session, case, form.step.data, actor_id=current_user.id, role=current_user.role,
            why=form.why.data or "", hold_reason=hold_reason,
        )  # fmt: skip
    except stages.StageError as error:
        return _refused(case, "stage", form, form.why, error)
    return _done(case, f"Done: {step.label.lower() if step else 'moved'}. Now {case.stage.label}.")


# --- promises to pay ---------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/promises")
def make_promise(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("promise")
    if not form.validate_on_submit():
        return _refused(case, "promise", form)
    try:
        amount = parse_amount(form.amount.data, case.currency)
        promises.make_promise(
            db.session, case, amount_minor=amount, due_on=form.due_on.data,
            actor_id=current_user.id, today=utcnow().date(),
        )  # fmt: skip
    except (AmountError, promises.PromiseError) as error:
        return _refused(case, "promise", form, form.amount, error)
    return _done(case, "Promise to pay recorded.", "promises")


# --- disputes ----------------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/disputes")
def open_dispute(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("dispute")
    if not form.validate_on_submit():
        return _refused(case, "dispute", form)
    try:
        disputes.open_dispute(
            db.session, case, raised_by=Party(form.raised_by.data), reason=form.reason.data,
            actor_id=current_user.id, role=current_user.role, today=utcnow().date(),
        )  # fmt: skip
    except (disputes.DisputeError, stages.StageError) as error:
        return _refused(case, "dispute", form, form.reason, error)
    return _done(case, "Dispute recorded: the case is on hold.", "disputes")


@bp.post("/cases/<int:case_id>/disputes/<int:dispute_id>/evidence")
def add_evidence(case_id: int, dispute_id: int) -> Page:
    case = load_or_404(Case, case_id)
    dispute = load_on_case(Dispute, dispute_id, case.id)
    form = _form("evidence")
    if not form.validate_on_submit():
        return _refused(case, "evidence", form)
    upload = form.document.data
    try:
        disputes.add_evidence(
            db.session, dispute, party=Party(form.party.data), statement=form.statement.data,
            actor_id=current_user.id, upload=_upload(upload),
        )  # fmt: skip
    except (disputes.DisputeError, DocumentRefused) as error:
        return _refused(case, "evidence", form, form.statement, error)
    return _done(case, "Evidence added to the dispute.", "disputes")


def _upload(file: Any) -> disputes.Upload | None:
    if not isinstance(file, FileStorage) or not file.filename:
        return None
    return disputes.Upload(
        filename=file.filename,
        stream=file.stream,
        storage=current_app.extensions["portal.storage"],
        max_bytes=current_app.extensions["portal.settings"].max_document_bytes,
    )


@bp.post("/cases/<int:case_id>/disputes/<int:dispute_id>/request-evidence")
def request_evidence(case_id: int, dispute_id: int) -> Page:
    case = load_or_404(Case, case_id)
    dispute = load_on_case(Dispute, dispute_id, case.id)
    form = _form("request")
    if not form.validate_on_submit():
        return _refused(case, "request", form)
    try:
        disputes.request_creditor_evidence(
            db.session, current_app.extensions["portal.mailer"], dispute, author=current_user,
            body=form.body.data,
            agency_inbox=current_app.extensions["portal.settings"].mail_sender,
        )  # fmt: skip
    except disputes.DisputeError as error:
        return _refused(case, "request", form, form.body, error)
    return _done(case, "The creditor is asked for their evidence.", "disputes")


@bp.post("/cases/<int:case_id>/disputes/<int:dispute_id>/resolve")
def resolve_dispute(case_id: int, dispute_id: int) -> Page:
    case = load_or_404(Case, case_id)
    dispute = load_on_case(Dispute, dispute_id, case.id)
    form = _form("resolve")
    if not form.validate_on_submit():
        return _refused(case, "resolve", form)
    resolution = disputes.Resolution(form.resolution.data)
    try:
        amount = None
        if resolution is disputes.Resolution.ADJUST and (form.amount.data or "").strip():
            amount = parse_amount(form.amount.data, case.currency)
        disputes.resolve(
            db.session, dispute, resolution=resolution, comment=form.comment.data,
            actor_id=current_user.id, role=current_user.role, today=utcnow().date(),
            amount_minor=amount,
        )  # fmt: skip
    except (AmountError, disputes.DisputeError, stages.StageError) as error:
        field = form.amount if isinstance(error, AmountError) else form.comment
        return _refused(case, "resolve", form, field, error)
    return _done(case, f"Dispute decided: {resolution.label.lower()}.", "disputes")


# --- settlements -------------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/settlements")
def propose_settlement(case_id: int) -> Page:
    case = load_or_404(Case, case_id)
    form = _form("settlement")
    if not form.validate_on_submit():
        return _refused(case, "settlement", form)
    try:
        amount = parse_amount(form.amount.data, case.currency)
        settlement = settlements.propose(
            db.session, case, amount_minor=amount, note=form.note.data or "",
            actor_id=current_user.id, mailer=current_app.extensions["portal.mailer"],
        )  # fmt: skip
    except (AmountError, settlements.SettlementError) as error:
        return _refused(case, "settlement", form, form.amount, error)
    within = settlement.status is SettlementStatus.PROPOSED
    page = _done(
        case,
        "Settlement proposed: within our authority, the debtor may pay it."
        if within
        else "Settlement below our authority: the creditor is asked to approve it.",
        "settlements",
    )
    if within:
        confirm_settlement_by_letter(case.id)
    return page


# --- payment plans -----------------------------------------------------------------------


@bp.post("/cases/<int:case_id>/plans/<int:plan_id>/decision")
def decide_plan(case_id: int, plan_id: int) -> Page:
    """Approve a plan the debtor asked for beyond the policy, or decline it with a reason."""
    case = load_or_404(Case, case_id)
    plan = load_on_case(PaymentPlan, plan_id, case.id)
    form = _form("plan")
    if not form.validate_on_submit():
        return _refused(case, "plan", form)
    approve = form.decision.data == "approve"
    try:
        payment_plans.decide(
            db.session, plan, approve=approve, comment=form.comment.data or "",
            actor_id=current_user.id,
        )  # fmt: skip
    except payment_plans.PlanError as error:
        return _refused(case, "plan", form, form.comment, error)
    page = _done(
        case,
        "Plan approved: the debtor can pay the first instalment from the payment page."
        if approve
        else "Plan declined; the debtor is told why.",
        "plans",
    )
    key = "plan_approved" if approve else "plan_declined"
    current_app.extensions["portal.jobs"].enqueue(
        jobs.email_letter, case.id, key, utcnow().date().isoformat(), form.comment.data or ""
    )
    return page


# --- the debtor's payment link -----------------------------------------------------------


@bp.post("/cases/<int:case_id>/payment-link")
def reissue_link(case_id: int) -> Page:
    """A new payment link for the debtor; the old one stops working at once."""
    case = load_or_404(Case, case_id)
    if not FlaskForm().validate_on_submit():
        abort(400)
    payment_links.reissue(case, utcnow())
    log_activity(db.session, case, ActivityKind.NOTE, "New payment link issued",
                 actor_id=current_user.id, visible_to_creditor=False,
                 outcome="The previous link no longer opens the account")  # fmt: skip
    audit.record(db.session, "payment_link.reissued", actor_id=current_user.id,
                 tenant_id=case.tenant_id, subject=case)  # fmt: skip
    return _done(case, "New payment link issued; the previous one no longer works.", "debtor")
