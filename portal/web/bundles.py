"""The lawyer-ready case bundle, one download for agency staff and creditors alike.

Staff get the whole timeline; a creditor gets the entries they can see on the case page,
so a note a collector kept from them stays kept. Everything the bundle needs from the
database is read, and the export audited and committed, before the response starts;
the body then only copies documents out of storage, so it needs no tenant scope while
it streams.
"""

from __future__ import annotations

from flask import abort, current_app, request
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import db
from portal.adapters.storage import Storage, content_disposition
from portal.db import utcnow
from portal.models import Case
from portal.services import case_bundle, letters
from portal.web.access import load_or_404


def download_bundle(case_id: int) -> Response:
    case = load_or_404(Case, case_id)
    settings = letters.configured()
    if settings is None:
        abort(503, "PDF rendering is not configured on this portal.")
    storage: Storage = current_app.extensions["portal.storage"]
    internal = bool(current_user.role.is_staff)
    bundle = case_bundle.prepare(
        db.session, case, settings.renderer, utcnow().date(), include_internal=internal
    )
    case_bundle.record_export(
        db.session,
        case,
        bundle,
        actor_id=current_user.id,
        ip_address=request.remote_addr,
        include_internal=internal,
    )
    db.session.commit()
    return Response(
        case_bundle.stream_bundle(bundle, storage),
        mimetype="application/zip",
        headers={"Content-Disposition": content_disposition(bundle.filename)},
    )
