"""A remittance statement as a file to download, the same for the creditor and the agency
(each blueprint loads the statement through its own access rules first)."""

from __future__ import annotations

from flask import Response, abort, request
from flask_login import current_user

from portal import db
from portal.adapters.letter_rendering import JinjaLetterRenderer
from portal.adapters.storage import content_disposition
from portal.models import RemittanceStatement
from portal.services import audit, letters, remittance

PDF_RENDERER = JinjaLetterRenderer(remittance.PDF_TEMPLATES)


def _audit_download(statement: RemittanceStatement, file_format: str) -> None:
    audit.record(db.session, "statement.exported", actor_id=current_user.id,
                 tenant_id=statement.tenant_id, subject=statement,
                 ip_address=request.remote_addr, format=file_format)  # fmt: skip
    db.session.commit()


def pdf_response(statement: RemittanceStatement) -> Response:
    settings = letters.configured()
    if settings is None:
        abort(503, "PDF rendering is not configured on this portal.")
    pdf = remittance.statement_pdf(db.session, statement, PDF_RENDERER, settings.agency_name)
    _audit_download(statement, "pdf")
    disposition = content_disposition(remittance.filename(statement, "pdf"))
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": disposition})


def csv_response(statement: RemittanceStatement) -> Response:
    _audit_download(statement, "csv")
    disposition = content_disposition(remittance.filename(statement, "csv"))
    return Response(
        remittance.statement_csv(db.session, statement),
        mimetype="text/csv",
        headers={"Content-Disposition": disposition},
    )
