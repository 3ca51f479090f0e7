"""The creditor's remittance statements: what was collected for them, what the agency
kept, the net paid over; each as a page, a PDF and a CSV (made from the issued rows)."""

from __future__ import annotations

from flask import Response, request
from flask_login import current_user

from portal import db
from portal.creditor import bp
from portal.db import utcnow
from portal.models import RemittanceStatement
from portal.services import remittance
from portal.web import statement_files
from portal.web.access import load_or_404
from portal.web.rendering import render_page


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
    return statement_files.pdf_response(load_or_404(RemittanceStatement, statement_id))


@bp.get("/statements/<int:statement_id>.csv")
def statement_csv(statement_id: int) -> Response:
    return statement_files.csv_response(load_or_404(RemittanceStatement, statement_id))
