"""Demo tenants, people and cases, so a new installation shows a working portal."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.adapters.payments import SIMULATED_CARD
from portal.db import utcnow
from portal.models import (
    ActivityKind,
    Case,
    Closure,
    DebtorKind,
    EntryKind,
    Frequency,
    Hearing,
    HoldReason,
    Lawyer,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    Party,
    Role,
    Stage,
    Tenant,
    User,
)
from portal.services import (
    disputes,
    invoice_checks,
    ledger,
    messages,
    payment_plans,
    payments,
    remittance,
    rollups,
)
from portal.services.placement import (
    ContactDetails,
    DebtorDetails,
    InvoiceDetails,
    PlacementRequest,
    WarningSign,
    place_case,
)
from portal.services.timeline import log_activity
from portal.services.users import create_user
from tenants.onboarding import create_tenant

# Printed for the demo; demo data is never loaded in production.
DEMO_PASSWORD = "portal-demo-2026"  # noqa: S105  # nosec B105


@dataclass(frozen=True)
class DemoLogin:
    email: str
    role: Role
    tenant: str | None


TENANTS = (
    ("acme", "Acme Industrial Supplies GmbH", "EUR"),
    ("brightline", "Brightline Software Ltd", "GBP"),
)
# What each client's admin keeps on the company page (sample bank details that validate).
COMPANY_DETAILS = {
    "acme": {
        "legal_address": "Industriestraße 12\n70565 Stuttgart\nGermany",
        "registration_number": "HRB 712345",
        "vat_number": "DE123456789",
        "approver_name": "Petra Hahn",
        "approver_email": "credit@acme.example",
        "remittance_account_holder": "Acme Industrial Supplies GmbH",
        "remittance_iban": "DE89370400440532013000",
        "remittance_bic": "COBADEFFXXX",
    },
    "brightline": {
        "legal_address": "4 Canal Wharf\nLeeds LS11 5PS\nUnited Kingdom",
        "registration_number": "08123456",
        "vat_number": "GB123456789",
        "approver_name": "Owen Price",
        "approver_email": "credit@brightline.example",
        "remittance_account_holder": "Brightline Software Ltd",
        "remittance_iban": "GB82WEST12345698765432",
        "remittance_bic": "NWBKGB2L",
    },
}
STAFF = (
    ("admin@agency.example", "Alex Admin", Role.AGENCY_ADMIN),
    ("carla@agency.example", "Carla Collector", Role.COLLECTOR),
    ("colin@agency.example", "Colin Collector", Role.COLLECTOR),
    ("lena@agency.example", "Lena Legal", Role.LEGAL),
)
DEBTOR_NAMES = (
    "Keller Bau GmbH",
    "Nordwind Logistik AG",
    "Harbour Cafe Ltd",
    "Pine & Oak Interiors",
    "Vogel Elektrotechnik",
    "Riverside Dental Practice",
    "Summit Print Works",
    "Blue Fern Florists",
    "Orion Fitness Club",
    "Lindqvist Haulage",
    "Maple Street Bakery",
    "Quantum Tooling SARL",
    "Sonnenhof Hotel KG",
    "Atlas Scaffolding Ltd",
    "Greenfield Farms",
    "Metro Cleaning Services",
    "Castle Hill Garage",
    "Delta Packaging BV",
    "Juniper Events",
    "Kestrel Security Ltd",
    "Falkenberg Metall",
    "Willow Care Homes",
    "Brook & Sons Joinery",
    "Copperleaf Catering",
    "Marlin Marine Supplies",
)
# How the demo's cases are spread over the process, with the outcome of the last action.
STAGE_MIX = (
    (Stage.PLACED, None),
    (Stage.PLACED, None),
    (Stage.REMINDER, "Reminder letter sent"),
    (Stage.REMINDER, "No answer, voicemail left"),
    (Stage.REMINDER, "Reminder email sent"),
    (Stage.DEMAND, "Demand letter sent"),
    (Stage.DEMAND, "Debtor asked for invoice copies"),
    (Stage.NEGOTIATION, "Promise to pay by end of month"),
    (Stage.NEGOTIATION, "Asked for an instalment plan"),
    (Stage.LEGAL_REVIEW, "Claim reviewed"),
    (Stage.LITIGATION, "Claim filed with the court"),
    (Stage.JUDGMENT, "Judgment obtained"),
    (Stage.ENFORCEMENT, "Garnishment order served"),
    (Stage.ON_HOLD, "Debtor disputes delivery"),
    (Stage.CLOSED, "Paid in full"),
    (Stage.CLOSED, "Settled at 80 %"),
)


def is_loaded(session: Session) -> bool:
    return session.scalar(select(Tenant.id).where(Tenant.slug == TENANTS[0][0])) is not None


CREDITOR_LOGINS = ((Role.CREDITOR_ADMIN, "finance"), (Role.CREDITOR_USER, "credit"))


def logins() -> list[DemoLogin]:
    """The demo's sign-ins, to print (every one uses ``DEMO_PASSWORD``)."""
    staff = [DemoLogin(email, role, None) for email, _name, role in STAFF]
    creditors = [
        DemoLogin(f"{who}@{slug}.example", role, slug)
        for slug, _name, _currency in TENANTS
        for role, who in CREDITOR_LOGINS
    ]
    return staff + creditors


# The agency's network of lawyers, offered when legal action is proposed.
LAWYERS: tuple[dict[str, Any], ...] = (
    {
        "name": "Dr. Anna Weber",
        "firm": "Weber & Partner Rechtsanwälte",
        "email": "a.weber@weber-partner.example",
        "jurisdictions": ["DE", "AT"],
        "languages": ["de", "en"],
        "fee_terms": "RVG statutory fees; advance 50 % of the court fees",
    },
    {
        "name": "James Holloway",
        "firm": "Holloway Finch Solicitors LLP",
        "email": "j.holloway@hollowayfinch.example",
        "jurisdictions": ["GB"],
        "languages": ["en"],
        "fee_terms": "Fixed costs under CPR Part 45; court fee paid in advance by the agency",
    },
    {
        "name": "Maître Claire Dubois",
        "firm": "Dubois Avocats",
        "email": "c.dubois@dubois-avocats.example",
        "jurisdictions": ["FR", "BE", "LU"],
        "languages": ["fr", "en", "de"],
        "fee_terms": "Hourly rate EUR 220; injunction procedure at a flat EUR 450",
    },
)


def load(session: Session, *, cases_per_tenant: int = 25, seed: int = 7) -> None:
    """Create the demo (call inside ``unscoped``, once: see ``is_loaded``)."""
    # Repeatable demo data, nothing secret.
    rng = random.Random(seed)  # noqa: S311  # nosec B311
    staff = [
        create_user(session, email=email, name=name, role=role, password=DEMO_PASSWORD)
        for email, name, role in STAFF
    ]
    collectors = [user for user in staff if user.role is Role.COLLECTOR]
    for slug, name, currency in TENANTS:
        tenant = create_tenant(session, slug=slug, name=name, currency=currency)
        for column, value in COMPANY_DETAILS[slug].items():
            setattr(tenant, column, value)
        for role, who in CREDITOR_LOGINS:
            create_user(
                session,
                email=f"{who}@{slug}.example",
                name=f"{who.title()} team, {name}",
                role=role,
                password=DEMO_PASSWORD,
                tenant=tenant,
            )
        for number in range(cases_per_tenant - len(CHECK_ANSWERS)):
            _demo_case(session, tenant, number, rng, collectors)
        for number, answer in enumerate(CHECK_ANSWERS, start=cases_per_tenant):
            _demo_check(session, tenant, number, answer, rng)
    lawyers = [Lawyer(**details) for details in LAWYERS]
    session.add_all(lawyers)
    session.flush()
    _demo_legal_files(session, lawyers[0], rng)
    _demo_statements(session, utcnow().date())


def _demo_statements(session: Session, today: date) -> None:
    """The remittance statements of the last four months, as the monthly run issued them."""
    for months_back in range(4, 0, -1):
        remittance.issue_monthly(session, today, month=today - relativedelta(months=months_back))


# Where each legal stage's demo case stands: a request waiting for the creditor, or an
# approved one with its court file.
COURTS = ("Amtsgericht Berlin-Mitte", "County Court at Central London")


def _demo_legal_files(session: Session, lawyer: Lawyer, rng: random.Random) -> None:
    legal_stages = (Stage.LEGAL_REVIEW, Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT)
    cases = session.scalars(select(Case).where(Case.stage.in_(legal_stages)).order_by(Case.id))
    for number, case in enumerate(cases):
        approved = case.stage is not Stage.LEGAL_REVIEW
        status = LegalRequestStatus.APPROVED if approved else LegalRequestStatus.AWAITING_CREDITOR
        request = LegalRequest(
            tenant_id=case.tenant_id, case_id=case.id, lawyer_id=lawyer.id, status=status,
            court_fees_minor=45_000, lawyer_fees_minor=80_000, advance_minor=45_000,
            note="Reminder, demand letter and calls unanswered; the debtor is solvent.",
            decided_at=utcnow() - timedelta(days=45) if approved else None,
            decision_comment="Approved: the claim is undisputed." if approved else None,
        )  # fmt: skip
        session.add(request)
        rollups.legal_request_moved(session, request, None)
        if not approved:
            continue
        proceeding = LegalProceeding(
            tenant_id=case.tenant_id, case_id=case.id, request_id=request.id,
            lawyer_id=lawyer.id, court=COURTS[number % len(COURTS)],
            court_case_number=f"{rng.randint(1, 99)} C {rng.randint(100, 999)}/26",
            filed_on=utcnow().date() - timedelta(days=40),
        )  # fmt: skip
        session.add(proceeding)
        if case.stage is Stage.LITIGATION:
            session.flush()
            morning = utcnow().replace(hour=9, minute=30, second=0, microsecond=0)
            hearing = Hearing(
                tenant_id=case.tenant_id, proceeding_id=proceeding.id, case_id=case.id,
                held_at=morning + timedelta(days=12), place="Room 2.14",
            )  # fmt: skip
            session.add(hearing)
    session.flush()


# Early-intervention invoices: one the debtor confirmed, one not answered yet.
CHECK_ANSWERS = (invoice_checks.Answer.CONFIRMED, None)


def _demo_check(
    session: Session,
    tenant: Tenant,
    number: int,
    answer: invoice_checks.Answer | None,
    rng: random.Random,
) -> None:
    """An invoice just due, handed over for a check rather than for collection."""
    today = utcnow().date()
    name = DEBTOR_NAMES[(number * 7 + tenant.id) % len(DEBTOR_NAMES)]
    due = today - timedelta(days=rng.randint(2, 6))
    invoice = InvoiceDetails(
        number=f"INV-2026-{rng.randint(1000, 9999)}",
        issue_date=due - timedelta(days=30),
        due_date=due,
        amount_minor=rng.randint(300, 9000) * 100,
    )
    debtor = DebtorDetails(
        kind=DebtorKind.BUSINESS, name=name, email=f"ap{number}@{tenant.slug}-customer.example",
        postal_code=f"{rng.randint(10000, 99999)}", country="DE",
    )  # fmt: skip
    reference = f"{tenant.slug.upper()[:3]}-{10000 + number}"
    request = PlacementRequest(
        debtor=debtor, invoices=(invoice,), creditor_reference=reference,
        payment_term_days=30, early_intervention=True,
    )  # fmt: skip
    case = place_case(session, tenant, request, today=today)
    check = invoice_checks.check_of(session, case)
    if answer is not None and check is not None:
        invoice_checks.record_answer(
            session, check, answer=answer, expected_on=today + timedelta(days=7),
            reason="", actor_id=None, today=today,
        )  # fmt: skip


def _demo_case(
    session: Session, tenant: Tenant, number: int, rng: random.Random, collectors: list[User]
) -> Case:
    today = utcnow().date()
    debtor_name = DEBTOR_NAMES[(number * 7 + tenant.id) % len(DEBTOR_NAMES)]
    first_due = today - timedelta(days=rng.randint(35, 400))
    invoices = [
        InvoiceDetails(
            number=f"INV-{2026 - index}-{rng.randint(1000, 9999)}",
            issue_date=first_due - timedelta(days=30 - index * 3),
            due_date=first_due + timedelta(days=index * 10),
            amount_minor=rng.randint(180, 24000) * 100 + rng.choice((0, 50, 99)),
        )
        for index in range(rng.randint(1, 3))
    ]
    slug = debtor_name.lower().replace(" ", "").replace("&", "")[:12]
    signs = rng.sample(sorted(WarningSign), k=rng.choice((0, 0, 1, 2, 3)))
    case = place_case(
        session,
        tenant,
        PlacementRequest(
            debtor=DebtorDetails(
                kind=DebtorKind.BUSINESS,
                name=debtor_name,
                registration_number=f"HRB {rng.randint(10000, 99999)}",
                email=f"accounts@{slug}.example",
                phone=f"+49 30 {rng.randint(1000000, 9999999)}",
                address_line1=f"{rng.randint(1, 120)} Market Street",
                postal_code=f"{rng.randint(10000, 99999)}",
                city=rng.choice(("Berlin", "Hamburg", "Leeds", "Bristol", "Cologne")),
                country=rng.choice(("DE", "GB")),
                contacts=(ContactDetails(name="Sam Becker", position="Accounts payable"),),
            ),
            invoices=tuple(invoices),
            creditor_reference=f"{tenant.slug.upper()[:3]}-{10000 + number}",
            payment_term_days=30,
            last_reminder_on=today - timedelta(days=rng.randint(7, 30)),
            reminders_sent=rng.randint(1, 3),
            contract_reviewed=True,
            warning_signs=frozenset(signs),
        ),
        today=today,
        placed_at=utcnow() - timedelta(days=rng.randint(20, 120), hours=rng.randint(0, 9)),
    )
    _give_history(session, case, number=number, rng=rng, collectors=collectors, today=today)
    return case


def _give_history(
    session: Session,
    case: Case,
    *,
    number: int,
    rng: random.Random,
    collectors: list[User],
    today: date,
) -> None:
    # Seed data is written as if the collection process had already run on it.
    stage, outcome = STAGE_MIX[number % len(STAGE_MIX)]
    previous, case.stage = case.stage, stage
    rollups.stage_moved(session, case, previous)
    last_action = case.placed_at + timedelta(days=rng.randint(3, 18), hours=rng.randint(1, 6))
    case.next_action_on = today + timedelta(days=rng.randint(-5, 10))
    if stage is not Stage.PLACED:
        case.assigned_collector_id = collectors[number % len(collectors)].id
    if stage is Stage.ON_HOLD:
        case.stage_before_hold, case.hold_reason = Stage.DEMAND, HoldReason.DISPUTE
        collector = collectors[number % len(collectors)]
        session.flush()
        disputes.open_dispute(
            session, case, raised_by=Party.DEBTOR, reason="The goods were never delivered.",
            actor_id=collector.id, role=Role.COLLECTOR, today=today,
        )  # fmt: skip
        _ask_for_evidence(session, case, collector)
    if outcome:
        kind = ActivityKind.LETTER if "letter" in outcome.lower() else ActivityKind.CALL
        logged = log_activity(
            session,
            case,
            kind,
            outcome,
            actor_id=case.assigned_collector_id,
            outcome=outcome,
            occurred_at=last_action,
        )
        if kind is ActivityKind.CALL:  # none of the seeded calls reached the debtor
            rollups.call_logged(session, logged, reached=False)
    owed = sum(invoice.amount_minor for invoice in case.invoices)
    if stage is Stage.CLOSED and outcome == "Paid in full":
        _demo_payment(session, case, owed, today)
        case.closure, case.next_action_on = Closure.PAID, None
    elif stage is Stage.CLOSED:
        settlement = owed * 8 // 10
        _demo_payment(session, case, settlement, today)
        ledger.book(
            session,
            case,
            EntryKind.ADJUSTMENT,
            settlement - owed,
            value_date=today,
            description="Balance written off under the settlement",
        )
        case.closure, case.next_action_on = Closure.SETTLED, None
    elif stage is Stage.NEGOTIATION and rng.random() < 0.7:
        _demo_payment(session, case, owed // 4, today)
    elif stage is Stage.REMINDER and number % 3 == 0:
        _demo_plan(session, case, today)


def _demo_plan(session: Session, case: Case, today: date) -> None:
    """A debtor on a six-month plan whose first instalment is paid (with the simulated card)."""
    session.flush()
    choice = payment_plans.PlanChoice(6, Frequency.MONTHLY, today + timedelta(days=30))
    plan = payment_plans.propose(session, case, choice, today)
    first = plan.instalments[0]
    payments.record_payment(
        session, case, amount_minor=first.amount_minor, event_key=f"demo-plan:{case.id}",
        paid_on=today, description="Paid online (plan first)",
    )  # fmt: skip
    payment_plans.first_payment_made(
        session, plan, customer_ref="sim_cus_demo", payment_method_ref=SIMULATED_CARD
    )


def _ask_for_evidence(session: Session, case: Case, collector: User) -> None:
    session.flush()
    messages.post(
        session,
        OutboxMailer(),
        case,
        author=collector,
        body="The debtor says the goods were never delivered. Please send the signed "
        "delivery note or the carrier's proof of delivery.",
        requests_information=True,
        agency_inbox="collections@agency.example",
    )


def _demo_payment(session: Session, case: Case, amount: int, today: date) -> None:
    """A bank transfer some days after placement, booked as every payment is (commission,
    allocation, the collector credited), so statements and dashboards have history."""
    days_placed = (today - case.placed_at.date()).days
    paid_on = today - timedelta(days=3 + case.id * 37 % max(1, days_placed - 10))
    payments.record_payment(
        session, case, amount_minor=amount, event_key=f"demo-transfer:{case.id}",
        paid_on=paid_on, description="Bank transfer from debtor",
    )  # fmt: skip
