"""Finding the debtor's case from the token in their payment link."""

from __future__ import annotations

from flask import abort, g

from portal import db
from portal.db import utcnow
from portal.models import Case
from portal.services import payment_links
from portal.services.letters import language_for
from tenants.scoping import TenantScope, set_scope, unscoped


def case_for_token(token: str) -> Case:
    """The case a current link opens, with the request scoped to its tenant; 404 else
    (an expired, revoked or made-up token all look the same)."""
    # The link names the case, and so the tenant; until then the debtor has none.
    with unscoped(db.session):
        found = payment_links.find_case(db.session, token, utcnow())
    if found is None:
        abort(404)
    set_scope(db.session, TenantScope.only(found.tenant_id))
    g.case_language = language_for(found.debtor.language, found.debtor.country)
    return found
