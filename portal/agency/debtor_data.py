"""Agency admins download what the portal holds about a case's debtor, as JSON (audited)."""

from __future__ import annotations

import json

from flask import Response, request
from flask_login import current_user

from portal import db
from portal.adapters.storage import content_disposition
from portal.agency import bp
from portal.models import Case, Role
from portal.services import audit, personal_data
from portal.web.access import load_or_404, roles_required


@bp.get("/cases/<int:case_id>/debtor-data.json")
@roles_required(Role.AGENCY_ADMIN)
def debtor_data(case_id: int) -> Response:
    case = load_or_404(Case, case_id)
    exported = personal_data.export(db.session, case.debtor)
    audit.record(
        db.session,
        "debtor.data_exported",
        actor_id=current_user.id,
        tenant_id=case.tenant_id,
        subject=case.debtor,
        ip_address=request.remote_addr,
        case_id=case.id,
    )
    db.session.commit()
    filename = f"debtor-{case.debtor_id}-{case.agency_reference}.json"
    return Response(
        json.dumps(exported, ensure_ascii=False, indent=2),
        mimetype="application/json",
        headers={"Content-Disposition": content_disposition(filename)},
    )
