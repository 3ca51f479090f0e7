"""What the agency asks the creditor to decide on a case: legal action and its costs,
settlements below the agency's authority, and evidence for a dispute the debtor raised.

The ``creditor/_decisions.html`` partial gets its lists and forms from
``creditor_decisions(case)``; a refused post shows the case page again with the reason.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, flash, g, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response as BaseResponse
from wtforms import RadioField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length

from portal import db
from portal.creditor import bp, views
from portal.models import (
    Case,
    DeclineOutcome,
    Dispute,
    LegalRequest,
    LegalRequestStatus,
    Party,
    Settlement,
    SettlementStatus,
)
from portal.services import disputes, legal_requests, settlements, stages
from portal.services.documents import DocumentRefused
from portal.web.access import load_on_case, load_or_404
from portal.web.letters import confirm_settlement_by_letter

Page = BaseResponse | tuple[str, int]


class SettlementDecisionForm(FlaskForm):  # type: ignore[misc]
    comment = TextAreaField(
        "Comment (needed to decline)", validators=[Length(max=settlements.MAX_COMMENT)]
    )


class LegalDecisionForm(FlaskForm):  # type: ignore[misc]
    comment = TextAreaField("Comment", validators=[Length(max=legal_requests.MAX_TEXT)])
    instead = RadioField(
        "If you decline",
        choices=[
            SelectChoice(DeclineOutcome.BACK_TO_AMICABLE.value, "Go on collecting amicably"),
            SelectChoice(
                DeclineOutcome.CLOSE_UNCOLLECTIBLE.value, "Close the case as uncollectible"
            ),
        ],
        default=DeclineOutcome.BACK_TO_AMICABLE.value,
    )


class CreditorEvidenceForm(FlaskForm):  # type: ignore[misc]
    statement = TextAreaField(
        "Your statement", validators=[InputRequired(), Length(max=disputes.MAX_TEXT)]
    )
    document = FileField("Document (contract, delivery note, correspondence)")


@bp.app_template_global()
def creditor_decisions(case: Case) -> dict[str, Any]:
    posted: dict[str, Any] = g.get("decision_forms", {})
    awaiting = [
        s
        for s in settlements.settlements_of(db.session, case)
        if s.status is SettlementStatus.AWAITING_CREDITOR
    ]
    return {
        "legal": [
            r
            for r in legal_requests.requests_of(db.session, case)
            if r.status is LegalRequestStatus.AWAITING_CREDITOR
        ],
        "legal_form": posted.get("legal") or LegalDecisionForm(formdata=None, prefix="legal"),
        "awaiting": awaiting,
        "disputes": disputes.disputes_of(db.session, case),
        "decision_form": posted.get("decision")
        or SettlementDecisionForm(formdata=None, prefix="decision"),
        "evidence_form": posted.get("evidence")
        or CreditorEvidenceForm(formdata=None, prefix="evidence"),
    }


def _refused(case: Case, name: str, form: Any, error: object = None) -> Page:
    db.session.rollback()
    if error is not None:
        field = form.statement if name == "evidence" else form.comment
        field.errors = [*field.errors, str(error)]
    g.decision_forms = {name: form}
    return views._case_page(case, 422)


@bp.post("/cases/<int:case_id>/settlements/<int:settlement_id>/decision")
def decide_settlement(case_id: int, settlement_id: int) -> Page:
    case = load_or_404(Case, case_id)
    settlement = load_on_case(Settlement, settlement_id, case.id)
    form = SettlementDecisionForm(prefix="decision")
    decision = request.form.get("decision")
    if not form.validate_on_submit() or decision not in {"approve", "decline"}:
        return _refused(case, "decision", form, None if form.errors else "Approve or decline.")
    try:
        settlements.decide(
            db.session, settlement, approve=decision == "approve",
            comment=form.comment.data or "", actor_id=current_user.id,
        )  # fmt: skip
    except settlements.SettlementError as error:
        return _refused(case, "decision", form, error)
    db.session.commit()
    if decision == "approve":
        confirm_settlement_by_letter(case_id)
    flash(
        "Settlement approved: the debtor may pay it."
        if decision == "approve"
        else "Settlement declined: the agency goes on collecting the full amount.",
        "success",
    )
    return redirect(url_for("creditor.case", case_id=case_id, _anchor="decisions"))


@bp.post("/cases/<int:case_id>/legal-requests/<int:request_id>/decision")
def decide_legal_action(case_id: int, request_id: int) -> Page:
    """Approve legal action (the case goes to litigation) or decline it."""
    case = load_or_404(Case, case_id)
    legal_request = load_on_case(LegalRequest, request_id, case.id)
    form = LegalDecisionForm(prefix="legal")
    decision = request.form.get("decision")
    if not form.validate_on_submit() or decision not in {"approve", "decline"}:
        return _refused(case, "legal", form, None if form.errors else "Approve or decline.")
    try:
        legal_requests.decide(
            db.session, legal_request, approve=decision == "approve",
            comment=form.comment.data or "", actor_id=current_user.id,
            decline_outcome=None if decision == "approve" else DeclineOutcome(form.instead.data),
        )  # fmt: skip
    except (legal_requests.LegalRequestError, stages.StageError) as error:
        return _refused(case, "legal", form, error)
    db.session.commit()
    flash(
        "Legal action approved: the lawyer files the claim."
        if decision == "approve"
        else "Legal action declined.",
        "success",
    )
    return redirect(url_for("creditor.case", case_id=case_id, _anchor="decisions"))


@bp.post("/cases/<int:case_id>/disputes/<int:dispute_id>/evidence")
def add_dispute_evidence(case_id: int, dispute_id: int) -> Page:
    case = load_or_404(Case, case_id)
    dispute = load_on_case(Dispute, dispute_id, case.id)
    form = CreditorEvidenceForm(prefix="evidence")
    if not form.validate_on_submit():
        return _refused(case, "evidence", form)
    file = form.document.data
    upload = None
    if isinstance(file, FileStorage) and file.filename:
        upload = disputes.Upload(
            filename=file.filename,
            stream=file.stream,
            storage=current_app.extensions["portal.storage"],
            max_bytes=current_app.extensions["portal.settings"].max_document_bytes,
        )
    try:
        disputes.add_evidence(
            db.session, dispute, party=Party.CREDITOR, statement=form.statement.data,
            actor_id=current_user.id, upload=upload,
        )  # fmt: skip
    except (disputes.DisputeError, DocumentRefused) as error:
        return _refused(case, "evidence", form, error)
    db.session.commit()
    flash("Your evidence is on the dispute.", "success")
    return redirect(url_for("creditor.case", case_id=case_id, _anchor="decisions"))
