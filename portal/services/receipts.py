"""A receipt for every payment a debtor makes online: a PDF on the case, and an e-mail.

The PDF is shared with the debtor (it shows on their payment page); the e-mail goes to
the debtor's address when there is one. Issued once per payment, however often asked.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.models import Document, LedgerEntry
from portal.services import ledger, letters


def filename_for(entry: LedgerEntry) -> str:
    return f"receipt-{entry.case.agency_reference}-{entry.id}.pdf"


def issue(session: Session, entry: LedgerEntry, mailer: Mailer) -> Document | None:
    """Keep the receipt for the payment ``entry`` on its case and e-mail it (once)."""
    case = entry.case
    name = filename_for(entry)
    # Asked in the database, not the case's loaded documents: a receipt issued earlier
    # in this session is not in that list, and would be issued (and e-mailed) again.
    issued = select(Document.id).where(Document.case_id == case.id, Document.filename == name)
    if session.scalar(issued) is not None:
        return None
    paid_on = entry.value_date
    letter = letters.compose(
        session, case, "receipt", ledger.balance(session, case), today=paid_on,
        extra={"payment": {"amount_minor": -entry.amount_minor, "paid_on": paid_on}},
    )  # fmt: skip
    document = letters.store_pdf(
        session, case, letter, today=paid_on, filename=name, shareable_with_debtor=True
    )
    if case.debtor.email:
        mailer.send(
            session, Mail(case.debtor.email, letter.subject, letter.body, tenant_id=case.tenant_id)
        )
    return document
