"""Agency admins search the audit log, and download what they found as CSV (audited too)."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Role, Tenant
from portal.services import audit, audit_search
from portal.services.spreadsheet import csv_lines
from portal.web.access import roles_required, stream_in_scope
from portal.web.downloads import csv_attachment
from portal.web.rendering import render_page


def _filter() -> tuple[audit_search.AuditFilter, list[str], list[Tenant]]:
    clients = audit_search.clients(db.session)
    found, problems = audit_search.read_filter(request.args, {client.id for client in clients})
    return found, problems, clients


@bp.get("/audit")
@roles_required(Role.AGENCY_ADMIN)
def audit_log() -> str:
    found, problems, clients = _filter()
    results = audit_search.search(db.session, found)
    query: dict[str, Any] = found.query_values()
    return render_page(
        "agency/audit.html",
        filters=found,
        problems=problems,
        clients=clients,
        results=results,
        csv_link=url_for("agency.audit_log_csv", **query),
        previous_link=url_for("agency.audit_log", **query, page=found.page - 1),
        next_link=url_for("agency.audit_log", **query, page=found.page + 1),
    )


@bp.get("/audit.csv")
@roles_required(Role.AGENCY_ADMIN)
def audit_log_csv() -> Response:
    found, _problems, _clients = _filter()
    audit.record(
        db.session,
        "audit.exported",
        actor_id=current_user.id,
        ip_address=request.remote_addr,
        filter=found.query_values(),
    )
    db.session.commit()
    rows = audit_search.csv_rows(db.session, found)
    filename = f"audit-log-{utcnow():%Y-%m-%d}.csv"
    return csv_attachment(filename, stream_in_scope(csv_lines(audit_search.CSV_HEADER, rows)))
