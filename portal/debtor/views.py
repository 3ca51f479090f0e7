from __future__ import annotations

from portal import db
from portal.debtor import bp
from portal.debtor.access import case_for_token
from portal.extensions import limiter
from portal.models import DocumentStatus, EntryKind
from portal.services import ledger
from portal.web.rendering import render_page


@bp.get("/")
def start() -> str:
    return render_page("debtor/start.html")


@bp.get("/<token>")
@limiter.limit("30 per minute")
def case(token: str) -> str:
    """What the debtor owes and why, opened from the link in a letter or e-mail."""
    found = case_for_token(token)
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
