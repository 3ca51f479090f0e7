"""Mail the portal sends when something happens that a person should know."""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.models import Case, User
from portal.services.ledger import balance
from portal.services.money import format_money


def placement_acknowledged(
    session: Session, mailer: Mailer, case: Case, placed_by: User, agency_name: str
) -> None:
    owed = balance(session, case)
    mailer.send(
        session,
        Mail(
            recipient=placed_by.email,
            subject=f"Placement received: {case.debtor.name}, {case.agency_reference}",
            body_text=(
                f"Dear {placed_by.name},\n\n"
                f"{agency_name} has received your placement of the account of "
                f"{case.debtor.name} (your reference {case.creditor_reference}).\n\n"
                f"Agency reference: {case.agency_reference}\n"
                f"Amount placed: {format_money(owed.principal, case.currency)} "
                f"in {len(case.invoices)} invoice(s)\n\n"
                "We start with a reminder to the debtor and keep every call, letter and "
                "e-mail on the case timeline in the portal, where you can follow it.\n\n"
                f"Kind regards,\n{agency_name}"
            ),
            tenant_id=case.tenant_id,
        ),
    )
