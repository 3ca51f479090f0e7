"""Who is calling: the tenant API key in ``Authorization: Bearer``, checked before any view.

The key decides the tenant: the request's session sees that tenant's data and no other,
through the same tenant scope the portal's pages use. Signing in to the portal (the
session cookie) counts for nothing here.
"""

from __future__ import annotations

from flask import Response, g, request

from portal import db
from portal.api import bp
from portal.api.problems import ApiProblem
from portal.models import ApiKey
from portal.services import api_keys
from tenants.scoping import TenantScope, set_scope

# The OpenAPI document is public: it describes the API, it holds no tenant's data.
PUBLIC_ENDPOINTS = frozenset({"api.openapi_document"})


def _bearer_token() -> str | None:
    found = request.authorization
    if found is None or found.type != "bearer":
        return None
    return found.token


@bp.before_request
def authenticate() -> None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        set_scope(db.session, None)
        return
    token = _bearer_token()
    key = api_keys.authenticate(db.session, token)
    if key is None:
        db.session.rollback()
        set_scope(db.session, None)
        challenge = 'Bearer realm="api"' + (', error="invalid_token"' if token else "")
        raise ApiProblem(
            401,
            "Send a valid API key as 'Authorization: Bearer <key>'."
            if token is None
            else "This API key is not valid, or was revoked.",
            headers={"WWW-Authenticate": challenge},
        )
    set_scope(db.session, TenantScope.only(key.tenant_id))
    db.session.commit()  # its last-used time
    g.api_key = key


@bp.after_request
def _not_cached(response: Response) -> Response:
    """Answers hold a tenant's data: no cache on the way may keep them."""
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def current_key() -> ApiKey:
    key: ApiKey = g.api_key
    return key


def rate_limit_key() -> str:
    """Requests are counted per key, whichever address they come from."""
    return f"api-key:{current_key().id}"
