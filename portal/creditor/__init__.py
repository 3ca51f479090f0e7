"""The creditor's side: their portfolio and each case they placed."""

from flask import Blueprint

from portal.models import CREDITOR_ROLES
from portal.web.access import require_audience

bp = Blueprint("creditor", __name__, url_prefix="/creditor")
require_audience(bp, CREDITOR_ROLES)

from portal.creditor import (  # noqa: E402, F401 - registers the routes
    admin,
    api_keys,
    branding,
    bundles,
    decisions,
    documents,
    imports,
    placement,
    reports,
    statements,
    views,
)
