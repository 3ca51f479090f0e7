"""Background jobs: each opens its own transaction (the services they call only flush).

Jobs take plain arguments (ids, ISO dates) so a queue can carry them; they run inside
the app's context, where the adapters are.
"""

from __future__ import annotations

from datetime import date

from flask import current_app

from portal import db
from portal.db import utcnow
from portal.models import Case, LedgerEntry
from portal.services import letters, password_resets, receipts
from tenants.scoping import unscoped


def file_letter(case_id: int, key: str, day: str) -> None:
    """Render a letter to PDF and keep it on its case (once, however often run)."""
    # A job of the agency's own, for whichever tenant the case belongs to.
    with unscoped(db.session):
        case = db.session.get(Case, case_id)
        if case is not None:
            letters.file_letter(db.session, case, key, date.fromisoformat(day))
        db.session.commit()


def issue_receipt(ledger_entry_id: int) -> None:
    """The receipt for a payment: a PDF the debtor sees, and an e-mail (once)."""
    with unscoped(db.session):
        entry = db.session.get(LedgerEntry, ledger_entry_id)
        if entry is not None:
            receipts.issue(db.session, entry, current_app.extensions["portal.mailer"])
        db.session.commit()


def email_letter(case_id: int, key: str, day: str, comment: str = "") -> None:
    """E-mail the debtor the ``key`` letter (a plan approved or declined, with the comment)."""
    with unscoped(db.session):
        case = db.session.get(Case, case_id)
        if case is not None:
            letters.email(
                db.session, current_app.extensions["portal.mailer"], case, key,
                today=date.fromisoformat(day), extra={"comment": comment},
            )  # fmt: skip
        db.session.commit()


def send_password_reset(email: str, ip_address: str | None) -> None:
    """E-mail a link to choose a new password if the address has an account that may sign
    in. Asked for on the sign-in page, which answers the same at once either way: whether
    an address has an account shows neither in the page nor in how long it takes, nor
    when the mail server is down (the job is tried again later)."""
    settings = current_app.extensions["portal.settings"]
    with unscoped(db.session):
        password_resets.request_reset(
            db.session, current_app.extensions["portal.mailer"], email,
            base_url=settings.public_base_url, now=utcnow(), ip_address=ip_address,
        )  # fmt: skip
        db.session.commit()
