from __future__ import annotations

from flask import abort, request
from werkzeug.wrappers import Response

from portal import db
from portal.debtor import bp
from portal.debtor.access import case_for_token
from portal.extensions import limiter
from portal.models import Case, Document, DocumentStatus
from portal.services import checkouts, ledger
from portal.web.documents import send_document
from portal.web.rendering import render_page


@bp.get("/")
def start() -> str:
    return render_page("debtor/start.html")


@bp.get("/<token>")
@limiter.limit("30 per minute")
def case(token: str) -> str:
    """What the debtor owes and why, opened from the link in a letter or e-mail."""
    return case_page(case_for_token(token), token)


@bp.get("/<token>/documents/<int:document_id>")
@limiter.limit("30 per minute")
def document(token: str, document_id: int) -> Response:
    """A copy the creditor shared with the debtor (an invoice), or the debtor's receipt."""
    found = case_for_token(token)
    shared = next((d for d in shareable_documents(found) if d.id == document_id), None)
    if shared is None:
        abort(404)
    return send_document(shared, actor_id=None)


def shareable_documents(found: Case) -> list[Document]:
    return [
        d for d in found.documents if d.shareable_with_debtor and d.status is DocumentStatus.STORED
    ]


def case_page(found: Case, token: str, *, problem: str | None = None) -> str:
    """The debtor's page: the claim, what was paid, the ways to pay (``problem``: why the
    last attempt was refused)."""
    balance = ledger.balance(db.session, found)
    return render_page(
        "debtor/case.html",
        case=found,
        token=token,
        problem=problem,
        requested=request.args.get("requested"),
        balance=balance,
        options=checkouts.options(db.session, found, balance),
        payments=[e for e in found.ledger_entries if e.kind in ledger.MONEY_IN_KINDS],
        documents=shareable_documents(found),
    )
