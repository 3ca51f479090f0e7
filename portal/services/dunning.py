"""The daily dunning run: what ``flask collections run-due`` does for every open case.

For each case that is not closed and not on hold the run, once a day:

* takes the next step of its tenant's cadence when it is due. Step 0 is due ``days``
  after placement, each later step ``days`` after the step before it (the day of the
  last step is ``Case.last_dunning_on``). A step is a move of the stage machine
  (placed → reminder → demand → negotiation) made by the system (``role=None``), and
  whatever the step sends (``step_message``) is written on the timeline, e-mails also
  go to the outbox. A step whose message the contact rules refuse (opt-outs, cease
  contact, no e-mail address, quiet hours) waits, and the case stays in the collectors'
  queue. A case that was moved on by hand is not pulled back; at most one step is
  taken per case per day.
* posts late-payment interest per invoice for the days since the last run
  (``Case.interest_posted_until``, or the due date) up to the run date, with an event
  key per invoice and period, so the same period is never in the ledger twice. A
  tenant that does not charge statutory interest (``charge_statutory_interest``) gets
  none, but a contract rate given at placement still runs; one that does not charge
  the fixed compensation (``charge_compensation``) gets none either.

Cases of a tenant whose collection is paused (``Tenant.collection_paused``) are left
alone: no letters, no stage moves, no interest posted (the interest of those days is
posted by the first run after the pause, as for any period). The run counts them.

Then promises to pay whose day has passed are marked kept or broken; a broken one puts
its case in the collectors' queue for the day.

Idempotent: a case is picked up only while ``interest_posted_until`` is before the run
date and every case the run looks at gets it set, so a second run on the same day finds
nothing to do. Cases are read in batches by ascending id (keyset pagination), each batch
its own transaction, and the session is emptied after each batch, so memory stays flat
however many cases there are; a batch that fails leaves the ones before it done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, insert, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, object_session, selectinload

from portal.adapters.mail import Mail, Mailer
from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    DebtorKind,
    EntryKind,
    LatePaymentRule,
    LedgerEntry,
    Stage,
    Tenant,
)
from portal.services import interest, ledger, letters, payment_plans, promises, stages
from portal.services.contact_rules import Channel, check_contact
from portal.services.ledger import Balance, balances
from portal.services.money import format_money
from portal.services.timeline import log_activity
from tenants.scoping import unscoped

BATCH_SIZE = 500
# The cadence names the stage a step leads to; the stage machine's step that gets there.
STEP_MOVES = {
    Stage.REMINDER: "send_reminder",
    Stage.DEMAND: "send_demand",
    Stage.NEGOTIATION: "negotiate",
}
DUNNED_STAGES = tuple(sorted(stages.WORKING_STAGES))
# What a cadence step may send (its ``sends``), in words: a letter or an e-mail with the
# text ``letters.key_for_step`` picks, or a call, for which nothing is sent.
STEP_ACTIONS = {
    "reminder_letter": "a reminder letter",
    "reminder_email": "a reminder e-mail",
    "demand_letter": "a demand letter",
    "demand_email": "a demand e-mail",
    "final_notice_letter": "a final notice by letter",
    "final_notice_email": "a final notice by e-mail",
    "negotiation_call": "a call to negotiate (nothing is sent)",
}


@dataclass
class RunReport:
    """What one run did, for the command's output and for monitoring."""

    cases: int = 0
    advanced: int = 0
    letters: int = 0
    emails: int = 0
    interest_entries: int = 0
    held_back: int = 0
    promises_broken: int = 0
    batches: int = 0
    paused: int = 0  # cases left alone because their tenant's collection is paused

    def summary(self) -> str:
        text = (
            f"{self.cases} case(s) looked at in {self.batches} batch(es): "
            f"{self.advanced} advanced, {self.letters} letter(s), {self.emails} e-mail(s), "
            f"{self.interest_entries} interest entr(ies), {self.held_back} step(s) held back "
            f"by the contact rules; {self.promises_broken} broken promise(s)"
        )
        if self.paused:
            text += f"; {self.paused} case(s) left alone: their client's collection is paused"
        return text


@dataclass(frozen=True)
class StepMessage:
    """What a cadence step sends the debtor: a letter or an e-mail."""

    kind: ActivityKind  # LETTER or EMAIL
    subject: str
    body: str
    letter: letters.Letter | None = None  # kept on the case as a PDF when sent


def step_message(
    case: Case, step: Mapping[str, Any], balance: Balance, *, today: date | None = None
) -> StepMessage | None:
    """The message a cadence step sends, or None for a step that sends nothing (a call).

    ``sends`` ending in ``_email`` is an e-mail, in ``_letter`` a letter. The text comes
    from the tenant's (or the agency's) letter templates in the debtor's language
    (``letters``), and the letter is kept on the case as a PDF when it is sent. Where
    letters are not configured the text is a plain one, in English.
    """
    sends = str(step.get("sends", ""))
    if sends.endswith("_email"):
        kind = ActivityKind.EMAIL
    elif sends.endswith("_letter"):
        kind = ActivityKind.LETTER
    else:
        return None
    session = object_session(case)
    if letters.configured() is not None and session is not None:
        key = letters.key_for_step(sends, str(step.get("stage", "")))
        letter = letters.compose(session, case, key, balance, today=today or utcnow().date())
        return StepMessage(kind, letter.subject, letter.body, letter)
    what = sends.replace("_", " ").capitalize()
    subject = f"{what}: {case.agency_reference}"
    body = (
        f"Dear {case.debtor.name},\n\n"
        f"{case.tenant.name} has placed its claim against you with us "
        f"(our reference {case.agency_reference}, theirs {case.creditor_reference}). "
        f"The amount outstanding is {format_money(balance.outstanding, case.currency)}. "
        "Please pay it or contact us to agree how you will.\n"
    )
    return StepMessage(kind, subject, body)


# Keeps a letter on its case as a PDF: (case id, letter key, ISO day), usually queued.
FileLetter = Callable[[int, str, str], None]


@dataclass
class _Run:
    """One run's settings and findings, handed from batch to case."""

    session: Session
    today: date
    now: datetime
    mailer: Mailer
    report: RunReport
    rules: dict[str, list[LatePaymentRule]]
    file_letter: FileLetter


def run_due(
    session: Session,
    *,
    today: date,
    mailer: Mailer,
    file_letter: FileLetter,
    now: datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> RunReport:
    """Run the dunning for ``today`` over every tenant; commits batch by batch.

    ``now`` (default: the clock) is the moment the contact rules judge messages by,
    quiet hours included. ``file_letter(case_id, key, day)`` is handed each letter to
    keep on its case as a PDF: rendering runs at a few letters a second per core, so
    the caller queues it for background workers rather than the run waiting on it.
    """
    report = RunReport()
    # The run is the agency's own job over every tenant's cases.
    with unscoped(session):
        run = _Run(
            session, today, now or utcnow(), mailer, report, rules={}, file_letter=file_letter
        )
        report.paused = _paused_cases(session, today)
        last_id = 0
        while ids := _next_ids(session, last_id, today, batch_size):
            _run_batch(run, ids)
            session.expunge_all()  # the batch's objects go; the next batch loads its own
            last_id = ids[-1]
        # Last, so a broken promise puts its case in today's queue whatever step ran.
        _mark_broken_promises(session, today, report)
        session.commit()
        session.expunge_all()
    return report


def _due(today: date, *, paused: bool) -> tuple[Any, ...]:
    """The conditions of a case the run has not yet looked at today, of tenants whose
    collection is (``paused``) or is not paused."""
    return (
        Case.stage.in_(DUNNED_STAGES),
        or_(Case.interest_posted_until.is_(None), Case.interest_posted_until < today),
        Tenant.collection_paused.is_(paused),
    )


def _next_ids(session: Session, after: int, today: date, limit: int) -> list[int]:
    statement = (
        select(Case.id)
        .join(Tenant, Tenant.id == Case.tenant_id)
        .where(Case.id > after, *_due(today, paused=False))
        .order_by(Case.id)
        .limit(limit)
    )
    return list(session.scalars(statement))


def _paused_cases(session: Session, today: date) -> int:
    statement = (
        select(func.count(Case.id))
        .join(Tenant, Tenant.id == Case.tenant_id)
        .where(*_due(today, paused=True))
    )
    return int(session.scalar(statement) or 0)


def _run_batch(run: _Run, ids: list[int]) -> None:
    session = run.session
    for attempt in (1, 2):
        try:
            _process(run, ids)
            session.commit()
            run.report.batches += 1
            return
        except IntegrityError:
            # Another run booked some of the same interest first: start the batch again,
            # it now sees those entries and leaves them alone.
            session.rollback()
            session.expunge_all()
            if attempt == 2:
                raise


def _process(run: _Run, ids: list[int]) -> None:
    session, today, rules, report = run.session, run.today, run.rules, run.report
    # Rate tables are read once per run and currency; sessions do not expire on commit,
    # so the loaded rules stay usable after each batch is let go.
    statement = (
        select(Case)
        .where(Case.id.in_(ids), Case.stage.in_(DUNNED_STAGES))
        .options(joinedload(Case.tenant), joinedload(Case.debtor), selectinload(Case.invoices))
        .order_by(Case.id)
        .with_for_update(of=Case)
    )
    cases = list(session.scalars(statement).unique())
    owed = balances(session, cases)
    for currency in {case.currency for case in cases} - rules.keys():
        rules[currency] = interest.rules_for(session, currency)
    on_plan = payment_plans.active_plan_case_ids(session, [case.id for case in cases])
    entries: list[dict[str, Any]] = []
    for case in cases:
        if case.interest_posted_until is not None and case.interest_posted_until >= today:
            continue  # another run got here first
        if case.tenant.collection_paused:
            continue  # paused since the batch was chosen
        report.cases += 1
        if case.id in on_plan:
            # A debtor keeping to a plan gets no letters, and no interest while it runs.
            case.interest_posted_until = today
            continue
        _take_due_step(run, case, owed[case.id])
        if owed[case.id].outstanding > 0:
            entries.extend(_interest_entries(case, today, rules[case.currency]))
        case.interest_posted_until = today
    if entries:
        taken = set(
            session.scalars(
                select(LedgerEntry.event_key).where(
                    LedgerEntry.event_key.in_([entry["event_key"] for entry in entries])
                )
            )
        )
        fresh = [entry for entry in entries if entry["event_key"] not in taken]
        if fresh:
            session.execute(insert(LedgerEntry), fresh)
            ledger.add_to_summaries(session, fresh)
        report.interest_entries += len(fresh)
    session.flush()


def _take_due_step(run: _Run, case: Case, balance: Balance) -> None:
    session, today = run.session, run.today
    cadence = case.tenant.dunning_cadence or []
    if case.dunning_step >= len(cadence) or case.stage is Stage.ON_HOLD:
        return
    if case.last_dunning_on is not None and case.last_dunning_on >= today:
        return  # one step a day at most
    step = cadence[case.dunning_step]
    since = case.last_dunning_on if case.dunning_step and case.last_dunning_on else None
    start = since or case.placed_at.date()
    if start + timedelta(days=int(step.get("days", 0))) > today:
        return
    try:
        name = STEP_MOVES[Stage(step.get("stage", ""))]
    except (KeyError, ValueError):
        return  # not a step the run can take; a person moves the case on
    if case.stage not in stages.TRANSITIONS[name].sources:
        return  # moved on by hand: the cadence does not pull it back
    message = step_message(case, step, balance, today=today)
    if message is not None:
        channel = Channel.EMAIL if message.kind is ActivityKind.EMAIL else Channel.LETTER
        if check_contact(session, case, channel, run.now) is not None:
            run.report.held_back += 1  # the step waits; the case stays due for a collector
            return
    stages.move(
        session,
        case,
        name,
        actor_id=stages.SYSTEM,
        role=None,
        why=f"Dunning step {case.dunning_step + 1}: {str(step.get('sends', '')).replace('_', ' ')}",
    )
    if message is not None:
        _send(run, case, message)
    case.dunning_step += 1
    case.last_dunning_on = today
    if case.dunning_step < len(cadence):
        following = int(cadence[case.dunning_step].get("days", 0))
        case.next_action_on = today + timedelta(days=following)
    else:
        case.next_action_on = today  # the cadence is done: a collector takes over
    run.report.advanced += 1


def _send(run: _Run, case: Case, message: StepMessage) -> None:
    """Write the message on the timeline; an e-mail also goes out (the contact rules
    have checked there is an address)."""
    recipient = None
    if message.kind is ActivityKind.EMAIL and case.debtor.email:
        recipient = case.debtor.email
        mail = Mail(recipient, message.subject, message.body, tenant_id=case.tenant_id)
        run.mailer.send(run.session, mail)
        run.report.emails += 1
    else:
        run.report.letters += 1
    if message.letter is not None:
        run.file_letter(case.id, message.letter.key, run.today.isoformat())
    log_activity(
        run.session, case, message.kind, message.subject, body=message.body, recipient=recipient
    )


def _interest_entries(
    case: Case, today: date, rules: list[LatePaymentRule]
) -> list[dict[str, Any]]:
    now = utcnow()
    rows = _compensation_entries(case, today, rules, now)
    if case.contract_interest_bp is None and not case.tenant.charge_statutory_interest:
        return rows
    for invoice in case.invoices:
        start = max(invoice.due_date, case.interest_posted_until or invoice.due_date)
        amount = interest.statutory_interest(
            rules, invoice.amount_minor, start, today, case.contract_interest_bp
        )
        if amount <= 0:
            continue
        rate = "contract" if case.contract_interest_bp is not None else "statutory"
        rows.append(
            {
                "tenant_id": case.tenant_id,
                "case_id": case.id,
                "invoice_id": invoice.id,
                "kind": EntryKind.INTEREST,
                "amount_minor": amount,
                "currency": case.currency,
                "value_date": today,
                "description": (
                    f"Interest ({rate}) on {invoice.number}, "
                    f"{(start + timedelta(days=1)).isoformat()} to {today.isoformat()}"
                )[:300],
                "event_key": f"interest:{case.id}:{invoice.id}:{today.isoformat()}",
                "created_at": now,
            }
        )
    return rows


def _compensation_entries(
    case: Case, today: date, rules: list[LatePaymentRule], now: datetime
) -> list[dict[str, Any]]:
    """The fixed compensation each late invoice of a business debtor carries, once.

    It is claimed the first time the run posts anything on the case (nothing posted
    yet), and its event key makes a second claim impossible. A tenant that does not
    charge it claims none; a case first looked at while that was so keeps none.
    """
    if case.interest_posted_until is not None or case.debtor.kind is not DebtorKind.BUSINESS:
        return []
    if not case.tenant.charge_compensation:
        return []
    return [
        {
            "tenant_id": case.tenant_id,
            "case_id": case.id,
            "invoice_id": invoice.id,
            "kind": EntryKind.FEE,
            "amount_minor": amount,
            "currency": case.currency,
            "value_date": today,
            "description": f"Fixed compensation for late payment of {invoice.number}"[:300],
            "event_key": f"compensation:{invoice.id}",
            "created_at": now,
        }
        for invoice in case.invoices
        if invoice.due_date < today and (amount := interest.compensation(rules, invoice.due_date))
    ]


def _mark_broken_promises(session: Session, today: date, report: RunReport) -> None:
    """Promises due before ``today`` and not paid become broken (``promises``); their
    cases are due for a collector today."""
    broken = promises.mark_broken_promises(session, today)
    for promise in broken:
        case = promise.case
        if case.stage is not Stage.CLOSED:
            case.next_action_on = min(case.next_action_on or today, today)
    report.promises_broken += len(broken)
