"""The daily run that charges due instalments to the debtors' saved cards.

Each instalment is charged in three steps, each its own transaction: claim the attempt
(mark it ``PROCESSING`` with its attempt number, commit), charge the card with the
attempt's idempotency key, record the result (commit). A run that stops between the
charge and the record leaves the instalment ``PROCESSING``; the next run charges it again
with the same key, and the provider answers with the charge it already made, so the
debtor is never charged twice. The provider's webhook for the charge may record it
first; the ledger's key for the payment makes that harmless.

Instalments of a tenant whose collection is paused are not charged: they wait, and the
first run after the pause charges what fell due meanwhile. The run counts them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import Mailer
from portal.adapters.payments import ChargeRequest, ChargeResult, PaymentProvider
from portal.models import Instalment, PlanStatus, Tenant
from portal.services import letters, notifications, payment_plans
from tenants.scoping import unscoped

BATCH_SIZE = 200


@dataclass
class ChargeReport:
    charged: int = 0
    paid: int = 0
    failed: int = 0
    # The payments booked: each gets its receipt (rendered by a job after the run).
    payment_entry_ids: list[int] = field(default_factory=list)
    paused: int = 0  # due, but left alone: their tenant's collection is paused

    def summary(self) -> str:
        text = f"{self.charged} instalment(s) charged: {self.paid} paid, {self.failed} failed"
        if self.paused:
            text += f"; {self.paused} left alone: their client's collection is paused"
        return text


def run_due(
    session: Session, provider: PaymentProvider, mailer: Mailer, today: date
) -> ChargeReport:
    """Charge every instalment due today (or due for a retry); commits as it goes."""
    run = _Run(session, provider, mailer, today, ChargeReport())
    # The agency's own run, over every tenant's plans.
    with unscoped(session):
        last_id = 0
        while ids := payment_plans.due_instalment_ids(session, today, last_id, BATCH_SIZE):
            paused = _of_paused_tenants(session, ids)
            run.report.paused += len(paused)
            for instalment_id in ids:
                if instalment_id not in paused:
                    _charge_one(run, instalment_id)
            session.expunge_all()
            last_id = ids[-1]
    return run.report


def _of_paused_tenants(session: Session, ids: list[int]) -> set[int]:
    statement = (
        select(Instalment.id)
        .join(Tenant, Tenant.id == Instalment.tenant_id)
        .where(Instalment.id.in_(ids), Tenant.collection_paused.is_(True))
    )
    return set(session.scalars(statement))


@dataclass(frozen=True)
class _Run:
    session: Session
    provider: PaymentProvider
    mailer: Mailer
    today: date
    report: ChargeReport


def _charge_one(run: _Run, instalment_id: int) -> None:
    session, provider, today, report = run.session, run.provider, run.today, run.report
    claimed = payment_plans.claim_attempt(session, instalment_id, today)
    session.commit()
    if claimed is None:
        return
    instalment, key = claimed
    result = provider.charge_saved_card(_request(instalment, key))
    report.charged += 1
    instalment = session.get_one(Instalment, instalment_id)
    if result.succeeded:
        entry = payment_plans.charge_paid(
            session, instalment, payment_ref=result.payment_ref, provider=provider.name, today=today
        )
        report.paid += 1
        report.payment_entry_ids.append(entry.id)
    else:
        _failed(session, run.mailer, instalment, result, today)
        report.failed += 1
    session.commit()


def _request(instalment: Instalment, key: str) -> ChargeRequest:
    plan, case = instalment.plan, instalment.plan.case
    return ChargeRequest(
        amount_minor=instalment.amount_minor,
        currency=case.currency,
        customer_ref=plan.customer_ref or "",
        payment_method_ref=plan.payment_method_ref or "",
        idempotency_key=key,
        description=f"{case.tenant.display_name}: instalment {instalment.number} of "
        f"{plan.instalment_count}, reference {case.agency_reference}",
        metadata={"instalment_id": str(instalment.id), "case": case.agency_reference},
    )


def _failed(
    session: Session, mailer: Mailer, instalment: Instalment, result: ChargeResult, today: date
) -> None:
    """Record the failure; while it will be retried, ask the debtor to pay or change card."""
    retried = payment_plans.charge_failed(session, instalment, result.failure or "declined", today)
    case = instalment.plan.case
    if instalment.plan.status is PlanStatus.BROKEN:
        notifications.plan_broken(session, mailer, instalment.plan)
    if not retried or letters.configured() is None:
        return
    # Like every e-mail to the debtor: not to one who asked for no e-mails or no contact.
    letters.email(
        session, mailer, case, "instalment_failed", today=today,
        extra={"instalment": {"number": instalment.number, "amount_minor": instalment.amount_minor,
                              "retry_on": instalment.next_attempt_on}},
    )  # fmt: skip
