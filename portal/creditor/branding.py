"""The creditor's own logo, for their pages."""

from __future__ import annotations

from flask import abort, current_app
from flask_login import current_user
from werkzeug.wrappers import Response

from portal.creditor import bp
from portal.models import Tenant
from portal.services import branding
from portal.web.access import load_or_404


@bp.get("/logo")
def logo() -> Response:
    """The signed-in user's tenant's logo; 404 while it has none."""
    tenant = load_or_404(Tenant, current_user.tenant_id)
    found = branding.logo(current_app.extensions["portal.storage"], tenant)
    if found is None:
        abort(404)
    return current_app.response_class(found.data, mimetype=found.content_type)
