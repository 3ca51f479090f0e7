"""Why accounts go unpaid: disputes, warning signs, delay before placement, repeat debtors."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from portal.models import Case, DebtorKind, Party, Stage, Tenant
from portal.services import disputes, rollups, unpaid_insights
from portal.services.case_lists import CaseFilter, find_cases
from portal.services.disputes import Resolution
from portal.services.payments import record_payment
from portal.services.placement import DebtorDetails, InvoiceDetails, WarningSign, place_case
from portal.services.portfolio_report import ReportFilter, Totals
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_tenant, placement_request
from tests.querycount import counted_queries

TODAY = date(2026, 6, 15)


def plain(label: str) -> str:
    return label.replace("\N{EN DASH}", "-")


EUR = ReportFilter(currency="EUR", today=TODAY)
_numbers = iter(range(1, 10_000))
CALLS, ORDERS = WarningSign.NOT_RETURNING_CALLS, WarningSign.FALLING_ORDERS


def business(name: str, registration: str | None = None) -> DebtorDetails:
    return DebtorDetails(kind=DebtorKind.BUSINESS, name=name, registration_number=registration)


def person(name: str, email: str) -> DebtorDetails:
    return DebtorDetails(kind=DebtorKind.PERSON, name=name, email=email)


def place(
    session: Session,
    tenant: Tenant,
    debtor: DebtorDetails,
    *,
    amount: int,
    due: date,
    placed: date,
    signs: frozenset[WarningSign] = frozenset(),
) -> Case:
    """Placed on ``placed`` (so the over-90-days sign is worked out on that day)."""
    number = next(_numbers)
    invoice = InvoiceDetails(f"U{number}", due - timedelta(days=30), due, amount)
    request = placement_request(debtor=debtor, invoices=(invoice,), warning_signs=signs)
    when = datetime(placed.year, placed.month, placed.day, 10, tzinfo=UTC)
    return place_case(session, tenant, request, today=placed, placed_at=when)


def pay(session: Session, case: Case, amount: int) -> None:
    record_payment(session, case, amount_minor=amount, event_key=f"u-{case.id}-{amount}",
                   paid_on=TODAY, description="Transfer")  # fmt: skip


def dispute(
    session: Session, case: Case, reason: str, resolution: Resolution | None = None, **extra
) -> None:
    opened = disputes.open_dispute(session, case, raised_by=Party.DEBTOR, reason=reason,
                                   actor_id=None, role=None, today=TODAY)  # fmt: skip
    if resolution is not None:
        disputes.resolve(session, opened, resolution=resolution, comment="Decided on the papers",
                         actor_id=None, role=None, today=TODAY, **extra)  # fmt: skip


@pytest.fixture
def world(session: Session) -> dict:
    """Six euro cases of Acme (and a look-alike at another tenant).

    ====  =============================  ========  ==========  ==========  =====  =========
    case  debtor                         placed €  due         placed on   delay  collected
    ====  =============================  ========  ==========  ==========  =====  =========
    P1    Keller Bau GmbH, HRB 12345     1,000     2026-05-01  2026-05-11  10     1,000
    P2    Keller Bau (Berlin), hrb-12345 2,000     2026-03-01  2026-04-30  60     500
    P3    Harbour Cafe Ltd               3,000     2025-12-01  2026-04-01  121    300
    P4    HARBOUR CAFE LTD               4,000     2025-06-01  2026-02-01  245    0
    P5    Anna Berg (person)             5,000     2024-12-01  2026-01-05  400    100
    P6    A. Berg, same e-mail           500       2026-06-01  2026-06-01  0      0
    ====  =============================  ========  ==========  ==========  =====  =========

    Signs ticked: P1 calls; P2 calls and orders; P3 orders. P3, P4 and P5 were more than
    90 days past due when placed.
    """
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        p1 = place(
            session,
            acme,
            business("Keller Bau GmbH", "HRB 12345"),
            amount=100_000,
            due=date(2026, 5, 1),
            placed=date(2026, 5, 11),
            signs=frozenset({CALLS}),
        )
        p2 = place(
            session,
            acme,
            business("Keller Bau (Berlin)", "hrb-12345"),
            amount=200_000,
            due=date(2026, 3, 1),
            placed=date(2026, 4, 30),
            signs=frozenset({CALLS, ORDERS}),
        )
        p3 = place(
            session,
            acme,
            business("Harbour Cafe Ltd"),
            amount=300_000,
            due=date(2025, 12, 1),
            placed=date(2026, 4, 1),
            signs=frozenset({ORDERS}),
        )
        p4 = place(
            session,
            acme,
            business("HARBOUR CAFE LTD"),
            amount=400_000,
            due=date(2025, 6, 1),
            placed=date(2026, 2, 1),
        )
        p5 = place(
            session,
            acme,
            person("Anna Berg", "anna.berg@example.com"),
            amount=500_000,
            due=date(2024, 12, 1),
            placed=date(2026, 1, 5),
        )
        p6 = place(
            session,
            acme,
            person("A. Berg", "Anna.Berg@example.com"),
            amount=50_000,
            due=date(2026, 6, 1),
            placed=date(2026, 6, 1),
        )
        theirs = place(
            session,
            other,
            business("Keller Bau GmbH", "HRB 12345"),
            amount=900_000,
            due=date(2026, 5, 1),
            placed=date(2026, 5, 11),
            signs=frozenset({CALLS}),
        )
        pay(session, p1, 100_000)
        pay(session, p2, 50_000)
        pay(session, p3, 30_000)
        pay(session, p5, 10_000)
        dispute(session, p2, "Goods never delivered", Resolution.REJECT)
        dispute(session, p3, "  goods never delivered ", Resolution.ADJUST, amount_minor=10_000)
        dispute(session, p4, "Invoice already paid")
        dispute(session, p5, "Goods never delivered", Resolution.WITHDRAW)
        dispute(session, p6, "Invoice already paid", Resolution.REJECT)
        dispute(session, p6, "Wrong amount")
        dispute(session, theirs, "Goods never delivered")
        session.flush()
    set_scope(session, TenantScope.only(acme.id))
    return {"acme": acme, "other": other, "cases": (p1, p2, p3, p4, p5, p6)}  # fmt: skip


def test_warning_signs_against_recovery(session: Session, world) -> None:
    signs = unpaid_insights.build(session, EUR).signs
    assert [(row.sign, row.totals.count, row.totals.placed, row.totals.collected)
            for row in signs] == [
        ("over_90_days_past_due", 3, 1_200_000, 40_000),
        ("falling_orders", 2, 500_000, 80_000),
        ("not_returning_calls", 2, 300_000, 150_000),
        ("none", 1, 50_000, 0),
    ]  # fmt: skip
    assert signs[2].totals.recovery_rate == pytest.approx(0.5)
    assert signs[0].label == "More than 90 days past due"
    assert signs[2].label == "Not returning calls or e-mails"
    assert signs[3].label == "No warning sign noted"


def test_delay_before_placement_against_recovery(session: Session, world) -> None:
    delays = unpaid_insights.build(session, EUR).delays
    assert [(plain(row.label), row.totals.count, row.totals.placed, row.totals.collected)
            for row in delays] == [
        ("0-30 days", 2, 150_000, 100_000),
        ("31-90 days", 1, 200_000, 50_000),
        ("91-180 days", 1, 300_000, 30_000),
        ("181-365 days", 1, 400_000, 0),
        ("365+ days", 1, 500_000, 10_000),
    ]  # fmt: skip


def test_dispute_outcomes_and_reasons(session: Session, world) -> None:
    insights = unpaid_insights.build(session, EUR)
    assert [(row.key, row.disputes) for row in insights.outcomes] == [
        ("open", 2),
        ("adjust", 1),
        ("withdraw", 1),
        ("reject", 2),
    ]
    assert insights.disputes == 6
    assert [
        (row.key, row.reason.lower(), row.disputes, row.open, row.upheld, row.rejected)
        for row in insights.reasons
    ] == [
        ("goods never delivered", "goods never delivered", 3, 0, 2, 1),
        ("invoice already paid", "invoice already paid", 2, 1, 0, 1),
        ("wrong amount", "wrong amount", 1, 1, 0, 0),
    ]
    assert world["cases"][4].stage is Stage.CLOSED  # withdrawn when the dispute was upheld


def test_debtors_placed_more_than_once(session: Session, world) -> None:
    debtors = unpaid_insights.build(session, EUR).repeat_debtors
    assert [(row.key, row.totals.count, row.totals.placed, row.totals.collected)
            for row in debtors] == [
        ("name:harbour cafe ltd", 2, 700_000, 30_000),
        ("email:anna.berg@example.com", 2, 550_000, 10_000),
        ("reg:HRB12345", 2, 300_000, 150_000),
    ]  # fmt: skip
    assert [(row.identified_by, row.identifier) for row in debtors] == [
        ("name", "harbour cafe ltd"),
        ("e-mail address", "anna.berg@example.com"),
        ("registration number", "HRB12345"),
    ]
    assert debtors[2].name in {"Keller Bau GmbH", "Keller Bau (Berlin)"}


def test_the_period_and_currency_narrow_every_figure(session: Session, world) -> None:
    april = ReportFilter("EUR", TODAY, placed_from=date(2026, 4, 1), placed_to=date(2026, 4, 30))
    insights = unpaid_insights.build(session, april)  # P2 and P3
    assert [row.sign for row in insights.signs] == [
        "falling_orders", "not_returning_calls", "over_90_days_past_due"
    ]  # fmt: skip
    assert [row.totals.count for row in insights.delays] == [0, 1, 1, 0, 0]
    assert [(row.key, row.disputes) for row in insights.outcomes] == [("adjust", 1), ("reject", 1)]
    assert insights.repeat_debtors == []
    pounds = unpaid_insights.build(session, ReportFilter("GBP", TODAY))
    assert (pounds.signs, pounds.outcomes, pounds.reasons, pounds.repeat_debtors) == (
        [],
        [],
        [],
        [],
    )
    assert [row.totals for row in pounds.delays] == [Totals()] * 5


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        ({"dispute": "upheld_any", "dispute_reason": "goods never delivered"}, {3, 5}),
        ({"dispute": "reject"}, {2, 6}),
        ({"dispute": "open"}, {4, 6}),
        ({"dispute": "any", "dispute_reason": "invoice already paid"}, {4, 6}),
        ({"warning_sign": "falling_orders"}, {2, 3}),
        ({"warning_sign": "over_90_days_past_due"}, {3, 4, 5}),
        ({"warning_sign": "none"}, {6}),
        ({"warning_sign": "no_such_sign"}, set()),
        ({"max_delay_days": 30}, {1, 6}),
        ({"min_delay_days": 181, "max_delay_days": 365}, {4}),
        ({"min_delay_days": 366}, {5}),
        ({"debtor_key": "email:anna.berg@example.com"}, {5, 6}),
        ({"debtor_key": "reg:HRB12345"}, {1, 2}),  # not the other tenant's look-alike
        ({"debtor_key": "name:harbour cafe ltd"}, {3, 4}),
        ({"paid_from": TODAY, "paid_to": TODAY}, {1, 2, 3, 5}),
        ({"paid_to": TODAY - timedelta(days=1)}, set()),
    ],
)
def test_the_case_lists_behind_the_figures(
    session: Session, world, criteria: dict, expected: set[int]
) -> None:
    """Each figure's link opens the case list with the same criterion: the same cases."""
    number = {case.id: index for index, case in enumerate(world["cases"], start=1)}
    page = find_cases(session, CaseFilter(currency="EUR", **criteria))
    assert {number[row.case.id] for row in page.rows} == expected


def test_another_tenant_sees_only_its_own(session: Session, world) -> None:
    set_scope(session, TenantScope.only(world["other"].id))
    insights = unpaid_insights.build(session, EUR)
    assert [(row.sign, row.totals.count) for row in insights.signs] == [("not_returning_calls", 1)]
    assert [(row.key, row.disputes) for row in insights.outcomes] == [("open", 1)]
    assert insights.repeat_debtors == []


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, 0), (30, 0), (31, 1), (90, 1), (91, 2), (180, 2), (181, 3), (365, 3), (366, 4)],
)
def test_delay_bucket_edges(session: Session, days: int, bucket: int) -> None:
    with unscoped(session):
        tenant = make_tenant(session)
        place(session, tenant, business("Edge GmbH"), amount=1_000,
              due=TODAY - timedelta(days=days), placed=TODAY)  # fmt: skip
    set_scope(session, TenantScope.only(tenant.id))
    counts = [row.totals.count for row in unpaid_insights.build(session, EUR).delays]
    assert counts == [1 if index == bucket else 0 for index in range(5)]


@pytest.mark.parametrize("count", [3, 30])
def test_query_count_does_not_grow_with_the_portfolio(session: Session, count: int) -> None:
    with unscoped(session):
        tenant = make_tenant(session)
        for number in range(count):
            case = place(
                session,
                tenant,
                business(f"Repeat {number % 4} GmbH"),
                amount=10_000 + number,
                due=TODAY - timedelta(days=number * 13),
                placed=TODAY,
                signs=frozenset(list(WarningSign)[: number % 3]),
            )
            if number % 2:
                dispute(session, case, f"Reason {number % 5}")  # fmt: skip
        session.flush()
        rollups.write_pending(session)  # as committing would: only the page's reads are counted
    set_scope(session, TenantScope.only(tenant.id))
    session.expire_all()
    with counted_queries(session.get_bind()) as statements:
        insights = unpaid_insights.build(session, EUR)
    assert sum(row.totals.count for row in insights.delays) == count
    assert len(statements) == 4
