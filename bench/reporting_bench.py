"""How fast the reporting pages answer over a large portfolio, and how many queries they send.

    .venv/bin/python bench/reporting_bench.py [--cases 1000000] [--tenants 20]
        [--databases postgresql] [--database-name bench_reporting] [--database-url URL]
        [--keep] [--reuse | --fresh] [--runs 5] [--explain]

Builds a portfolio of ``--cases`` cases over ``--tenants`` creditors (sizes skewed: the
largest holds about 30 %), placed over the last 24 months, in every stage with realistic
shares, each with its invoice and ledger (principal, some interest and fees, payments
with commission for about 35 % of cases, a few reversals, settlement write-offs), the
payments' allocations, the timeline (placement, calls, payments), promises to pay,
instalment plans, disputes, legal requests, settlements, invoice checks and monthly
remittance statements. The schema comes from the migrations; tenants, users and lawyers
from the services; the bulk rows are generated in Python and streamed with COPY on
PostgreSQL (executemany on SQLite), then every case's money summaries are filled from
its ledger in one UPDATE, the dashboard's running totals (cases per stage, calls,
promises, plans and legal requests) with one INSERT ... SELECT per table, and
``ledger_check.verify`` proves they all agree with their sources.

Then it signs in (through the login form) as the largest tenant's creditor admin, a
small tenant's creditor user and an agency admin, and requests each reporting page once
to warm up and ``--runs`` times: median and slowest milliseconds, SQL statements per
request, the slowest statement, status and size. Pages that are not there yet (404) are
skipped with a note. ``--explain`` runs EXPLAIN (ANALYZE, BUFFERS) on the slowest
statements of the pages over the 200 ms budget (or of the slowest page).

PostgreSQL (the default): a scratch database ``bench_reporting`` (``--database-name``)
on 127.0.0.1:5432, dropped at the end unless ``--keep``. ``--reuse`` times the data a
kept run left there (and keeps it); kept data is never dropped without ``--fresh``.
``--database-url`` uses that database instead (never dropped). ``--databases sqlite``
is a quick smoke run in a temporary SQLite file (``--cases 2000 --databases sqlite``).
Generating a million cases takes about ten minutes on two cores. Not part of the test
suite.
"""

from __future__ import annotations

import argparse
import calendar
import json
import math
import os
import random
import secrets
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from flask.testing import FlaskClient
from load_bench import csrf_token
from sqlalchemy import Engine, event, func, insert, make_url, select, text
from sqlalchemy.orm import Session

from portal import create_app, db, migrate
from portal.db import Base, utcnow
from portal.models import Case, RemittanceStatement, Role, Stage, Tenant, User
from portal.models.debtor import identity_key
from portal.services import lawyers, ledger_check, passwords, rollups
from portal.services.case_work import CallOutcome
from portal.services.users import create_user
from tenants.onboarding import create_tenant
from tenants.scoping import unscoped

POSTGRES_ADMIN = os.environ.get(
    "BENCH_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)
DATABASE_NAME = "bench_reporting"
SQLITE_PATH = Path(tempfile.gettempdir()) / "bench_reporting.db"
PASSWORD = "bench-password-2026"  # noqa: S105 - the scratch database's users only
AGENCY_ADMIN = "admin@agency.bench.example"
BUDGET_MS = 200
CHUNK = 20_000
SEED = 2026
COLLECTORS = 30
LARGEST_SHARE = 0.30

CREDITOR_PAGES = (
    "/creditor/",
    "/creditor/dashboard",
    "/creditor/dashboard?currency=USD",
    "/creditor/unpaid",
    "/creditor/statements",
)
# The queue is the agency's home page. The largest tenant's admin also opens its latest
# statement (a month of payment lines).
AGENCY_PAGES = ("/agency/dashboard", "/agency/statements", "/agency/")

# --- the shape of the portfolio ------------------------------------------------------------

# (share of cases, stage, closure): most cases amicable, a third closed, a few in court.
STAGE_SHARES: tuple[tuple[float, str, str | None], ...] = (
    (0.03, "placed", None),
    (0.01, "early.check", None),
    (0.17, "amicable.reminder", None),
    (0.14, "amicable.demand", None),
    (0.18, "amicable.negotiation", None),
    (0.03, "on_hold", None),
    (0.015, "legal.review", None),
    (0.025, "legal.litigation", None),
    (0.01, "legal.judgment", None),
    (0.01, "enforcement", None),
    (0.16, "closed", "paid"),
    (0.05, "closed", "settled"),
    (0.05, "closed", "withdrawn"),
    (0.12, "closed", "uncollectible"),
)
AMICABLE = ("placed", "amicable.reminder", "amicable.demand", "amicable.negotiation")
LEGAL = ("legal.review", "legal.litigation", "legal.judgment", "enforcement")
HOLD_REASONS = ("dispute", "dispute", "dispute", "dispute", "insolvency", "creditor_request")
USD_SHARE = 0.08
REPEAT_DEBTOR = 0.06  # a case for a debtor the same creditor placed before
PARTIAL_PAYERS = 0.22  # of open cases: some money came in
SPLIT_PAYMENTS = 0.30  # of cases paid in full: in two payments under a plan
REVERSED = 0.03  # of partial payments: refunded or charged back
WARNING_SIGNS = (
    "changing_bank_accounts",
    "complaints_about_goods",
    "falling_orders",
    "key_staff_leaving",
    "not_returning_calls",
    "repeated_disputes",
    "reports_from_suppliers",
)
# How calls went (cumulative shares); a call that spoke with the debtor is a right party
# contact. Stored as ``case_work.log_call`` stores them.
CALL_OUTCOMES = (
    (CallOutcome.NO_ANSWER, 0.45),
    (CallOutcome.LEFT_MESSAGE, 0.65),
    (CallOutcome.SPOKE, 0.95),
    (CallOutcome.WRONG_NUMBER, 1.0),
)
DISPUTE_REASONS = (
    "Goods not received",
    "Goods damaged or faulty",
    "Invoice amount is wrong",
    "Already paid",
    "Service not as agreed",
    "Not our order",
)
SYMBOLS = {"EUR": "€", "USD": "$"}

# The columns each generated row fills, in order; tables in the order they are written.
COLUMNS: dict[str, tuple[str, ...]] = {
    "debtors": (
        "id", "tenant_id", "kind", "name", "registration_number", "email", "phone",
        "address_line1", "postal_code", "city", "country", "language", "timezone", "no_calls",
        "no_emails", "no_letters", "cease_contact", "created_at", "identity_key",
    ),
    "cases": (
        "id", "tenant_id", "debtor_id", "creditor_reference", "agency_reference", "currency",
        "stage", "stage_before_hold", "hold_reason", "closure", "assigned_collector_id",
        "next_action_on", "priority", "placed_at", "mandate_ends_on", "payment_term_days",
        "reminders_sent", "disputed_at_placement", "contract_reviewed", "warning_signs",
        "dunning_step", "withdrawal_requested_at", "withdrawal_reason", "placed_minor",
        "claimed_minor", "collected_minor", "updated_at", "debtor_key",
    ),
    "invoices": (
        "id", "tenant_id", "case_id", "number", "issue_date", "due_date", "amount_minor",
    ),
    "ledger_entries": (
        "id", "tenant_id", "case_id", "invoice_id", "kind", "amount_minor", "currency",
        "value_date", "description", "event_key", "collector_id", "reverses_entry_id",
        "commission_bp", "commission_minor", "created_at",
    ),
    "payment_allocations": (
        "id", "tenant_id", "ledger_entry_id", "case_id", "part", "amount_minor",
    ),
    "activities": (
        "id", "tenant_id", "case_id", "kind", "actor_id", "occurred_at", "summary", "outcome",
        "body", "visible_to_creditor", "details",
    ),
    "promises_to_pay": (
        "id", "tenant_id", "case_id", "amount_minor", "due_on", "status", "paid_before_minor",
        "created_by_id", "created_at", "resolved_at",
    ),
    "payment_plans": (
        "id", "tenant_id", "case_id", "status", "frequency", "total_minor",
        "down_payment_minor", "instalment_count", "start_on", "policy_exceptions",
        "misses_in_row", "moved_an_instalment", "created_at", "ended_at",
    ),
    "disputes": (
        "id", "tenant_id", "case_id", "raised_by", "reason", "due_on", "status", "outcome",
        "created_at", "resolved_at",
    ),
    "legal_requests": (
        "id", "tenant_id", "case_id", "lawyer_id", "status", "court_fees_minor",
        "lawyer_fees_minor", "advance_minor", "proposed_by_id", "created_at", "decided_at",
        "decline_outcome",
    ),
    "settlements": (
        "id", "tenant_id", "case_id", "amount_minor", "outstanding_minor", "status",
        "proposed_by_id", "created_at", "decided_at",
    ),
    "invoice_checks": ("id", "tenant_id", "case_id", "status", "created_at"),
    "remittance_statements": (
        "id", "tenant_id", "sequence", "number", "currency", "period_start", "period_end",
        "collected_minor", "commission_minor", "costs_minor", "net_minor", "issued_at",
    ),
    "statement_lines": (
        "id", "tenant_id", "statement_id", "case_id", "kind", "value_date", "description",
        "ledger_entry_id", "collected_minor", "commission_minor", "costs_minor", "net_minor",
    ),
}  # fmt: skip
JSON_COLUMNS = {"warning_signs", "details", "policy_exceptions"}

# Fills each case's money summaries from its ledger and invoices (SQLite and PostgreSQL).
FILL_SUMMARIES = """
UPDATE cases SET placed_minor = totals.placed, claimed_minor = totals.claimed,
       collected_minor = totals.collected, oldest_due_on = totals.oldest
FROM (
    SELECT money.case_id, money.placed, money.claimed, money.collected, due.oldest
    FROM (
        SELECT case_id,
               SUM(CASE WHEN kind = 'principal' THEN amount_minor ELSE 0 END) AS placed,
               SUM(CASE WHEN kind IN ('principal', 'interest', 'fee', 'adjustment')
                        THEN amount_minor ELSE 0 END) AS claimed,
               -SUM(CASE WHEN kind IN ('payment', 'reversal')
                         THEN amount_minor ELSE 0 END) AS collected
        FROM ledger_entries GROUP BY case_id
    ) AS money
    JOIN (SELECT case_id, MIN(due_date) AS oldest FROM invoices GROUP BY case_id) AS due
      ON due.case_id = money.case_id
) AS totals
WHERE cases.id = totals.case_id
"""

Rows = dict[str, list[tuple[Any, ...]]]


def money(minor: int, currency: str) -> str:
    """Display text only (summaries on the timeline): babel is too slow for a million."""
    return f"{SYMBOLS[currency]}{minor // 100:,}.{minor % 100:02d}"


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


# --- the people: through the services ---------------------------------------------------


@dataclass(frozen=True)
class TenantPlan:
    id: int
    slug: str
    size: int
    amicable_bp: int
    legal_bp: int


@dataclass(frozen=True)
class World:
    tenants: list[TenantPlan]
    collectors: list[int]
    lawyers: list[int]


def tenant_sizes(cases: int, tenants: int) -> list[int]:
    """The largest tenant holds ~30 %, the others share the rest by 1/k (a long tail)."""
    if tenants == 1:
        return [cases]
    weights = [1 / k for k in range(1, tenants)]
    rest = [max(1, int(cases * (1 - LARGEST_SHARE) * w / sum(weights))) for w in weights]
    return [cases - sum(rest), *rest]


def tenant_slug(index: int) -> str:
    return f"bench-{index:02d}"


def creditor_email(slug: str, role: Role) -> str:
    who = "finance" if role is Role.CREDITOR_ADMIN else "credit"
    return f"{who}@{slug}.bench.example"


def create_world(session: Session, sizes: list[int]) -> World:
    """Tenants, their users, the agency's staff and lawyers, as the portal creates them."""
    # A few dozen users: the tests' cheaper argon2 settings (still argon2) save a minute.
    passwords.set_hash_cost(time_cost=1, memory_kib=1024)
    plans = []
    with unscoped(session):
        for index, size in enumerate(sizes, start=1):
            slug = tenant_slug(index)
            tenant = create_tenant(
                session, slug=slug, name=f"Bench Client {index:02d} GmbH", currency="EUR"
            )
            tenant.commission_amicable_bp = 1200 + 100 * (index % 5)
            tenant.commission_legal_bp = 2000 + 250 * (index % 3)
            for role in (Role.CREDITOR_ADMIN, Role.CREDITOR_USER):
                create_user(
                    session, email=creditor_email(slug, role), name=f"{role.label} {slug}",
                    role=role, password=PASSWORD, tenant=tenant,
                )  # fmt: skip
            session.flush()
            plans.append(
                TenantPlan(
                    tenant.id, slug, size, tenant.commission_amicable_bp,
                    tenant.commission_legal_bp,
                )
            )  # fmt: skip
        admin = create_user(
            session, email=AGENCY_ADMIN, name="Agency Admin", role=Role.AGENCY_ADMIN,
            password=PASSWORD,
        )  # fmt: skip
        collectors = [
            create_user(
                session, email=f"collector{number:02d}@agency.bench.example",
                name=f"Collector {number:02d}", role=Role.COLLECTOR, password=PASSWORD,
            ).id
            for number in range(1, COLLECTORS + 1)
        ]  # fmt: skip
        create_user(
            session, email="legal@agency.bench.example", name="Legal Desk", role=Role.LEGAL,
            password=PASSWORD,
        )  # fmt: skip
        found_lawyers = [
            lawyers.add(
                session,
                lawyers.LawyerDetails(
                    name=f"Lawyer {number}", firm=f"Kanzlei {number} & Partner",
                    email=f"lawyer{number}@law.bench.example", jurisdictions="DE, AT",
                    languages="de, en", fee_terms="RVG",
                ),
                actor_id=admin.id,
            ).id
            for number in range(1, 6)
        ]  # fmt: skip
        session.commit()
    return World(plans, collectors, found_lawyers)


# --- the bulk rows: generated in Python, the same for both databases ------------------------


@dataclass
class Draft:
    """One case being generated: what its rows are derived from."""

    id: int
    tenant: TenantPlan
    currency: str
    stage: str
    closure: str | None
    before_hold: str | None
    hold_reason: str | None
    placed_at: datetime
    oldest_due: date
    principal: int
    interest: int
    fee: int
    collector: int | None
    payments: list[tuple[int, int, date]] = field(default_factory=list)  # id, amount, day

    @property
    def placed_on(self) -> date:
        return self.placed_at.date()

    @property
    def claimed(self) -> int:
        return self.principal + self.interest + self.fee

    @property
    def is_open(self) -> bool:
        return self.stage not in ("closed", "early.check")

    @property
    def family(self) -> str:
        return Stage(self.before_hold or self.stage).family


class Generator:
    """Rows for every table, case by case; ids are given here so rows can point at each
    other without asking the database."""

    def __init__(self, world: World, today: date, now: datetime) -> None:
        self.world = world
        self.today, self.now = today, now
        self.rng = random.Random(SEED)  # noqa: S311 - test data, not secrets
        self.ids: dict[str, int] = defaultdict(int)
        self.rows: Rows = defaultdict(list)
        self.last_debtor: dict[int, int] = {}
        self.debtor_keys: dict[int, str] = {}  # each debtor's identity_key, for its cases
        # Money in before this month: the monthly statements already issued show it.
        self.statement_cutoff = today.replace(day=1)
        self.money_in: dict[tuple[int, str, date], list[tuple[Any, ...]]] = defaultdict(list)
        self.stage_cumulative = list(_cumulative(share for share, *_ in STAGE_SHARES))

    def past(self, moment: datetime) -> datetime:
        """Never later than now (what a recent case has not reached yet, it has just done)."""
        return min(moment, self.now)

    def next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    def add(self, table: str, *values: Any) -> int:
        row_id = self.next_id(table)
        self.rows[table].append((row_id, *values))
        return row_id

    def take(self) -> Rows:
        rows, self.rows = self.rows, defaultdict(list)
        return rows

    def chunks(self, order: list[TenantPlan]) -> Iterator[Rows]:
        for first in range(0, len(order), CHUNK):
            for tenant in order[first : first + CHUNK]:
                self.case(tenant)
            yield self.take()

    # -- one case --

    def case(self, tenant: TenantPlan) -> None:
        draft = self.draft(tenant)
        self.case_rows(draft)
        self.claim(draft)
        self.pay(draft)
        self.timeline(draft)
        self.follow_ups(draft)

    def draft(self, tenant: TenantPlan) -> Draft:
        rng = self.rng
        choice = _pick(self.stage_cumulative, rng.random())
        _share, stage, closure = STAGE_SHARES[choice]
        placed_at = self.now - timedelta(seconds=rng.random() * 730 * 86_400)
        principal = round(math.exp(math.log(5_000) + rng.random() * math.log(1_000)))
        days_due = int(600 * rng.random() ** 3)  # median 75 days past due, a long tail
        interest = 0
        if rng.random() < 0.12:
            interest = max(1, principal * 9 * (days_due + 30) // 36_500)
        return Draft(
            id=self.ids["cases"] + 1,
            tenant=tenant,
            currency="USD" if rng.random() < USD_SHARE else "EUR",
            stage=stage,
            closure=closure,
            before_hold=rng.choice(AMICABLE[1:]) if stage == "on_hold" else None,
            hold_reason=rng.choice(HOLD_REASONS) if stage == "on_hold" else None,
            placed_at=placed_at,
            oldest_due=placed_at.date() - timedelta(days=days_due),
            principal=principal,
            interest=interest,
            fee=4_000 if rng.random() < 0.05 else 0,
            collector=rng.choice(self.world.collectors) if rng.random() < 0.95 else None,
        )

    def debtor(self, d: Draft) -> int:
        rng, tenant = self.rng, d.tenant
        if tenant.id in self.last_debtor and rng.random() < REPEAT_DEBTOR:
            return self.last_debtor[tenant.id]
        number = self.ids["debtors"] + 1
        business = rng.random() < 0.7
        kind = "business" if business else "person"
        name = f"Debtor {number} GmbH" if business else f"Debtor Person {number}"
        registration = f"HRB {number}" if business and rng.random() < 0.5 else None
        email = f"ap{number}@debtor.example" if rng.random() < 0.8 else None
        debtor_id = self.add(
            "debtors", tenant.id, kind, name, registration, email,
            f"+49 30 {number:07d}" if rng.random() < 0.7 else None,
            f"Industriestrasse {number % 200 + 1}", f"{10000 + number % 89999}", "Berlin",
            "DE" if rng.random() < 0.9 else "AT", "", "Europe/Berlin", False, False, False,
            False, d.placed_at, identity_key(kind, name, registration, email),
        )  # fmt: skip
        self.last_debtor[tenant.id] = debtor_id
        self.debtor_keys[debtor_id] = identity_key(kind, name, registration, email)
        return debtor_id

    def case_rows(self, d: Draft) -> None:
        rng = self.rng
        days_due = (d.placed_on - d.oldest_due).days
        signs = sorted(rng.sample(WARNING_SIGNS, rng.randint(1, 3))) if rng.random() < 0.25 else []
        if days_due > 90:
            signs.append("over_90_days_past_due")
        priority = min(100, round(min(days_due, 360) / 9 + 6 * math.log10(d.principal / 10_000 + 1)
                                  + 5 * len(signs)))  # fmt: skip
        withdrawn = d.closure == "withdrawn"
        debtor_id = self.debtor(d)
        self.add(
            "cases", d.tenant.id, debtor_id, f"CUST-{d.id:08d}", f"BR-{d.id:09d}",
            d.currency, d.stage, d.before_hold, d.hold_reason, d.closure,
            d.collector,
            None if d.stage == "closed" else self.today + timedelta(days=rng.randint(-20, 30)),
            priority, d.placed_at, d.placed_on + timedelta(days=365), 30, rng.randint(0, 3),
            rng.random() < 0.02, rng.random() < 0.6, signs,
            AMICABLE.index(d.stage) if d.stage in AMICABLE else 3,
            self.past(d.placed_at + timedelta(days=40)) if withdrawn else None,
            "The customer paid us directly" if withdrawn else None,
            0, 0, 0, self.now, self.debtor_keys[debtor_id],
        )  # fmt: skip

    def entry(
        self, d: Draft, kind: str, amount: int, day: date, description: str, **extra: Any
    ) -> int:
        return self.add(
            "ledger_entries", d.tenant.id, d.id, extra.get("invoice_id"), kind, amount,
            d.currency, day, description, extra.get("event_key"), extra.get("collector_id"),
            extra.get("reverses"), extra.get("bp"), extra.get("commission"),
            extra.get("created_at", at(day)),
        )  # fmt: skip

    def claim(self, d: Draft) -> None:
        number = f"INV-{d.id:08d}"
        invoice_id = self.add(
            "invoices", d.tenant.id, d.id, number, d.oldest_due - timedelta(days=30),
            d.oldest_due, d.principal,
        )  # fmt: skip
        self.entry(d, "principal", d.principal, d.oldest_due, f"Invoice {number}",
                   invoice_id=invoice_id, created_at=d.placed_at)  # fmt: skip
        if d.interest:
            self.entry(d, "interest", d.interest, d.placed_on, "Late-payment interest",
                       created_at=d.placed_at)  # fmt: skip
        if d.fee:
            self.entry(d, "fee", d.fee, d.placed_on, "Late-payment compensation",
                       created_at=d.placed_at)  # fmt: skip
        if d.stage == "early.check":
            self.add("invoice_checks", d.tenant.id, d.id, "open", d.placed_at)

    def amounts(self, d: Draft) -> list[int]:
        rng, claimed = self.rng, d.claimed
        if d.closure == "paid":
            if rng.random() < SPLIT_PAYMENTS:
                return [claimed // 2, claimed - claimed // 2]
            return [claimed]
        if d.closure == "settled":
            return [round(claimed * (0.5 + 0.3 * rng.random()))]
        chance = PARTIAL_PAYERS if d.is_open else 0.1 if d.closure == "uncollectible" else 0.0
        if rng.random() < chance:
            return [max(100, round(d.principal * (0.1 + 0.5 * rng.random())))]
        return []

    def pay(self, d: Draft) -> None:
        amounts = self.amounts(d)
        if not amounts:
            return
        span = max(0, min((self.today - d.placed_on).days, 365))
        day = d.placed_on + timedelta(days=self.rng.randint(0, span))
        bp = d.tenant.legal_bp if d.family == "legal" else d.tenant.amicable_bp
        before = 0
        for amount in amounts:
            commission = (amount * bp + 5_000) // 10_000
            entry_id = self.entry(
                d, "payment", -amount, day, "Payment received",
                event_key=f"bench-payment-{self.ids['ledger_entries'] + 1}",
                collector_id=d.collector, bp=bp, commission=commission,
            )  # fmt: skip
            shares = self.allocate(d, before, amount)
            for part, share in shares:
                self.add("payment_allocations", d.tenant.id, entry_id, d.id, part, share)
            self.statement_line(
                d, "payment", day, entry_id, collected=amount, commission=commission
            )
            d.payments.append((entry_id, amount, day))
            before += amount
            day = min(day + timedelta(days=30), self.today)
        if d.closure == "settled":
            self.entry(d, "adjustment", -(d.claimed - before), d.payments[-1][2],
                       "Written off: settlement paid")  # fmt: skip
        elif d.is_open and self.rng.random() < REVERSED:
            self.reverse(d, shares, bp, commission)

    def allocate(self, d: Draft, before: int, amount: int) -> list[tuple[str, int]]:
        """Fees first, then interest, then principal (the tenants' default order)."""

        def covered(paid: int, start: int, size: int) -> int:
            return min(max(paid - start, 0), size)

        fees = covered(before + amount, 0, d.fee) - covered(before, 0, d.fee)
        interest = covered(before + amount, d.fee, d.interest) - covered(before, d.fee, d.interest)
        shares = [("fees", fees), ("interest", interest), ("principal", amount - fees - interest)]
        return [(part, share) for part, share in shares if share]

    def reverse(self, d: Draft, shares: list[tuple[str, int]], bp: int, commission: int) -> None:
        payment_id, amount, paid_on = d.payments[-1]
        day = min(paid_on + timedelta(days=10), self.today)
        entry_id = self.entry(
            d, "reversal", amount, day, "Chargeback",
            collector_id=d.collector, reverses=payment_id, bp=bp, commission=-commission,
        )  # fmt: skip
        for part, share in shares:
            self.add("payment_allocations", d.tenant.id, entry_id, d.id, part, -share)
        self.statement_line(d, "reversal", day, entry_id, collected=-amount, commission=-commission)
        self.add(
            "activities", d.tenant.id, d.id, "payment", None, at(day, 11),
            f"Payment reversed: {money(amount, d.currency)}", "Reversed", "Chargeback.",
            True, {"ledger_entry_id": entry_id},
        )  # fmt: skip

    def statement_line(
        self, d: Draft, kind: str, day: date, entry_id: int, *, collected: int, commission: int
    ) -> None:
        if day < self.statement_cutoff:
            key = (d.tenant.id, d.currency, day.replace(day=1))
            self.money_in[key].append((d.id, kind, day, entry_id, collected, commission))

    def timeline(self, d: Draft) -> None:
        rng, tenant = self.rng, d.tenant
        self.add(
            "activities", tenant.id, d.id, "placement", None, d.placed_at,
            f"Placed with 1 invoice(s), {money(d.principal, d.currency)}", None, None, True, {},
        )  # fmt: skip
        if d.stage != "early.check" and rng.random() < 0.6:
            window = min((self.now - d.placed_at).total_seconds(), 120 * 86_400)
            actor = d.collector or rng.choice(self.world.collectors)
            for _ in range(rng.randint(1, 4)):
                outcome, _share = CALL_OUTCOMES[
                    _pick([share for _outcome, share in CALL_OUTCOMES], rng.random())
                ]
                self.add(
                    "activities", tenant.id, d.id, "call", actor,
                    d.placed_at + timedelta(seconds=rng.random() * window),
                    f"Call: {outcome.label.lower()}", outcome.label, None, True,
                    {"call_outcome": outcome.value},
                )  # fmt: skip
        for entry_id, amount, day in d.payments:
            self.add(
                "activities", tenant.id, d.id, "payment", None, at(day, 11),
                f"Payment received: {money(amount, d.currency)}", None, "Payment received",
                True, {"ledger_entry_id": entry_id},
            )  # fmt: skip

    def follow_ups(self, d: Draft) -> None:
        self.promises_and_plans(d)
        self.disputes(d)
        self.legal_and_settlements(d)

    def promises_and_plans(self, d: Draft) -> None:
        rng, tenant, roll = self.rng, d.tenant, self.rng.random()
        if d.payments:
            _entry, first, paid_on = d.payments[0]
            if roll < 0.3:
                self.add("promises_to_pay", tenant.id, d.id, first, paid_on, "kept", 0,
                         d.collector, max(d.placed_at, at(paid_on) - timedelta(days=10)),
                         at(paid_on, 12))  # fmt: skip
            if len(d.payments) == 2:
                self.add("payment_plans", tenant.id, d.id, "completed", "monthly", d.claimed,
                         first, 2, paid_on, [], 0, False, at(paid_on, 9),
                         at(d.payments[1][2], 12))  # fmt: skip
            elif d.is_open and d.stage in AMICABLE and roll < 0.35:
                self.add("payment_plans", tenant.id, d.id, "active", "monthly", d.claimed,
                         first, 6, paid_on, [], 0, False, at(paid_on, 9), None)  # fmt: skip
            return
        if not (d.is_open and d.stage in AMICABLE):
            return
        if roll < 0.10:
            due = d.placed_on + timedelta(days=rng.randint(10, 60))
            broken = due < self.today
            self.add("promises_to_pay", tenant.id, d.id, d.claimed, due,
                     "broken" if broken else "open", 0, d.collector, d.placed_at,
                     at(due + timedelta(days=1)) if broken else None)  # fmt: skip
        elif roll < 0.15:
            start = d.placed_on + timedelta(days=14)
            broken = start + timedelta(days=60) < self.today
            self.add("payment_plans", tenant.id, d.id,
                     "broken" if broken else "awaiting_first_payment", "monthly", d.claimed,
                     d.claimed // 10, 6, start, [], 2 if broken else 0, False, d.placed_at,
                     at(start + timedelta(days=60)) if broken else None)  # fmt: skip

    def disputes(self, d: Draft) -> None:
        rng = self.rng
        reason = DISPUTE_REASONS[d.id % len(DISPUTE_REASONS)]
        created = d.placed_at + timedelta(days=rng.randint(3, 30))
        created = min(created, self.now - timedelta(days=1))
        if d.hold_reason == "dispute":
            self.add("disputes", d.tenant.id, d.id, "debtor", reason,
                     self.today + timedelta(days=rng.randint(0, 14)), "open", None, created,
                     None)  # fmt: skip
        elif d.closure == "withdrawn" and rng.random() < 0.4:
            self.add("disputes", d.tenant.id, d.id, "debtor", reason, created.date(),
                     "upheld", "Upheld: withdraw the case", created,
                     self.past(created + timedelta(days=14)))  # fmt: skip
        elif rng.random() < 0.02:
            self.add("disputes", d.tenant.id, d.id, "debtor", reason, created.date(),
                     "rejected", "Rejected: collection goes on", created,
                     self.past(created + timedelta(days=14)))  # fmt: skip

    def legal_and_settlements(self, d: Draft) -> None:
        rng, roll = self.rng, self.rng.random()
        proposed = min(d.placed_at + timedelta(days=rng.randint(60, 120)), self.now)
        status, outcome = None, None
        if d.stage == "legal.review" and roll < 0.7:
            status = "awaiting_creditor"
        elif d.stage in LEGAL[1:]:
            status = "approved"
        elif d.stage == "amicable.negotiation" and roll < 0.01:
            status, outcome = "declined", "back_to_amicable"
        elif d.closure == "uncollectible" and roll < 0.15:
            status, outcome = "declined", "close_uncollectible"
        if status is not None:
            waiting = status == "awaiting_creditor"
            decided = None if waiting else self.past(proposed + timedelta(days=5))
            self.add("legal_requests", d.tenant.id, d.id, rng.choice(self.world.lawyers), status,
                     d.principal // 20 + 5_000, d.principal // 12 + 10_000, 0, d.collector,
                     proposed, decided, outcome)  # fmt: skip
        if d.closure == "settled":
            _entry, paid, paid_on = d.payments[0]
            offered = max(d.placed_at, at(paid_on) - timedelta(days=5))
            self.add("settlements", d.tenant.id, d.id, paid, d.claimed, "paid", d.collector,
                     offered, offered + timedelta(days=1))  # fmt: skip
        elif d.stage == "amicable.negotiation" and 0.5 <= roll < 0.51:
            self.add("settlements", d.tenant.id, d.id, d.claimed * 7 // 10, d.claimed,
                     "awaiting_creditor", d.collector, proposed, None)  # fmt: skip

    # -- after every case --

    def statements(self, slugs: dict[int, str]) -> Rows:
        """Monthly remittance statements for every month before this one, per tenant and
        currency, numbered per tenant in order; one line per payment or reversal."""
        by_tenant: dict[int, list[tuple[date, str]]] = defaultdict(list)
        for tenant_id, currency, month in self.money_in:
            by_tenant[tenant_id].append((month, currency))
        for tenant_id, periods in by_tenant.items():
            for sequence, (month, currency) in enumerate(sorted(periods), start=1):
                self.statement(tenant_id, slugs[tenant_id], sequence, month, currency)
        return self.take()

    def statement(
        self, tenant_id: int, slug: str, sequence: int, month: date, currency: str
    ) -> None:
        lines = self.money_in[(tenant_id, currency, month)]
        collected = sum(line[4] for line in lines)
        commission = sum(line[5] for line in lines)
        end = month_end(month)
        statement_id = self.add(
            "remittance_statements", tenant_id, sequence, f"{slug.upper()}-{sequence:04d}",
            currency, month, end, collected, commission, 0, collected - commission,
            at(end + timedelta(days=1), 6),
        )  # fmt: skip
        for case_id, kind, day, entry_id, line_collected, line_commission in lines:
            self.add(
                "statement_lines", tenant_id, statement_id, case_id, kind, day,
                "Payment received" if kind == "payment" else "Chargeback", entry_id,
                line_collected, line_commission, 0, line_collected - line_commission,
            )  # fmt: skip


def _cumulative(shares: Iterator[float] | Any) -> Iterator[float]:
    total = 0.0
    for share in shares:
        total += share
        yield total


def _pick(cumulative: list[float], roll: float) -> int:
    for index, bound in enumerate(cumulative):
        if roll < bound:
            return index
    return len(cumulative) - 1


# --- writing the rows ----------------------------------------------------------------------


def _plain(table: str, row: tuple[Any, ...]) -> tuple[Any, ...]:
    """JSON columns as text, for COPY."""
    return tuple(
        json.dumps(value) if name in JSON_COLUMNS else value
        for name, value in zip(COLUMNS[table], row, strict=True)
    )


class PostgresWriter:
    """COPY, one statement per table per chunk, in a connection of its own."""

    def __init__(self, conninfo: str) -> None:
        self.connection = psycopg.connect(conninfo)
        # A scratch load: losing the last commits in a crash costs nothing.
        self.connection.execute("SET synchronous_commit = off")

    def write(self, rows: Rows) -> None:
        with self.connection.cursor() as cursor:
            for table, columns in COLUMNS.items():
                if not rows.get(table):
                    continue
                json_table = any(name in JSON_COLUMNS for name in columns)
                names = ", ".join(columns)
                with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
                    for row in rows[table]:
                        copy.write_row(_plain(table, row) if json_table else row)
        self.connection.commit()

    def close(self) -> None:
        self.connection.close()


class SqlAlchemyWriter:
    """executemany through SQLAlchemy Core (its types convert dates and JSON for SQLite)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def write(self, rows: Rows) -> None:
        with self.engine.begin() as connection:
            for table, columns in COLUMNS.items():
                if rows.get(table):
                    connection.execute(
                        insert(Base.metadata.tables[table]),
                        [dict(zip(columns, row, strict=True)) for row in rows[table]],
                    )

    def close(self) -> None:
        pass


def postgres_conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def generate(engine: Engine, cases: int, tenants: int) -> None:
    """Fill an empty, migrated database; prints the time of each step and the row counts."""
    on_postgres = engine.dialect.name == "postgresql"
    started = time.perf_counter()
    sizes = tenant_sizes(cases, tenants)
    with Session(engine) as session:
        world = create_world(session, sizes)
    print(f"  tenants, users, lawyers through the services: {time.perf_counter() - started:.1f} s")
    print("  tenant sizes: " + ", ".join(f"{t.slug} {t.size:,}" for t in world.tenants))
    order = [tenant for tenant in world.tenants for _ in range(tenant.size)]
    random.Random(SEED).shuffle(order)  # noqa: S311 - placements of all tenants interleave
    now = utcnow()
    generator = Generator(world, now.date(), now)
    writer: PostgresWriter | SqlAlchemyWriter = (
        PostgresWriter(postgres_conninfo(str(engine.url.render_as_string(hide_password=False))))
        if on_postgres
        else SqlAlchemyWriter(engine)
    )
    step = time.perf_counter()
    try:
        for done, rows in enumerate(generator.chunks(order), start=1):
            writer.write(rows)
            if done % 10 == 0:
                print(f"    {done * CHUNK:,} cases written ({time.perf_counter() - step:.0f} s)")
        writer.write(generator.statements({t.id: t.slug for t in world.tenants}))
    finally:
        writer.close()
    print(f"  bulk rows ({'COPY' if on_postgres else 'executemany'}): "
          f"{time.perf_counter() - step:.1f} s")  # fmt: skip
    finish(engine, on_postgres)
    print(f"  generation in all: {time.perf_counter() - started:.1f} s")
    show_counts(engine)


def finish(engine: Engine, on_postgres: bool) -> None:
    """Summaries from the ledger, sequences past the explicit ids, fresh statistics."""
    step = time.perf_counter()
    with engine.begin() as connection:
        filled = connection.execute(text(FILL_SUMMARIES)).rowcount
        if on_postgres:
            for table in COLUMNS:
                connection.execute(text(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "  # noqa: S608
                    f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                ))  # fmt: skip
    print(f"  case summaries from the ledger (one UPDATE, {filled:,} cases): "
          f"{time.perf_counter() - step:.1f} s")  # fmt: skip
    step = time.perf_counter()
    with Session(engine) as session, unscoped(session):
        for model in rollups.MODELS:
            ledger_check.fill_totals(session, model)
        session.commit()
    print(f"  the dashboard's running totals (one INSERT ... SELECT per table): "
          f"{time.perf_counter() - step:.1f} s")  # fmt: skip
    step = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if on_postgres:
            # The UPDATE left a dead version of every case: rewrite the table as a
            # long-running database would have it, and set the visibility map that
            # index-only scans need (autovacuum's job in production).
            connection.execute(text("VACUUM FULL cases"))
            connection.execute(text("VACUUM ANALYZE"))
        else:
            connection.execute(text("ANALYZE"))
    print(f"  {'VACUUM, ' if on_postgres else ''}ANALYZE: {time.perf_counter() - step:.1f} s")


def show_counts(engine: Engine) -> None:
    with engine.connect() as connection:
        counts = {
            table: connection.scalar(text(f"SELECT COUNT(*) FROM {table}"))  # noqa: S608
            for table in ("tenants", "users", *COLUMNS)
        }
    print("  rows: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()))


def verify(engine: Engine) -> None:
    """The project's ledger check over everything generated."""
    started = time.perf_counter()
    with Session(engine) as session, unscoped(session):
        found = ledger_check.verify(session)
    elapsed = time.perf_counter() - started
    if found.ok:
        print(f"  ledger verify: {found.cases:,} cases, {found.payments:,} payments and "
              f"reversals, {found.statements:,} statements, {found.totals:,} running totals "
              f"agree with the ledger and their sources ({elapsed:.1f} s)")  # fmt: skip
        return
    print(f"  ledger verify: {len(found.discrepancies):,} figures DIFFER ({elapsed:.1f} s)")
    for discrepancy in found.discrepancies[:10]:
        print(f"    {discrepancy}")
    raise SystemExit(1)


# --- timing the pages --------------------------------------------------------------------


@dataclass
class Statement:
    sql: str
    parameters: Any
    ms: float


@dataclass
class Timing:
    who: str
    page: str
    status: int
    size: int
    runs_ms: list[float]
    queries: int
    statements: list[Statement]

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def max_ms(self) -> float:
        return max(self.runs_ms)

    @property
    def sql_ms(self) -> float:
        """Time in the database during the last run (the rest is Python: ORM, templates)."""
        return sum(statement.ms for statement in self.statements)

    @property
    def slowest(self) -> Statement | None:
        return max(self.statements, key=lambda s: s.ms, default=None)

    @property
    def within_budget(self) -> bool:
        return self.status == 200 and self.max_ms <= BUDGET_MS

    @property
    def verdict(self) -> str:
        if self.status != 200:
            return f"no (status {self.status})"
        return "yes" if self.max_ms <= BUDGET_MS else "no"


class StatementLog:
    """Every SQL statement the engine sends while ``recording``, with its duration."""

    def __init__(self, engine: Engine) -> None:
        self.statements: list[Statement] = []
        self.recording = False
        event.listen(engine, "before_cursor_execute", self.before)
        event.listen(engine, "after_cursor_execute", self.after)

    def before(self, conn: Any, _cursor: Any, _sql: str, *_args: Any) -> None:
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    def after(self, conn: Any, _cursor: Any, sql: str, parameters: Any, *_args: Any) -> None:
        started = conn.info["bench_started"].pop()
        if self.recording:
            self.statements.append(
                Statement(sql, parameters, (time.perf_counter() - started) * 1000)
            )

    @contextmanager
    def record(self) -> Iterator[list[Statement]]:
        self.statements, self.recording = [], True
        try:
            yield self.statements
        finally:
            self.recording = False


def sign_in(client: FlaskClient, email: str) -> None:
    token = csrf_token(client.get("/login").get_data(as_text=True))
    if not token:
        raise SystemExit("no CSRF token on the login page")
    response = client.post(
        "/login", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    if response.status_code != 302:
        raise SystemExit(f"signing in as {email} failed ({response.status_code})")


def get(client: FlaskClient, path: str) -> tuple[int, int, float, str]:
    """Status, size, milliseconds, and the error when the page broke (a finding, not the
    end of the run)."""
    started = time.perf_counter()
    try:
        response = client.get(path)
        status, size, error = response.status_code, len(response.get_data()), ""
    except Exception as raised:
        status, size, error = 500, 0, f"{type(raised).__name__}: {raised}"
    return status, size, (time.perf_counter() - started) * 1000, error


def time_page(
    client: FlaskClient, log: StatementLog, who: str, path: str, runs: int
) -> Timing | None:
    status, _size, _ms, error = get(client, path)  # warm-up: templates compiled, caches filled
    if status == 404:
        print(f"  {who}: {path} skipped (404: not there yet)")
        return None
    if error:
        print(f"  {who}: {path} fails: {error[:300]}")
    timings, queries, statements = [], 0, []
    for _ in range(runs):
        with log.record() as recorded:
            status, size, ms, _error = get(client, path)
        timings.append(ms)
        queries, statements = len(recorded), list(recorded)
    return Timing(who, path, status, size, timings, queries, statements)


def people(engine: Engine) -> list[tuple[str, str, tuple[str, ...]]]:
    """Who signs in: the largest tenant's creditor admin, the smallest tenant's creditor
    user, an agency admin (with the pages each of them opens)."""
    with Session(engine) as session, unscoped(session):
        sizes = session.execute(
            select(Tenant.slug, func.count(Case.id))
            .join(Case, Case.tenant_id == Tenant.id)
            .group_by(Tenant.slug)
            .order_by(func.count(Case.id).desc(), Tenant.slug)
        ).all()
        if not sizes or session.scalar(select(User.id).where(User.email == AGENCY_ADMIN)) is None:
            raise SystemExit("the database holds no bench data: run without --reuse")
        (large, large_count), (small, small_count) = sizes[0], sizes[-1]
        latest = session.scalar(
            select(RemittanceStatement.id)
            .join(Tenant, Tenant.id == RemittanceStatement.tenant_id)
            .where(Tenant.slug == large, RemittanceStatement.currency == "EUR")
            .order_by(RemittanceStatement.period_end.desc())
            .limit(1)
        )
    statement_page = (f"/creditor/statements/{latest}",) if latest else ()
    return [
        (f"creditor admin, {large} ({large_count:,} cases)",
         creditor_email(large, Role.CREDITOR_ADMIN), CREDITOR_PAGES + statement_page),
        (f"creditor user, {small} ({small_count:,} cases)",
         creditor_email(small, Role.CREDITOR_USER), CREDITOR_PAGES),
        ("agency admin (all tenants)", AGENCY_ADMIN, AGENCY_PAGES),
    ]  # fmt: skip


def time_pages(database_url: str, runs: int) -> list[Timing]:
    with tempfile.TemporaryDirectory() as documents:
        app = create_app({
            "PORTAL_ENV": "testing", "JOBS_BACKEND": "inline", "DATABASE_URL": database_url,
            "SECRET_KEY": secrets.token_hex(32), "STORAGE_URL": Path(documents).as_uri(),
        })  # fmt: skip
        engine: Engine = app.extensions["portal.engine"]
        log = StatementLog(engine)
        results = []
        for who, email, pages in people(engine):
            client = app.test_client()
            sign_in(client, email)
            for path in pages:
                if (timing := time_page(client, log, who, path, runs)) is not None:
                    results.append(timing)
        db.registry.remove()
        engine.dispose()
    return results


def show_table(results: list[Timing], runs: int) -> None:
    print(f"\nPages (warm-up once, then {runs} runs each; budget {BUDGET_MS} ms):")
    header = ("who", "page", "median ms", "max ms", "queries", "sql ms", "slowest query ms",
              "status", "bytes", f"within {BUDGET_MS} ms")  # fmt: skip
    rows = [
        (t.who, t.page, f"{t.median_ms:.0f}", f"{t.max_ms:.0f}", str(t.queries),
         f"{t.sql_ms:.0f}", f"{t.slowest.ms:.0f}" if t.slowest else "-", str(t.status),
         f"{t.size:,}", t.verdict)
        for t in results
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    print("  (sql ms: the statements' time in the last run; the rest is Python and templates)")
    for timing in results:
        if not timing.within_budget and timing.slowest is not None:
            slowest = timing.slowest
            print(f"\n  over budget: {timing.who} {timing.page}; slowest query "
                  f"{slowest.ms:.0f} ms:\n    {short_sql(slowest.sql, 900)}")  # fmt: skip


def short_sql(sql: str, length: int) -> str:
    """One line, each long select list cut short: the FROM and WHERE say what it does."""
    flat = " ".join(sql.split())
    parts, position = [], 0
    while (start := flat.find("SELECT ", position)) != -1:
        end = flat.find(" FROM ", start)
        if end == -1:
            break
        cut = start + 100 if end - start > 160 else end
        parts.append(flat[position:cut] + (" ..." if cut < end else ""))
        position = end
    parts.append(flat[position:])
    return "".join(parts)[:length]


def explain(database_url: str, results: list[Timing], top: int = 3) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) the slowest statements of the pages over budget (or of
    the slowest page): the plan's top line, the scans it chose, its execution time."""
    if not results or not database_url.startswith("postgresql"):
        print("\n--explain: PostgreSQL only")
        return
    chosen = [t for t in results if not t.within_budget] or [
        max(results, key=lambda t: t.median_ms)
    ]
    with psycopg.connect(postgres_conninfo(database_url)) as connection:
        for timing in chosen:
            print(f"\nEXPLAIN {timing.who} {timing.page}:")
            for statement in sorted(timing.statements, key=lambda s: -s.ms)[:top]:
                plan = [row[0] for row in connection.execute(
                    "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, statement.parameters or None
                )]  # fmt: skip
                scans = [line.strip() for line in plan if "Scan" in line][:4]
                print(f"  {statement.ms:.0f} ms: {short_sql(statement.sql, 400)}")
                print(f"    {plan[0].strip()}")
                for line in scans:
                    print(f"    {line}")
                print(f"    {next((line for line in plan if 'Execution Time' in line), '')}")
            connection.rollback()


# --- the databases -------------------------------------------------------------------------


def has_data(engine: Engine) -> bool:
    with engine.connect() as connection:
        return bool(connection.scalar(text("SELECT COUNT(*) FROM cases")))


def check_complete(engine: Engine) -> None:
    """Data to reuse went all the way through generation: the summaries were filled."""
    with engine.connect() as connection:
        unfilled = connection.scalar(text("SELECT COUNT(*) FROM cases WHERE placed_minor = 0"))
    if unfilled:
        raise SystemExit(
            f"{unfilled:,} cases have no summaries: an earlier generation stopped half-way; "
            "build the data again with --fresh"
        )


def bench(label: str, database_url: str, args: argparse.Namespace) -> None:
    print(f"\n{label}: {database_url}")
    engine = db.make_engine(database_url)
    try:
        migrate.upgrade(engine)
        if args.reuse and has_data(engine):
            check_complete(engine)
            print("  reusing the data already there")
            show_counts(engine)
        elif has_data(engine):
            raise SystemExit(
                "the database already holds cases: time them with --reuse, or build them "
                "again with --fresh"
            )
        else:
            print(f"  generating {args.cases:,} cases over {args.tenants} tenants")
            generate(engine, args.cases, args.tenants)
            verify(engine)
    finally:
        engine.dispose()
    results = time_pages(database_url, args.runs)
    show_table(results, args.runs)
    if args.explain:
        explain(database_url, results)


def cases_in(conninfo: str) -> int:
    """How many cases a database holds (0 when it has no schema yet)."""
    with psycopg.connect(conninfo) as connection:
        if connection.execute("SELECT to_regclass('cases')").fetchone() == (None,):
            return 0
        row = connection.execute("SELECT COUNT(*) FROM cases").fetchone()
        return int(row[0]) if row else 0


def postgres_database(name: str, reuse: bool, fresh: bool) -> str | None:
    """The scratch database's URL, created afresh unless its data is to be reused; an
    earlier run's kept data is never dropped without ``--fresh``. None if unreachable."""
    base = POSTGRES_ADMIN.rsplit("/", 1)[0]
    url = f"{base.replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    try:
        with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=3) as admin:
            exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            held = cases_in(f"{base}/{name}") if exists.fetchone() and not fresh else 0
            if held and reuse:
                return url
            if held:
                raise SystemExit(
                    f"{name} holds {held:,} cases kept by an earlier run: time them with "
                    "--reuse, build them again with --fresh, or use --database-name"
                )
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as error:
        print(f"PostgreSQL skipped: not reachable at {POSTGRES_ADMIN} ({error})".strip())
        return None
    return url


def drop_postgres(name: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_sqlite(args: argparse.Namespace) -> None:
    if not (args.keep or args.reuse):
        with tempfile.TemporaryDirectory() as scratch:
            bench("SQLite", f"sqlite:///{Path(scratch) / 'bench.db'}", args)
        return
    if args.fresh:
        SQLITE_PATH.unlink(missing_ok=True)
    bench("SQLite", f"sqlite:///{SQLITE_PATH}", args)
    print(f"\nKept {SQLITE_PATH}")


def run_postgres(args: argparse.Namespace) -> None:
    name = args.database_name
    url = postgres_database(name, args.reuse, args.fresh)
    if url is None:
        return
    try:
        bench("PostgreSQL", url, args)
    finally:
        if args.keep or args.reuse:
            print(f"\nKept the database {name} (time it again with --reuse)")
        else:
            drop_postgres(name)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=20)
    parser.add_argument("--databases", default="postgresql", help="postgresql, sqlite or both")
    parser.add_argument("--database-url", help="bench this database (never dropped)")
    parser.add_argument("--database-name", default=DATABASE_NAME, help="the scratch database")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--reuse", action="store_true", help="time the data already there")
    parser.add_argument("--fresh", action="store_true", help="rebuild data kept earlier")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--explain", action="store_true")
    args = parser.parse_args()
    if args.cases < args.tenants or args.tenants < 1:
        parser.error("--cases must be at least --tenants, and --tenants at least 1")
    if args.reuse and args.fresh:
        parser.error("--reuse and --fresh exclude each other")
    if args.database_url:
        bench("Given database", args.database_url, args)
        return
    databases = set(args.databases.split(","))
    if "sqlite" in databases:
        run_sqlite(args)
    if "postgresql" in databases:
        run_postgres(args)


if __name__ == "__main__":
    main()
