"""Mail the portal sends when something happens that a person should know.

Events that are a kind of notice (``NotificationKind``) go through ``notices.notify``,
so each person's choice of delivery applies; the rest are e-mailed as they are.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.models import Case, Dispute, InvoiceCheck, NotificationKind, PaymentPlan, Stage, User
from portal.services import notices
from portal.services.ledger import balance
from portal.services.money import format_money
from portal.services.promises import MAX_PRIORITY

# A dispute the debtor raises moves the case up the queue by this much (capped at
# MAX_PRIORITY, as for a broken promise): someone should read it soon.
DEBTOR_DISPUTE_PRIORITY = 20


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
                f"{_first_step(case)} and keep every call, letter and "
                "e-mail on the case timeline in the portal, where you can follow it.\n\n"
                f"Kind regards,\n{agency_name}"
            ),
            tenant_id=case.tenant_id,
        ),
    )


def debtor_disputed(session: Session, mailer: Mailer, dispute: Dispute) -> None:
    """Tell the case's collector (and the creditor's people) that the debtor disputed the
    claim, and move the case up the queue."""
    case = dispute.case
    case.priority = min(MAX_PRIORITY, case.priority + DEBTOR_DISPUTE_PRIORITY)
    documents = sum(1 for evidence in dispute.evidence if evidence.document_id is not None)
    attached = f"The debtor attached {documents} document(s).\n\n" if documents else ""
    notices.notify(
        session, mailer, kind=NotificationKind.DISPUTE_RAISED,
        recipients=notices.case_staff(session, case),
        title=f"Dispute raised by the debtor \N{EN DASH} {case.agency_reference}",
        body=(
            f"{case.debtor.name} disputed the claim of {case.tenant.display_name} "
            f"(agency reference {case.agency_reference}) on the payment page.\n\n"
            f"Their reason:\n{dispute.reason}\n\n{attached}"
            "The case is on hold until the dispute is decided; decide by "
            f"{dispute.due_on.isoformat()}."
        ),
        link=notices.agency_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip
    notices.notify(
        session, mailer, kind=NotificationKind.DISPUTE_RAISED,
        recipients=notices.recipients_for_tenant(session, case.tenant_id),
        title=f"Dispute raised by the debtor \N{EN DASH} {case.debtor.name}, "
        f"{case.creditor_reference}",
        body=(
            f"{case.debtor.name} (your reference {case.creditor_reference}, agency reference "
            f"{case.agency_reference}) disputed the claim on the payment page.\n\n"
            f"Their reason:\n{dispute.reason}\n\n"
            "The case is on hold while we look into it; we may ask you for evidence."
        ),
        link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip


def _first_step(case: Case) -> str:
    if case.stage is Stage.CHECK:
        return "We first check the invoices with the debtor, before any collection,"
    return "We start with a reminder to the debtor"


def check_disputed(session: Session, mailer: Mailer, check: InvoiceCheck) -> None:
    """Report back to the creditor's people that the debtor disputes an invoice under check."""
    case = check.case
    notices.notify(
        session, mailer, kind=NotificationKind.DISPUTE_RAISED,
        recipients=notices.recipients_for_tenant(session, case.tenant_id),
        title=f"Invoice disputed \N{EN DASH} {case.debtor.name}, {case.creditor_reference}",
        body=(
            f"When we checked the invoices of {case.debtor.name} (your reference "
            f"{case.creditor_reference}, agency reference {case.agency_reference}) "
            "with the debtor, they disputed them:\n\n"
            f"{check.dispute_reason or ''}\n\n"
            "We do not collect a disputed invoice: please look into it and tell us "
            "through the case's messages in the portal how to go on."
        ),
        link=notices.creditor_case_path(case.id), tenant_id=case.tenant_id, case_id=case.id,
    )  # fmt: skip


def plan_broken(session: Session, mailer: Mailer, plan: PaymentPlan) -> None:
    """Tell the creditor's people that a debtor's payment plan broke (the case is back
    with the collector)."""
    case = plan.case
    owed = balance(session, case)
    for user in notices.recipients_for_tenant(session, case.tenant_id):
        mailer.send(
            session,
            Mail(
                recipient=user.email,
                subject=f"Payment plan broken \N{EN DASH} {case.debtor.name}, "
                f"{case.creditor_reference}",
                body_text=(
                    f"Dear {user.name},\n\n"
                    f"{case.debtor.name} (your reference {case.creditor_reference}, agency "
                    f"reference {case.agency_reference}) missed {plan.misses_in_row} "
                    "instalments in a row, so the payment plan is broken.\n\n"
                    f"Still outstanding: {format_money(owed.outstanding, case.currency)}.\n\n"
                    "The case is back at the top of our collector's queue; you can follow "
                    "it on its timeline in the portal.\n"
                ),
                tenant_id=case.tenant_id,
            ),
        )
