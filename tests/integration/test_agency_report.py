"""The agency dashboard's figures, across clients: each table against a hand-computed
book of work on two EUR clients and one GBP client, two collectors, and the figures a
collector limited to one client would see; each table costs the same few queries
however much there is to add up."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    Case,
    DeclineOutcome,
    Frequency,
    Lawyer,
    LegalRequest,
    LegalRequestStatus,
    PaymentPlan,
    PlanStatus,
    PromiseStatus,
    Role,
    Stage,
    Tenant,
    User,
)
from portal.services import (
    agency_report,
    case_work,
    invoice_checks,
    legal_requests,
    payment_plans,
    payments,
    promises,
    stages,
)
from portal.services.agency_report import AgencyFilter
from portal.services.assignment import assign_cases
from portal.services.case_work import CallOutcome
from portal.services.invoice_checks import Answer
from portal.services.legal_requests import Estimate
from portal.services.payment_plans import PlanChoice
from portal.services.placement import place_case
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant, make_user, placement_request
from tests.querycount import counted_queries

TODAY = utcnow().date()
PERIOD_FROM, PERIOD_TO = agency_report.default_period(TODAY)
EARLIER = agency_report._month_start(TODAY, -2)  # two months ago, the 1st: in the period
BEFORE = PERIOD_FROM - timedelta(days=1)  # the day before the period


def at(day: date, hour: int = 10) -> datetime:
    return datetime.combine(day, time(hour), UTC)


@dataclass
class Book:
    acme: Tenant
    beta: Tenant
    pound: Tenant
    carla: User
    max: User
    admin: User
    limited: User
    cases: dict[str, Case]


def pay(session: Session, case: Case, amount: int, key: str, on: date) -> None:
    payments.record_payment(
        session, case, amount_minor=amount, event_key=key, paid_on=on, description=key
    )


def plan_for(session: Session, case: Case) -> PaymentPlan:
    choice = PlanChoice(instalments=2, frequency=Frequency.MONTHLY, start_on=TODAY + timedelta(14))
    plan = payment_plans.propose(session, case, choice, TODAY)
    assert plan.status is PlanStatus.AWAITING_FIRST_PAYMENT
    return plan


def start(session: Session, plan: PaymentPlan) -> None:
    payment_plans.first_payment_made(session, plan, customer_ref="cus_1", payment_method_ref="pm_1")


def call(session: Session, case: Case, who: User, outcome: CallOutcome, when: datetime) -> None:
    case_work.log_call(session, case, outcome=outcome, notes="", actor_id=who.id, now=when)


def propose_legal(
    session: Session, case: Case, lawyer: Lawyer, legal: User, fees: int
) -> LegalRequest:
    for step in ("send_reminder", "negotiate"):  # the stage machine moves every case
        stages.move(session, case, step, actor_id=legal.id, role=None)
    return legal_requests.propose(
        session, case, lawyer=lawyer, estimate=Estimate(fees // 2, fees - fees // 2, 0),
        note="", actor_id=legal.id, role=Role.LEGAL,
    )  # fmt: skip


def build_book(session: Session) -> Book:
    """EUR: acme (A1, A2, C3 in legal review, K1 under an invoice check) and beta (B1, B2,
    C4 in litigation, C5 declined back to negotiation); GBP: pound (G1)."""
    acme, beta = make_tenant(session, "acme"), make_tenant(session, "beta")
    pound = make_tenant(session, "pound", currency="GBP")
    carla, max_ = make_user(session, Role.COLLECTOR), make_user(session, Role.COLLECTOR)
    carla.name, max_.name = "Carla Collector", "Max Mustermann"
    admin, legal = make_user(session, Role.AGENCY_ADMIN), make_user(session, Role.LEGAL)
    limited = make_user(session, Role.COLLECTOR, limited_to=[acme])
    amounts = {"A1": (acme, 100_000), "A2": (acme, 50_000), "C3": (acme, 90_000),
               "B1": (beta, 80_000), "B2": (beta, 60_000), "C4": (beta, 40_000),
               "C5": (beta, 30_000), "G1": (pound, 70_000)}  # fmt: skip
    cases = {
        name: make_case(session, tenant, debtor_name=f"{name} Debtor", amounts=(amount,))
        for name, (tenant, amount) in amounts.items()
    }
    cases["K1"] = place_case(
        session, acme, placement_request("K1 Debtor", None, (20_000,), early_intervention=True)
    )
    assign_cases(session, [cases["A1"].id, cases["B1"].id, cases["G1"].id], carla.id,
                 actor_id=admin.id)  # fmt: skip
    assign_cases(session, [cases["A2"].id], max_.id, actor_id=admin.id)
    # Promises made before the money: A2's is kept by its payment, B1's and G1's broken.
    for name, who, amount in (("A2", max_, 20_000), ("B1", carla, 50_000), ("G1", carla, 10_000)):
        due = EARLIER + timedelta(3)
        promises.make_promise(session, cases[name], amount_minor=amount, due_on=due,
                              actor_id=who.id, today=EARLIER)  # fmt: skip
    # Payments: 15 % commission on each (the clients' standard amicable rate).
    pay(session, cases["A1"], 40_000, "a1", EARLIER)  # carla, commission 6,000
    pay(session, cases["B1"], 30_000, "b1", EARLIER)  # carla, 4,500
    pay(session, cases["A2"], 20_000, "a2", TODAY)  # max, 3,000
    pay(session, cases["A2"], 5_000, "a2-old", BEFORE)  # max, before the period: 750
    pay(session, cases["B2"], 10_000, "b2", TODAY)  # nobody's, 1,500
    pay(session, cases["G1"], 7_000, "g1", EARLIER)  # carla, GBP 1,050
    payments.reverse_payment(
        session,
        cases["A1"],
        payment_event_key="a1",
        amount_minor=10_000,
        event_key="a1-back",
        why="Chargeback",
        today=TODAY,
    )  # -1,500
    promises.make_promise(session, cases["A1"], amount_minor=5_000, due_on=TODAY,
                          actor_id=carla.id, today=TODAY)  # still open: due today  # fmt: skip
    promises.make_promise(session, cases["B2"], amount_minor=5_000, due_on=TODAY + timedelta(10),
                          actor_id=max_.id, today=TODAY)  # due after the period  # fmt: skip
    promises.mark_broken_promises(session, TODAY)
    # Calls: carla reaches A1 (and G1: contacts are not money, every currency counts),
    # not B1; max reaches A2 and B2, not A2 a second time, and K1's debtor answers his check.
    call(session, cases["A1"], carla, CallOutcome.SPOKE, at(EARLIER + timedelta(1)))
    call(session, cases["B1"], carla, CallOutcome.NO_ANSWER, at(EARLIER + timedelta(1), 11))
    call(session, cases["G1"], carla, CallOutcome.SPOKE, at(EARLIER + timedelta(1), 12))
    call(session, cases["A1"], carla, CallOutcome.SPOKE, at(BEFORE))  # before the period
    call(session, cases["A2"], max_, CallOutcome.SPOKE, at(EARLIER + timedelta(2)))
    call(session, cases["B2"], max_, CallOutcome.SPOKE, at(EARLIER + timedelta(2), 11))
    call(session, cases["A2"], max_, CallOutcome.NO_ANSWER, at(EARLIER + timedelta(3)))
    check = invoice_checks.check_of(session, cases["K1"])
    assert check is not None
    invoice_checks.record_answer(session, check, answer=Answer.CONFIRMED,
                                 expected_on=TODAY + timedelta(7), reason="", actor_id=max_.id,
                                 today=TODAY)  # fmt: skip
    # Legal: C3 waits for acme, beta approved C4 (litigation) and declined C5.
    lawyer = Lawyer(name="Dr. Anna Weber", firm="Weber & Partner", email="weber@law.example")
    session.add(lawyer)
    session.flush()
    propose_legal(session, cases["C3"], lawyer, legal, 125_000)
    approved = propose_legal(session, cases["C4"], lawyer, legal, 30_000)
    declined = propose_legal(session, cases["C5"], lawyer, legal, 10_000)
    legal_requests.decide(session, approved, approve=True, comment="", decline_outcome=None,
                          actor_id=admin.id)  # fmt: skip
    back = DeclineOutcome.BACK_TO_AMICABLE
    legal_requests.decide(session, declined, approve=False, comment="Too small",
                          decline_outcome=back, actor_id=admin.id)  # fmt: skip
    # Plans: A1 runs, B1 completed, B2 broken; G1 runs in GBP; A2 awaits its first payment.
    for name in ("A1", "B1", "B2", "G1"):
        start(session, plan := plan_for(session, cases[name]))
        if name == "B1":
            payment_plans.rest_paid(session, plan)
        elif name == "B2":
            payment_plans.break_plan(session, plan, TODAY, "Two instalments missed")
    plan_for(session, cases["A2"])
    session.commit()
    return Book(acme, beta, pound, carla, max_, admin, limited, cases)


@pytest.fixture
def book(session: Session) -> Book:
    with unscoped(session):
        built = build_book(session)
    session.expire_all()
    set_scope(session, built.admin.tenant_scope())
    return built


def eur() -> AgencyFilter:
    return AgencyFilter(PERIOD_FROM, PERIOD_TO, "EUR", TODAY)


def collected(rows: list[agency_report.Collected]) -> list[tuple[str, int, int, int, int]]:
    return [(r.name, r.payments, r.collected, r.commission, r.net_to_creditor) for r in rows]


# -- The figures --------------------------------------------------------------------------


def test_collected_per_collector(session: Session, book: Book) -> None:
    rows = agency_report.collected_per_collector(session, eur())
    assert collected(rows) == [
        # A1 40,000 less 10,000 given back, B1 30,000; commission 6,000 - 1,500 + 4,500
        ("Carla Collector", 2, 60_000, 9_000, 51_000),
        ("Max Mustermann", 1, 20_000, 3_000, 17_000),  # A2's payment before the period left out
        ("Unassigned", 1, 10_000, 1_500, 8_500),
    ]
    assert [row.key for row in rows] == [book.carla.id, book.max.id, None]
    gbp = AgencyFilter(PERIOD_FROM, PERIOD_TO, "GBP", TODAY)
    assert collected(agency_report.collected_per_collector(session, gbp)) == [
        ("Carla Collector", 1, 7_000, 1_050, 5_950)
    ]


def test_collected_per_client(session: Session, book: Book) -> None:
    rows = agency_report.collected_per_client(session, eur())
    assert collected(rows) == [
        ("Acme Ltd", 2, 50_000, 7_500, 42_500),  # 40,000 - 10,000 + 20,000
        ("Beta Ltd", 2, 40_000, 6_000, 34_000),  # 30,000 + 10,000
    ]
    assert [row.key for row in rows] == [book.acme.id, book.beta.id]


def test_a_shorter_period_leaves_out_what_came_before(session: Session, book: Book) -> None:
    this_month = AgencyFilter(TODAY.replace(day=1), TODAY, "EUR", TODAY)
    assert collected(agency_report.collected_per_client(session, this_month)) == [
        ("Acme Ltd", 1, 10_000, 1_500, 8_500),  # A2's 20,000 less A1's 10,000 given back
        ("Beta Ltd", 1, 10_000, 1_500, 8_500),
    ]


def test_commission_per_month_is_zero_filled(session: Session, book: Book) -> None:
    months = agency_report.commission_per_month(session, eur())
    assert len(months) == 12
    assert months[0].first_day == PERIOD_FROM and months[-1].first_day == TODAY.replace(day=1)
    figures = {m.first_day: (m.collected, m.commission) for m in months}
    assert figures.pop(EARLIER) == (70_000, 10_500)  # A1 and B1
    assert figures.pop(TODAY.replace(day=1)) == (20_000, 3_000)  # A2 and B2 less A1's reversal
    assert set(figures.values()) == {(0, 0)}


def test_a_period_from_mid_month_counts_that_month_from_its_first_day_in(
    session: Session, book: Book
) -> None:
    mid = AgencyFilter(EARLIER + timedelta(days=1), TODAY, "EUR", TODAY)
    months = agency_report.commission_per_month(session, mid)
    assert len(months) == 3
    assert months[0].first_day == EARLIER and months[0].days[0] == EARLIER + timedelta(days=1)
    assert (months[0].collected, months[0].commission) == (0, 0)  # A1 and B1 paid on the 1st
    assert (months[-1].collected, months[-1].commission) == (20_000, 3_000)
    assert months[-1].days == (TODAY.replace(day=1), TODAY)


def test_promises_kept_and_broken_per_collector(session: Session, book: Book) -> None:
    lines = agency_report.promises_per_collector(session, eur())
    kept, broken, still = PromiseStatus.KEPT, PromiseStatus.BROKEN, PromiseStatus.OPEN
    table = [
        (line.name, line.count(kept), line.count(broken), line.count(still),
         line.amount(kept), line.amount(broken), line.amount(still), line.kept_rate)
        for line in lines
    ]  # fmt: skip
    assert table == [
        ("Carla Collector", 0, 1, 1, 0, 50_000, 5_000, 0.0),  # G1's broken one is in GBP
        ("Max Mustermann", 1, 0, 0, 20_000, 0, 0, 1.0),  # B2's is due after the period
    ]
    total = agency_report.promise_totals(lines)
    assert (total.count(kept), total.count(broken), total.count(still)) == (1, 1, 1)
    assert total.kept_rate == 0.5


def test_right_party_contacts_per_collector(session: Session, book: Book) -> None:
    rows = agency_report.contacts_per_collector(session, eur())
    assert [(r.name, r.calls, r.right_party) for r in rows] == [
        ("Max Mustermann", 4, 3),  # A2 and B2 spoken to, K1's check answered; one no answer
        ("Carla Collector", 3, 2),  # A1 and G1 (any currency); B1 no answer; one call before
    ]
    assert rows[0].rate == 0.75


def test_cases_per_stage_with_a_column_per_client(session: Session, book: Book) -> None:
    rows = agency_report.stage_rows(session)
    assert agency_report.currencies_in(rows) == ["EUR", "GBP"]  # 9 cases in EUR, 1 in GBP
    table = agency_report.cases_per_stage(rows, "EUR")
    assert table.clients == [(book.acme.id, "Acme Ltd"), (book.beta.id, "Beta Ltd")]
    acme, beta = book.acme.id, book.beta.id
    assert [
        (line.stage, line.cases, line.outstanding, line.per_client) for line in table.lines
    ] == [
        # A1 100,000 - 30,000 and A2 50,000 - 25,000; B1 80,000 - 30,000 and B2 60,000 - 10,000
        (Stage.PLACED, 4, 195_000, {acme: (2, 95_000), beta: (2, 100_000)}),
        (Stage.CHECK, 1, 20_000, {acme: (1, 20_000)}),
        (Stage.NEGOTIATION, 1, 30_000, {beta: (1, 30_000)}),
        (Stage.LEGAL_REVIEW, 1, 90_000, {acme: (1, 90_000)}),
        (Stage.LITIGATION, 1, 40_000, {beta: (1, 40_000)}),
    ]
    assert (table.cases, table.outstanding, table.open_cases()) == (8, 375_000, 8)
    gbp = agency_report.cases_per_stage(rows, "GBP")
    assert [(line.stage, line.cases, line.outstanding) for line in gbp.lines] == [
        (Stage.PLACED, 1, 63_000)
    ]


def test_legal_pipeline(session: Session, book: Book) -> None:
    rows = agency_report.stage_rows(session)
    pipeline = agency_report.legal_pipeline(session, eur(), rows)
    assert [(r.status, r.requests, r.estimate, r.outstanding) for r in pipeline.requests] == [
        (LegalRequestStatus.AWAITING_CREDITOR, 1, 125_000, 90_000),
        (LegalRequestStatus.APPROVED, 1, 30_000, 40_000),
        (LegalRequestStatus.DECLINED, 1, 10_000, 30_000),
    ]
    assert [(line.stage, line.cases, line.outstanding) for line in pipeline.stages] == [
        (Stage.LEGAL_REVIEW, 1, 90_000),
        (Stage.LITIGATION, 1, 40_000),
        (Stage.JUDGMENT, 0, 0),
        (Stage.ENFORCEMENT, 0, 0),
    ]
    assert (pipeline.cases, pipeline.outstanding) == (2, 130_000)
    earlier = AgencyFilter(PERIOD_FROM, TODAY - timedelta(days=1), "EUR", TODAY)
    before_today = agency_report.legal_pipeline(session, earlier, rows)
    # Decided today, so not in a period that ends yesterday; waiting counts whatever the period.
    assert [r.requests for r in before_today.requests] == [1, 0, 0]


def test_instalment_plans(session: Session, book: Book) -> None:
    plans = agency_report.plans_by_status(session, eur())
    assert [(p.status, p.plans, p.total, p.outstanding) for p in plans] == [
        (PlanStatus.ACTIVE, 1, 70_000, 70_000),  # A1 (G1's runs in GBP, A2's has not started)
        (PlanStatus.COMPLETED, 1, 50_000, 50_000),  # B1
        (PlanStatus.BROKEN, 1, 50_000, 50_000),  # B2
    ]


def test_the_whole_report_adds_up(session: Session, book: Book) -> None:
    report = agency_report.build_report(session, eur(), agency_report.stage_rows(session))
    assert (report.collected, report.commission) == (90_000, 13_500)
    assert sum(row.collected for row in report.collectors) == report.collected
    assert sum(month.commission for month in report.months) == report.commission
    assert (report.calls, report.right_party_contacts) == (7, 5)


# -- Scoping ------------------------------------------------------------------------------


def test_a_collector_limited_to_one_client_sees_only_its_figures(
    session: Session, book: Book
) -> None:
    """Agency admins always see every client; the tables go through the tenant scope, so
    the same functions for staff limited to acme add up acme's figures only."""
    assert book.limited.tenant_scope() == TenantScope.only(book.acme.id)
    set_scope(session, book.limited.tenant_scope())
    assert collected(agency_report.collected_per_collector(session, eur())) == [
        ("Carla Collector", 1, 30_000, 4_500, 25_500),
        ("Max Mustermann", 1, 20_000, 3_000, 17_000),
    ]
    assert collected(agency_report.collected_per_client(session, eur())) == [
        ("Acme Ltd", 2, 50_000, 7_500, 42_500)
    ]
    rows = agency_report.stage_rows(session)
    assert {row.tenant_id for row in rows} == {book.acme.id}
    assert agency_report.currencies_in(rows) == ["EUR"]
    assert [(r.name, r.calls, r.right_party) for r in agency_report.contacts_per_collector(
        session, eur())] == [("Max Mustermann", 3, 2), ("Carla Collector", 1, 1)]  # fmt: skip
    lines = agency_report.promises_per_collector(session, eur())
    assert [(line.name, line.count(PromiseStatus.BROKEN)) for line in lines] == [
        ("Carla Collector", 0),
        ("Max Mustermann", 0),
    ]
    pipeline = agency_report.legal_pipeline(session, eur(), rows)
    assert [r.requests for r in pipeline.requests] == [1, 0, 0]
    assert [p.plans for p in agency_report.plans_by_status(session, eur())] == [1, 0, 0]


# -- The filter ---------------------------------------------------------------------------


def test_the_default_filter_is_the_last_twelve_months_in_the_most_common_currency() -> None:
    filters, problems = agency_report.read_filter({}, today=date(2025, 6, 15),
                                                  currencies=["GBP", "EUR"])  # fmt: skip
    assert problems == []
    assert filters == AgencyFilter(date(2024, 7, 1), date(2025, 6, 15), "GBP", date(2025, 6, 15))
    january = agency_report.default_period(date(2025, 1, 31))
    assert january == (date(2024, 2, 1), date(2025, 1, 31))
    nothing, _ = agency_report.read_filter({}, today=date(2025, 6, 15), currencies=[])
    assert nothing.currency == "EUR"


def test_a_good_filter_is_taken_as_given() -> None:
    args = {"from": "2025-01-01", "to": "2025-03-31", "currency": "eur"}
    filters, problems = agency_report.read_filter(args, today=date(2025, 6, 15),
                                                  currencies=["GBP", "EUR"])  # fmt: skip
    assert problems == []
    assert filters == AgencyFilter(date(2025, 1, 1), date(2025, 3, 31), "EUR", date(2025, 6, 15))


@pytest.mark.parametrize(
    ("args", "problem", "expected"),
    [
        ({"from": "yesterday"},
         "“yesterday” is not a date (YYYY-MM-DD); the default start is used.",
         (date(2024, 7, 1), date(2025, 6, 15))),
        ({"to": "2025-02-30"},
         "“2025-02-30” is not a date (YYYY-MM-DD); the default end is used.",
         (date(2024, 7, 1), date(2025, 6, 15))),
        ({"from": "1999-12-31"},
         "The start must be between 2000 and 2099; the default start is used.",
         (date(2024, 7, 1), date(2025, 6, 15))),
        ({"from": "2025-01-01", "to": "9999-12-31"},
         "The end must be between 2000 and 2099; the default end is used.",
         (date(2025, 1, 1), date(2025, 6, 15))),
        ({"from": "2025-05-01", "to": "2025-04-01"},
         "The period starts after it ends; showing the last 12 months.",
         (date(2024, 7, 1), date(2025, 6, 15))),
        ({"from": "2020-01-01", "to": "2023-01-01"},
         "A period covers at most 36 months; showing the last 12 months.",
         (date(2024, 7, 1), date(2025, 6, 15))),
    ],
)  # fmt: skip
def test_a_bad_date_is_reported_and_the_default_used(
    args: dict[str, str], problem: str, expected: tuple[date, date]
) -> None:
    filters, problems = agency_report.read_filter(args, today=date(2025, 6, 15),
                                                  currencies=["EUR"])  # fmt: skip
    assert problems == [problem]
    assert (filters.period_from, filters.period_to) == expected


@pytest.mark.parametrize(
    ("currency", "problem"),
    [
        ("EURO", "“EURO” is not a currency code; showing EUR."),
        ("<b>x</b>", "“<b>x</b>” is not a currency code; showing EUR."),
        ("JPY", "There are no cases in JPY; showing EUR."),
    ],
)
def test_a_bad_currency_is_reported_and_the_default_used(currency: str, problem: str) -> None:
    args, today = {"currency": currency}, date(2025, 6, 15)
    filters, problems = agency_report.read_filter(args, today=today, currencies=["EUR"])
    assert problems == [problem]
    assert filters.currency == "EUR"


# -- Queries ------------------------------------------------------------------------------

TABLES: dict[str, Callable[[Session, AgencyFilter], object]] = {
    "collected_per_collector": agency_report.collected_per_collector,
    "collected_per_client": agency_report.collected_per_client,
    "commission_per_month": agency_report.commission_per_month,
    "promises_per_collector": agency_report.promises_per_collector,
    "contacts_per_collector": agency_report.contacts_per_collector,
    "stage_rows": lambda session, _filters: agency_report.stage_rows(session),
    "legal_pipeline": lambda session, filters: agency_report.legal_pipeline(session, filters, []),
    "plans_by_status": agency_report.plans_by_status,
}


def queries(statements: list[str]) -> list[str]:
    """The statements that read, without the test transaction's savepoints."""
    savepoints = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
    return [s for s in statements if not s.startswith(savepoints)]


def query_counts(app: Flask, session: Session) -> dict[str, int]:
    counts = {}
    for name, table in TABLES.items():
        session.expire_all()
        with counted_queries(app.extensions["portal.engine"]) as statements:
            table(session, eur())
        counts[name] = len(queries(statements))
    return counts


def more_of_everything(session: Session, book: Book) -> None:
    """A third collector and client, more cases, payments, promises, calls and plans."""
    with unscoped(session):
        gamma = make_tenant(session, "gamma")
        third = make_user(session, Role.COLLECTOR)
        for number in range(6):
            case = make_case(session, (gamma, book.acme, book.beta)[number % 3],
                             amounts=(30_000 + number * 1_000,))  # fmt: skip
            assign_cases(session, [case.id], third.id, actor_id=book.admin.id)
            promises.make_promise(session, case, amount_minor=1_000, due_on=EARLIER,
                                  actor_id=third.id, today=EARLIER)  # fmt: skip
            pay(session, case, 2_000 + number, f"more-{number}", EARLIER + timedelta(number * 31))
            call(session, case, third, CallOutcome.SPOKE, at(EARLIER))
            start(session, plan_for(session, case))
        session.commit()
    session.expire_all()


def test_every_table_costs_one_query_however_many_rows(
    app: Flask, session: Session, book: Book
) -> None:
    few = query_counts(app, session)
    assert few == dict.fromkeys(TABLES, 1)
    more_of_everything(session, book)
    assert query_counts(app, session) == few
    report = agency_report.build_report(session, eur(), agency_report.stage_rows(session))
    assert len(report.collectors) == 4 and len(report.clients) == 3


def test_the_whole_report_costs_four_queries(app: Flask, session: Session, book: Book) -> None:
    def whole() -> int:
        session.expire_all()
        with counted_queries(app.extensions["portal.engine"]) as statements:
            rows = agency_report.stage_rows(session)
            agency_report.build_report(session, eur(), rows)
        return len(queries(statements))

    few = whole()
    more_of_everything(session, book)
    assert whole() == few == 4  # stage rows, ledger, promises plans and requests, calls
