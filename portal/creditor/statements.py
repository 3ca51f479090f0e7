"""The creditor's remittance statements: what was collected for them, what the agency
kept, the net paid over; each as a page, a PDF and a CSV (made from the issued rows)."""

from __future__ import annotations

from flask import Response, abort, request
from flask_login import current_user

from portal import db
from portal.adapters.letter_rendering import JinjaLetterRenderer
from portal.adapters.storage import content_disposition
from portal.creditor import bp
from portal.db import utcnow
from portal.models import RemittanceStatement
from portal.services import letters, remittance
from portal.web.access import load_or_404
from portal.web.rendering import render_page

PDF_RENDERER = JinjaLetterRenderer(remittance.PDF_TEMPLATES)


@bp.get("/statements")
def statements() -> str:
    tenant = current_user.tenant
    today = utcnow().date()
    return render_page(
        "creditor/statements.html",
        statements=remittance.listing(db.session),
        open_periods=[
            remittance.open_period(db.session, tenant, currency, today)
            for currency in remittance.currencies_of(db.session, tenant)
        ],
        net_label=remittance.net_label,
    )


@bp.get("/statements/<int:statement_id>")
def statement(statement_id: int) -> str:
    found = load_or_404(RemittanceStatement, statement_id)
    return render_page(
        "creditor/statement.html",
        statement=found,
        lines=remittance.lines_page(db.session, found, request.args.get("page", 1, type=int)),
        net_label=remittance.net_label,
    )


@bp.get("/statements/<int:statement_id>.pdf")
def statement_pdf(statement_id: int) -> Response:
    found = load_or_404(RemittanceStatement, statement_id)
    settings = letters.configured()
    if settings is None:
        abort(503, "PDF rendering is not configured on this portal.")
    pdf = remittance.statement_pdf(db.session, found, PDF_RENDERER, settings.agency_name)
    disposition = content_disposition(remittance.filename(found, "pdf"))
    return Response(pdf, mimetype="application/pdf", headers={"Content-Disposition": disposition})


@bp.get("/statements/<int:statement_id>.csv")
def statement_csv(statement_id: int) -> Response:
    found = load_or_404(RemittanceStatement, statement_id)
    disposition = content_disposition(remittance.filename(found, "csv"))
    return Response(
        remittance.statement_csv(db.session, found),
        mimetype="text/csv",
        headers={"Content-Disposition": disposition},
    )
