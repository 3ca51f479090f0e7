"""Posting a case message from the form both audiences share."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

from portal import db
from portal.models import Case
from portal.services import messages
from portal.services.documents import DocumentRefused
from portal.web.forms import MessageForm


def send_from_form(case: Case, form: MessageForm) -> bool:
    """Post the message (with its optional file) and commit; False with the form's errors."""
    if not form.validate_on_submit():
        return False
    settings = current_app.extensions["portal.settings"]
    upload = request.files.get("attachment")
    attachment = None
    if upload is not None and upload.filename:
        attachment = messages.Attachment(
            filename=upload.filename,
            stream=upload.stream,
            storage=current_app.extensions["portal.storage"],
            max_bytes=settings.max_document_bytes,
        )
    try:
        messages.post(
            db.session,
            current_app.extensions["portal.mailer"],
            case,
            author=current_user,
            body=form.body.data,
            requests_information=current_user.is_staff and bool(form.requests_information.data),
            agency_inbox=settings.mail_sender,
            attachment=attachment,
        )
    except (messages.MessageError, DocumentRefused) as error:
        db.session.rollback()
        form.body.errors.append(str(error))
        return False
    db.session.commit()
    return True
