"""The debtor disputes the claim from the payment page: a reason, perhaps one document.

The disputes service puts the case on hold; a collector is told by e-mail and the case
moves up their queue. The dispute, its document and the e-mail are one transaction: a
refused upload (checked by the documents service before anything is stored) or any other
refusal rolls it all back, so nothing of the attempt is kept.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from werkzeug.datastructures import FileStorage
from werkzeug.wrappers import Response
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from portal import db
from portal.db import utcnow
from portal.debtor import bp
from portal.debtor.access import case_for_token
from portal.extensions import limiter
from portal.models import Case, Dispute, Party, Stage
from portal.services import disputes, notifications, stages
from portal.services.documents import DocumentRefused, display_name, human_size
from portal.web.rendering import render_page

Page = Response | str | tuple[str, int]
# What the collector reads beside the document in the dispute's evidence.
EVIDENCE_STATEMENT = "Attached by the debtor when disputing the claim on the payment page."


def _stripped(value: str | None) -> str | None:
    return value.strip() if value else value


class DisputeForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        _l("Why do you dispute this claim?"),
        filters=[_stripped],
        validators=[
            DataRequired(_l("Please tell us why you dispute the claim.")),
            Length(
                max=disputes.MAX_TEXT,
                message=_l("Please keep it to %(max)d characters; you can attach a document."),
            ),
        ],
    )
    document = FileField(_l("A document that supports it (optional)"))


def _max_bytes() -> int:
    return int(current_app.extensions["portal.settings"].max_document_bytes)


@bp.route("/<token>/dispute", methods=["GET", "POST"])
@limiter.limit("30 per minute")
def dispute(token: str) -> Page:
    """The form; once a dispute is open, what happens next."""
    case = case_for_token(token)
    posted = request.method == "POST"
    current = disputes.open_dispute_of(db.session, case)
    if current is not None:
        return _received(case, current, refused=posted)
    form = DisputeForm()
    if case.stage is Stage.CLOSED:
        closed = _("This account is closed: there is nothing to dispute. Questions? Call us.")
        return _form_page(case, form, closed, 409 if posted else 200)
    if not form.validate_on_submit():
        return _form_page(case, form, None, 422 if posted else 200)
    if problem := _open_dispute(case, form):
        db.session.rollback()
        return _form_page(case, form, problem, 422)
    db.session.commit()
    flash(_("Thank you: we have received your dispute."), "success")
    return redirect(url_for("debtor.dispute", token=token), 303)


def _open_dispute(case: Case, form: DisputeForm) -> str | None:
    """Record the dispute, its document and the collector's e-mail; what went wrong else."""
    file = form.document.data
    try:
        opened = disputes.open_dispute(
            db.session, case, raised_by=Party.DEBTOR, reason=form.reason.data,
            actor_id=None, role=None, today=utcnow().date(),
        )  # fmt: skip
        if isinstance(file, FileStorage) and file.filename:
            _attach(opened, file)
        notifications.debtor_disputed(db.session, current_app.extensions["portal.mailer"], opened)
    except DocumentRefused:
        return _file_refused(file.filename)
    except (disputes.DisputeError, stages.StageError):
        return str(_("We could not record your dispute. Please try again, or call us."))
    return None


def _file_refused(filename: str | None) -> str:
    """Why a document was refused, in the debtor's words: the rules, not the service's."""
    message = _(
        "We cannot accept “%(name)s”. Please send a PDF, a photo or scan (PNG, JPEG or TIFF), "
        "or a Word or Excel file of up to %(size)s.",
        name=display_name(filename),
        size=human_size(_max_bytes()),
    )
    return str(message)


def _attach(dispute: Dispute, file: FileStorage) -> None:
    upload = disputes.Upload(
        filename=file.filename or "",
        stream=file.stream,
        storage=current_app.extensions["portal.storage"],
        max_bytes=_max_bytes(),
    )
    disputes.add_evidence(
        db.session, dispute, party=Party.DEBTOR, statement=EVIDENCE_STATEMENT, actor_id=None,
        upload=upload,
    )  # fmt: skip


def _form_page(case: Case, form: DisputeForm, problem: str | None, status: int) -> tuple[str, int]:
    page = render_page(
        "debtor/dispute.html", case=case, form=form, problem=problem,
        closed=case.stage is Stage.CLOSED, max_length=disputes.MAX_TEXT,
        max_size=human_size(_max_bytes()),
    )  # fmt: skip
    return page, status


def _received(case: Case, current: Dispute, *, refused: bool) -> tuple[str, int]:
    """What happens next; a second dispute sent while one is open is refused (409)."""
    page = render_page("debtor/dispute_received.html", case=case, dispute=current, refused=refused)
    return page, 409 if refused else 200
