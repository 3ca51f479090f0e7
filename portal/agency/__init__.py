"""The agency's side: the collectors' work queue, cases, and administration."""

from flask import Blueprint

from portal.models import STAFF_ROLES
from portal.web.access import require_audience

bp = Blueprint("agency", __name__, url_prefix="/agency")
require_audience(bp, STAFF_ROLES)

from portal.agency import (  # noqa: E402, F401 - registers the routes
    assignment,
    audit_log,
    bundles,
    case_work,
    checks,
    dashboard,
    debtor_data,
    documents,
    jobs,
    lawyers,
    legal,
    letter_templates,
    staff,
    statements,
    tenant_admin,
    tenant_terms,
    views,
)
