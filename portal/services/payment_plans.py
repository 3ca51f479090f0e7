"""Instalment plans: the debtor's choice, the tenant's policy, and the plan's life.

The debtor picks how many instalments, how often and when the regular ones start; the
first instalment (a down payment, or an equal share) is paid at once in a checkout that
saves the card, the others are charged off-session on their due dates. A choice outside
the tenant's policy is not refused: it waits for a collector's approval. A failed
instalment is retried on the tenant's retry days; one still unpaid after them is missed:
the first miss of a plan moves that instalment to the end, and after
``tenant.plan_max_misses`` misses in a row the plan is broken and the case goes back to
the collector's queue with high priority.

While a plan is active the dunning run leaves the case alone (no letters, no interest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    Frequency,
    Instalment,
    InstalmentStatus,
    LedgerEntry,
    PaymentPlan,
    PlanStatus,
    Stage,
)
from portal.services import ledger, payments, promises, rollups
from portal.services.money import format_money
from portal.services.timeline import log_activity

MIN_INSTALMENTS = 2
MAX_INSTALMENTS = 60  # beyond this a plan is not a plan, whatever a collector approves
LATEST_START_DAYS = 31  # regular instalments start within a month, else a collector decides
OPEN_STATUSES = (PlanStatus.AWAITING_APPROVAL, PlanStatus.AWAITING_FIRST_PAYMENT, PlanStatus.ACTIVE)
UNPAID = (InstalmentStatus.SCHEDULED, InstalmentStatus.FAILED, InstalmentStatus.PROCESSING)
MAX_COMMENT = 1000


class PlanError(ValueError):
    pass


@dataclass(frozen=True)
class PlanChoice:
    instalments: int
    frequency: Frequency
    start_on: date  # the due date of the second instalment (the first is paid today)
    down_payment_minor: int = 0  # 0: the first instalment is an equal share


@dataclass(frozen=True)
class ScheduledPayment:
    number: int
    due_on: date
    amount_minor: int


def due_date(start_on: date, frequency: Frequency, steps: int) -> date:
    if frequency is Frequency.MONTHLY:
        return start_on + relativedelta(months=steps)
    return start_on + timedelta(weeks=steps * (1 if frequency is Frequency.WEEKLY else 2))


def schedule(total_minor: int, choice: PlanChoice, today: date) -> list[ScheduledPayment]:
    """The payments of a plan: the first today, the rest from ``start_on``. Equal shares;
    the cents that do not divide go on the last instalment, so the sum is the total."""
    count = choice.instalments
    first = choice.down_payment_minor or total_minor // count
    rest_count = count - 1
    rest = total_minor - first
    share = rest // rest_count
    amounts = [first, *([share] * rest_count)]
    amounts[-1] += rest - share * rest_count
    return [
        ScheduledPayment(
            number,
            today if number == 1 else due_date(choice.start_on, choice.frequency, number - 2),
            amount,
        )
        for number, amount in enumerate(amounts, start=1)
    ]


def check_choice(total_minor: int, choice: PlanChoice, today: date) -> None:
    """Refuse what no approval could make a plan (raises ``PlanError``)."""
    if total_minor <= 0:
        raise PlanError("Nothing is outstanding on this account.")
    if not MIN_INSTALMENTS <= choice.instalments <= MAX_INSTALMENTS:
        raise PlanError(f"Choose between {MIN_INSTALMENTS} and {MAX_INSTALMENTS} instalments.")
    if choice.start_on <= today:
        raise PlanError("The instalments after the first start on a day after today.")
    if not 0 <= choice.down_payment_minor < total_minor:
        raise PlanError("The first payment must be less than the amount owed.")
    # Every instalment takes at least one minor unit: without a down payment the first is
    # an equal share too (``total // instalments``), so the total must cover all of them.
    shared = choice.instalments - 1 if choice.down_payment_minor else choice.instalments
    if total_minor - choice.down_payment_minor < shared:
        raise PlanError("The amount is too small to split into so many instalments.")


@dataclass(frozen=True)
class PolicyBreach:
    """One way a choice goes beyond the policy: ``kind`` and the policy's ``limit`` (a
    count, a frequency, an amount already formatted, a number of days)."""

    kind: str  # instalments | frequency | first_payment | instalment_size | start
    chosen: str
    limit: str

    @property
    def words(self) -> str:
        return {
            "instalments": f"{self.chosen} instalments (the policy allows {self.limit})",
            "frequency": f"{self.chosen} instalments are not offered",
            "first_payment": f"a first payment under {self.limit}",
            "instalment_size": f"instalments under {self.limit}",
            "start": f"a start more than {self.limit} days away",
        }[self.kind]


def policy_breaches(
    case: Case, total_minor: int, choice: PlanChoice, today: date
) -> list[PolicyBreach]:
    """Where the choice goes beyond the tenant's policy (empty: within it)."""
    tenant = case.tenant
    found = []
    if choice.instalments > tenant.plan_max_instalments:
        found.append(
            PolicyBreach("instalments", str(choice.instalments), str(tenant.plan_max_instalments))
        )
    if choice.frequency.value not in tenant.plan_frequencies:
        found.append(PolicyBreach("frequency", choice.frequency.value, ""))
    payments_due = schedule(total_minor, choice, today)
    minimum_first = -(-total_minor * tenant.plan_min_down_payment_bp // 10_000)
    if payments_due[0].amount_minor < minimum_first:
        found.append(PolicyBreach("first_payment", "", format_money(minimum_first, case.currency)))
    smallest = min(p.amount_minor for p in payments_due)
    if smallest < min(tenant.plan_min_instalment_minor, total_minor):
        minimum = format_money(tenant.plan_min_instalment_minor, case.currency)
        found.append(PolicyBreach("instalment_size", "", minimum))
    if choice.start_on > today + timedelta(days=LATEST_START_DAYS):
        found.append(PolicyBreach("start", "", str(LATEST_START_DAYS)))
    return found


def policy_exceptions(case: Case, total_minor: int, choice: PlanChoice, today: date) -> list[str]:
    """Where the choice goes beyond the tenant's policy, in words for the collector."""
    return [breach.words for breach in policy_breaches(case, total_minor, choice, today)]


def open_plan(session: Session, case: Case) -> PaymentPlan | None:
    statement = select(PaymentPlan).where(
        PaymentPlan.case_id == case.id, PaymentPlan.status.in_(OPEN_STATUSES)
    )
    return session.scalars(statement.order_by(PaymentPlan.id.desc())).first()


def plans_of(session: Session, case: Case) -> list[PaymentPlan]:
    statement = select(PaymentPlan).where(PaymentPlan.case_id == case.id)
    return list(session.scalars(statement.order_by(PaymentPlan.id.desc())))


def propose(session: Session, case: Case, choice: PlanChoice, today: date) -> PaymentPlan:
    """The debtor's plan for everything outstanding: ready for its first payment, or
    waiting for a collector when it goes beyond the policy."""
    ledger.lock_case(session, case)
    if case.stage is Stage.CLOSED:
        raise PlanError("This account is closed.")
    total = ledger.balance(session, case).outstanding
    check_choice(total, choice, today)
    if (current := open_plan(session, case)) is not None:
        if current.status is not PlanStatus.AWAITING_FIRST_PAYMENT:
            raise PlanError("This account already has a payment plan.")
        _end(session, current, PlanStatus.CANCELLED, "Replaced by a new choice")
    exceptions = policy_exceptions(case, total, choice, today)
    plan = PaymentPlan(
        tenant_id=case.tenant_id, case_id=case.id,
        status=PlanStatus.AWAITING_APPROVAL if exceptions else PlanStatus.AWAITING_FIRST_PAYMENT,
        frequency=choice.frequency, total_minor=total,
        down_payment_minor=choice.down_payment_minor, instalment_count=choice.instalments,
        start_on=choice.start_on, policy_exceptions=exceptions,
    )  # fmt: skip
    session.add(plan)
    session.flush()
    for payment in schedule(total, choice, today):
        session.add(_instalment(plan, payment.number, payment.due_on, payment.amount_minor))
    session.flush()
    amount = format_money(total, case.currency)
    words = f"{choice.instalments} {choice.frequency.value} instalments of {amount}"
    if exceptions:
        case.priority = min(promises.MAX_PRIORITY, case.priority + promises.BROKEN_PROMISE_PRIORITY)
        case.next_action_on = today
        log_activity(session, case, ActivityKind.NOTE, f"Debtor asked for a payment plan: {words}",
                     outcome="Needs a collector's approval",
                     body="Beyond the policy: " + "; ".join(exceptions),
                     plan_id=plan.id)  # fmt: skip
    else:
        log_activity(session, case, ActivityKind.NOTE, f"Debtor chose a payment plan: {words}",
                     outcome="Awaiting the first payment", plan_id=plan.id)  # fmt: skip
    return plan


def _instalment(plan: PaymentPlan, number: int, due_on: date, amount_minor: int) -> Instalment:
    return Instalment(
        tenant_id=plan.tenant_id, plan_id=plan.id, case_id=plan.case_id, number=number,
        due_on=due_on, amount_minor=amount_minor, status=InstalmentStatus.SCHEDULED,
        next_attempt_on=due_on,
    )  # fmt: skip


def decide(
    session: Session, plan: PaymentPlan, *, approve: bool, comment: str, actor_id: int
) -> None:
    """A collector approves or declines a plan beyond the policy."""
    text = comment.strip()
    if plan.status is not PlanStatus.AWAITING_APPROVAL:
        raise PlanError("This plan is not waiting for approval.")
    if not approve and not text:
        raise PlanError("Say why the plan is declined; the debtor reads it.")
    if len(text) > MAX_COMMENT:
        raise PlanError(f"At most {MAX_COMMENT} characters.")
    plan.decided_by_id, plan.decision_comment = actor_id, text or None
    if approve:
        plan.status = PlanStatus.AWAITING_FIRST_PAYMENT
    else:
        _end(session, plan, PlanStatus.DECLINED, text)
    verb = "approved" if approve else "declined"
    log_activity(session, plan.case, ActivityKind.NOTE, f"Payment plan {verb}", actor_id=actor_id,
                 outcome=verb.capitalize(), body=text or None, plan_id=plan.id)  # fmt: skip
    session.flush()


def unpaid(plan: PaymentPlan) -> list[Instalment]:
    return [i for i in plan.instalments if i.status in UNPAID]


def next_unpaid(plan: PaymentPlan) -> Instalment | None:
    return next(iter(unpaid(plan)), None)


def first_payment_made(
    session: Session, plan: PaymentPlan, *, customer_ref: str | None, payment_method_ref: str | None
) -> None:
    """The first instalment is paid and the card saved: the plan runs."""
    if plan.status is not PlanStatus.AWAITING_FIRST_PAYMENT:
        return
    plan.customer_ref, plan.payment_method_ref = customer_ref, payment_method_ref
    plan.status = PlanStatus.ACTIVE
    rollups.plan_moved(session, plan, PlanStatus.AWAITING_FIRST_PAYMENT)
    first = min(plan.instalments, key=lambda i: i.number)
    instalment_paid(session, first)
    log_activity(session, plan.case, ActivityKind.NOTE,
                 "Payment plan started: first instalment paid",
                 outcome="Active", plan_id=plan.id)  # fmt: skip


def instalment_paid(session: Session, instalment: Instalment) -> None:
    """Mark the instalment paid; the plan is completed with its last one."""
    if instalment.status is InstalmentStatus.PAID:
        return
    instalment.status, instalment.paid_at = InstalmentStatus.PAID, utcnow()
    instalment.next_attempt_on = None
    plan = instalment.plan
    plan.misses_in_row = 0
    if plan.status is PlanStatus.ACTIVE and not unpaid(plan):
        _end(session, plan, PlanStatus.COMPLETED, "Every instalment paid")
    session.flush()


def rest_paid(session: Session, plan: PaymentPlan) -> None:
    """The debtor paid off everything left on the plan at once."""
    for instalment in unpaid(plan):
        instalment_paid(session, instalment)


def charge_paid(
    session: Session, instalment: Instalment, *, payment_ref: str, provider: str, today: date
) -> LedgerEntry:
    """An off-session charge of the instalment went through (from the job or a webhook);
    returns the payment booked."""
    _read_under_lock(session, instalment)
    case = instalment.plan.case
    paid = payments.record_payment(
        session, case, amount_minor=instalment.amount_minor,
        event_key=payment_event_key(provider, payment_ref), paid_on=today,
        description=f"Instalment {instalment.number} of {instalment.plan.instalment_count}",
    )  # fmt: skip
    instalment_paid(session, instalment)
    end_with_case(session, case)
    return paid.entry


def _read_under_lock(session: Session, instalment: Instalment) -> None:
    """Lock the case, then read the instalment, its plan and the case again: the charge
    run's objects date from its claim, and the webhook may have recorded the charge since
    (in another session). Money and plan change one at a time per case from here on."""
    ledger.lock_case(session, instalment.plan.case)
    session.refresh(instalment)
    session.refresh(instalment.plan.case)
    session.expire(instalment.plan)  # with its instalments, read again when next used


def payment_event_key(provider: str, payment_ref: str) -> str:
    """The ledger's key for a provider's payment: whoever reports it first books it."""
    return f"payment:{provider}:{payment_ref}"


def charge_failed(session: Session, instalment: Instalment, failure: str, today: date) -> bool:
    """Record a failed charge; returns True when it will be retried (the debtor is asked
    to pay or update the card), False when the instalment is missed.

    Both the charge run and the provider's webhook report a failed charge: only the first
    report of an attempt (the instalment still ``PROCESSING``) counts, so one failure is
    never retried, moved or counted as a miss twice."""
    _read_under_lock(session, instalment)
    if instalment.status is InstalmentStatus.FAILED:
        return True  # recorded already; retried on ``next_attempt_on``
    if instalment.status is not InstalmentStatus.PROCESSING:
        return False
    instalment.last_failure = failure[:300]
    retries = sorted(int(days) for days in instalment.plan.case.tenant.plan_retry_days)
    later = [
        instalment.due_on + timedelta(days=d)
        for d in retries
        if instalment.due_on + timedelta(days=d) > today
    ]
    case = instalment.plan.case
    if later:
        instalment.status, instalment.next_attempt_on = InstalmentStatus.FAILED, later[0]
        log_activity(session, case, ActivityKind.PAYMENT,
                     f"Instalment {instalment.number} failed: {failure}"[:300],
                     outcome=f"Retried on {later[0].isoformat()}",
                     plan_id=instalment.plan_id)  # fmt: skip
        session.flush()
        return True
    _missed(session, instalment, today)
    return False


def _missed(session: Session, instalment: Instalment, today: date) -> None:
    plan, case = instalment.plan, instalment.plan.case
    plan.misses_in_row += 1
    instalment.next_attempt_on = None
    if plan.misses_in_row >= case.tenant.plan_max_misses:
        instalment.status = InstalmentStatus.MISSED
        break_plan(session, plan, today, f"{plan.misses_in_row} instalments missed in a row")
        return
    if not plan.moved_an_instalment:
        instalment.status = InstalmentStatus.MOVED
        plan.moved_an_instalment = True
        last = max(plan.instalments, key=lambda i: i.due_on)
        number = max(i.number for i in plan.instalments) + 1
        moved = _instalment(
            plan, number, due_date(last.due_on, plan.frequency, 1), instalment.amount_minor
        )
        # Into the loaded collection, not only the session: the charge run pays the plan's
        # next instalment in the same session, and a plan that did not list the moved one
        # would count as completed (and a broken one would leave it scheduled).
        plan.instalments.append(moved)
        outcome = f"Moved to the end of the plan ({moved.due_on.isoformat()})"
    else:
        instalment.status = InstalmentStatus.MISSED
        outcome = "Missed"
    log_activity(session, case, ActivityKind.PAYMENT, f"Instalment {instalment.number} missed",
                 outcome=outcome, plan_id=plan.id)  # fmt: skip
    session.flush()


def break_plan(session: Session, plan: PaymentPlan, today: date, why: str) -> None:
    """The plan is over unpaid: the collector takes the case up again, the creditor sees it."""
    for instalment in unpaid(plan):
        instalment.status, instalment.next_attempt_on = InstalmentStatus.CANCELLED, None
    _end(session, plan, PlanStatus.BROKEN, why)
    case = plan.case
    case.priority = promises.MAX_PRIORITY
    case.next_action_on = today
    log_activity(session, case, ActivityKind.NOTE, "Payment plan broken", outcome="Broken",
                 body=why, plan_id=plan.id)  # fmt: skip
    session.flush()


def _end(session: Session, plan: PaymentPlan, status: PlanStatus, why: str) -> None:
    previous, plan.status, plan.ended_at = plan.status, status, utcnow()
    rollups.plan_moved(session, plan, previous)
    if status is not PlanStatus.COMPLETED:
        for instalment in unpaid(plan):
            instalment.status, instalment.next_attempt_on = InstalmentStatus.CANCELLED, None
    if status is PlanStatus.COMPLETED:
        log_activity(session, plan.case, ActivityKind.NOTE, "Payment plan completed",
                     outcome="Completed", body=why, plan_id=plan.id)  # fmt: skip
    session.flush()


def end_with_case(session: Session, case: Case) -> None:
    """A closed case (paid in full or settled outside the plan, or closed by hand) takes
    no more instalments: its open plan is cancelled, so its card is not charged again."""
    if case.stage is not Stage.CLOSED or (plan := open_plan(session, case)) is None:
        return
    _end(session, plan, PlanStatus.CANCELLED, "The case is closed")
    log_activity(session, case, ActivityKind.NOTE, "Payment plan cancelled: the case is closed",
                 outcome="Cancelled", plan_id=plan.id)  # fmt: skip
    session.flush()


def active_plan_case_ids(session: Session, case_ids: list[int]) -> set[int]:
    """Which of these cases have a plan running (the dunning run leaves them alone)."""
    statement = select(PaymentPlan.case_id).where(
        PaymentPlan.case_id.in_(case_ids), PaymentPlan.status == PlanStatus.ACTIVE
    )
    return set(session.scalars(statement))


def due_instalment_ids(session: Session, today: date, after: int, limit: int) -> list[int]:
    """Instalments of running plans to charge today: due or due for a retry, and any
    left ``PROCESSING`` by a run that stopped half-way (charged again with the same key)."""
    statement = (
        select(Instalment.id)
        .join(PaymentPlan, PaymentPlan.id == Instalment.plan_id)
        .where(
            PaymentPlan.status == PlanStatus.ACTIVE,
            Instalment.id > after,
            (
                Instalment.status.in_((InstalmentStatus.SCHEDULED, InstalmentStatus.FAILED))
                & (Instalment.next_attempt_on <= today)
            )
            | (Instalment.status == InstalmentStatus.PROCESSING),
        )
        .order_by(Instalment.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def claim_attempt(
    session: Session, instalment_id: int, today: date
) -> tuple[Instalment, str] | None:
    """Lock the instalment and mark the attempt about to be made; returns it with the
    idempotency key of the charge, or None when it is no longer due. The caller commits
    before charging, so a run that stops after charging retries with the same key."""
    instalment = session.scalar(
        select(Instalment).where(Instalment.id == instalment_id).with_for_update()
    )
    if instalment is None or instalment.plan.status is not PlanStatus.ACTIVE:
        return None
    if instalment.plan.case.stage is Stage.CLOSED:  # closed since the last run
        end_with_case(session, instalment.plan.case)
        return None
    if instalment.status is not InstalmentStatus.PROCESSING:
        if instalment.status not in UNPAID or (instalment.next_attempt_on or today) > today:
            return None
        instalment.attempts += 1
        instalment.status = InstalmentStatus.PROCESSING
    session.flush()
    return instalment, f"instalment-{instalment.id}-attempt-{instalment.attempts}"
