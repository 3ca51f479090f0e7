from __future__ import annotations

from flask import abort

from portal import db
from portal.db import utcnow
from portal.debtor import bp
from portal.extensions import limiter
from portal.models import DocumentStatus, EntryKind
from portal.services import ledger, payment_links
from portal.web.rendering import render_page
from tenants.scoping import TenantScope, set_scope, unscoped


@bp.get("/")
def start() -> str:
    return render_page("debtor/start.html")


@bp.get("/<token>")
@limiter.limit("30 per minute")
def case(token: str) -> str:
    """What the debtor owes and why, opened from the link in a letter or e-mail."""
    # The link names the case, and so the tenant; until then the debtor has none.
    with unscoped(db.session):
        found = payment_links.find_case(db.session, token, utcnow())
    if found is None:
        abort(404)
    set_scope(db.session, TenantScope.only(found.tenant_id))
    return render_page(
        "debtor/case.html",
        case=found,
        balance=ledger.balance(db.session, found),
        payments=[e for e in found.ledger_entries if e.kind is EntryKind.PAYMENT],
        documents=[
            d
            for d in found.documents
            if d.shareable_with_debtor and d.status is DocumentStatus.STORED
        ],
    )
