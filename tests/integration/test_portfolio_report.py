"""The creditor's dashboard figures, against a portfolio worked out by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from portal.models import Case, HoldReason, Stage, Tenant
from portal.services import portfolio_report, stages
from portal.services.payments import record_payment, reverse_payment
from portal.services.placement import InvoiceDetails, place_case
from portal.services.portfolio_report import ReportFilter, Totals
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_tenant, placement_request
from tests.querycount import counted_queries

TODAY = date(2026, 6, 15)


def plain(label: str) -> str:
    """A bucket's label with a hyphen where it has an en dash."""
    return label.replace("\N{EN DASH}", "-")


_refs = iter(range(1, 10_000))


def _at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC)


def place(
    session: Session,
    tenant: Tenant,
    *,
    due: tuple[date, ...],
    amounts: tuple[int, ...],
    placed: datetime,
    currency: str | None = None,
    name: str | None = None,
) -> Case:
    number = next(_refs)
    invoices = tuple(
        InvoiceDetails(f"R{number}-{i}", due_date - timedelta(days=30), due_date, amount)
        for i, (due_date, amount) in enumerate(zip(due, amounts, strict=True))
    )
    request = placement_request(name, invoices=invoices, currency=currency)
    return place_case(session, tenant, request, today=TODAY, placed_at=placed)


def pay(session: Session, case: Case, amount: int, on: date) -> str:
    key = f"pay-{case.id}-{amount}-{on}"
    record_payment(
        session, case, amount_minor=amount, event_key=key, paid_on=on, description="Transfer"
    )
    return key


def move(session: Session, case: Case, *steps: str) -> None:
    for step in steps:
        hold = HoldReason.INSOLVENCY if step == "hold" else None
        stages.move(
            session, case, step, actor_id=None, role=None, why="Test step", hold_reason=hold
        )


@pytest.fixture
def portfolio(session: Session) -> dict:
    """Acme (EUR) with five euro cases and one in pounds; another tenant beside it.

    ======  ===========  ==========  ===========  ==============  =========  ==========
    case    placed (€)   oldest due  placed on    stage           collected  owed
    ======  ===========  ==========  ===========  ==============  =========  ==========
    A       1,000.00     2026-06-01  2026-06-05   placed          300.00     700.00
    B       750.00       2026-04-20  2026-05-02   reminder        60.00      690.00
    C       2,000.00     2026-01-01  2026-03-01   closed (paid)   2,000.00   0.00
    D       400.00       2025-10-01  2026-02-10   demand          0.00       400.00
    E       600.00       2026-03-20  2026-04-01   on hold         50.00      550.00
    ======  ===========  ==========  ===========  ==============  =========  ==========

    B was paid 100.00 on 20 May, 40.00 of it refunded on 2 June. Days past due on 15 June:
    A 14, B 56, D 257, E 87 (C is closed).
    """
    with unscoped(session):
        acme = make_tenant(session, "acme")
        other = make_tenant(session, "other")
        a = place(
            session, acme, due=(date(2026, 6, 1),), amounts=(100_000,), placed=_at(date(2026, 6, 5))
        )
        b = place(
            session,
            acme,
            due=(date(2026, 5, 1), date(2026, 4, 20)),
            amounts=(25_000, 50_000),
            placed=_at(date(2026, 5, 2), 23, 59),
        )
        c = place(
            session, acme, due=(date(2026, 1, 1),), amounts=(200_000,), placed=_at(date(2026, 3, 1))
        )
        d = place(
            session,
            acme,
            due=(date(2025, 10, 1),),
            amounts=(40_000,),
            placed=_at(date(2026, 2, 10)),
        )
        e = place(
            session,
            acme,
            due=(date(2026, 3, 20),),
            amounts=(60_000,),
            placed=_at(date(2026, 4, 1), 0, 0),
        )
        pounds = place(
            session,
            acme,
            due=(date(2026, 5, 1),),
            amounts=(70_000,),
            placed=_at(date(2026, 5, 5)),
            currency="GBP",
        )
        theirs = place(
            session,
            other,
            due=(date(2026, 5, 1),),
            amounts=(999_000,),
            placed=_at(date(2026, 5, 5)),
        )
        pay(session, a, 30_000, date(2026, 6, 10))
        refunded = pay(session, b, 10_000, date(2026, 5, 20))
        reverse_payment(
            session,
            b,
            payment_event_key=refunded,
            amount_minor=4_000,
            event_key="refund-b",
            why="Refund",
            today=date(2026, 6, 2),
        )
        pay(session, c, 200_000, date(2026, 4, 15))  # paid in full: the case closes
        pay(session, e, 5_000, date(2026, 4, 30))
        pay(session, pounds, 20_000, date(2026, 6, 1))
        pay(session, theirs, 111_000, date(2026, 6, 1))
        move(session, b, "send_reminder")
        move(session, d, "send_reminder", "send_demand")
        move(session, e, "hold")
        session.flush()
    set_scope(session, TenantScope.only(acme.id))
    return {"acme": acme, "other": other, "cases": (a, b, c, d, e)}  # fmt: skip


def test_headline_stages_and_ageing(session: Session, portfolio) -> None:
    report = portfolio_report.build(session, ReportFilter(currency="EUR", today=TODAY))
    assert portfolio["cases"][2].stage is Stage.CLOSED
    assert report.headline == Totals(
        count=5, placed=475_000, collected=241_000, outstanding=234_000
    )
    assert report.headline.recovery_rate == pytest.approx(241_000 / 475_000)
    assert [(row.stage, row.totals) for row in report.stages] == [
        (Stage.PLACED, Totals(1, 100_000, 30_000, 70_000)),
        (Stage.REMINDER, Totals(1, 75_000, 6_000, 69_000)),
        (Stage.DEMAND, Totals(1, 40_000, 0, 40_000)),
        (Stage.ON_HOLD, Totals(1, 60_000, 5_000, 55_000)),
        (Stage.CLOSED, Totals(1, 200_000, 200_000, 0)),
    ]
    assert [(plain(row.bucket.label), row.count, row.outstanding) for row in report.ageing] == [
        ("0-30", 1, 70_000),
        ("31-60", 1, 69_000),
        ("61-90", 1, 55_000),
        ("91-180", 0, 0),
        ("180+", 1, 40_000),
    ]
    assert report.open_outstanding == 234_000
    assert report.currencies == ["EUR", "GBP"]


def test_collected_per_month_is_net_of_refunds_and_zero_filled(session: Session, portfolio) -> None:
    report = portfolio_report.build(session, ReportFilter(currency="EUR", today=TODAY))
    months = {row.first: row.collected for row in report.months}
    assert list(months) == [date(2025, 7, 1) + relativedelta(months=n) for n in range(12)]
    assert months == {
        **dict.fromkeys(months, 0),
        date(2026, 4, 1): 205_000,  # C in full, E in part
        date(2026, 5, 1): 10_000,  # B
        date(2026, 6, 1): 26_000,  # A, less B's refund
    }
    assert report.months[-1].last == TODAY  # the month under way ends today
    assert report.months[0].label == "Jul 25"


def test_pounds_are_counted_apart(session: Session, portfolio) -> None:
    report = portfolio_report.build(session, ReportFilter(currency="GBP", today=TODAY))
    assert report.headline == Totals(1, 70_000, 20_000, 50_000)
    assert {row.first: row.collected for row in report.months}[date(2026, 6, 1)] == 20_000
    assert [(plain(row.bucket.label), row.count) for row in report.ageing if row.count] == [
        ("31-60", 1)
    ]


def test_placement_period_bounds_are_whole_days(session: Session, portfolio) -> None:
    """E was placed at midnight on 1 April, B one minute before midnight on 2 May."""
    period = ReportFilter(
        currency="EUR", today=TODAY, placed_from=date(2026, 4, 1), placed_to=date(2026, 5, 2)
    )
    report = portfolio_report.build(session, period)
    assert report.headline == Totals(2, 135_000, 11_000, 124_000)
    assert [row.stage for row in report.stages] == [Stage.REMINDER, Stage.ON_HOLD]
    months = {row.first: row.collected for row in report.months}
    # Only these cases' money: E's payment in April, B's in May and its refund in June.
    assert (months[date(2026, 4, 1)], months[date(2026, 5, 1)]) == (5_000, 10_000)
    assert months[date(2026, 6, 1)] == -4_000
    narrower = portfolio_report.build(
        session,
        ReportFilter("EUR", TODAY, placed_from=date(2026, 4, 2), placed_to=date(2026, 5, 1)),
    )
    assert narrower.headline == Totals()


def test_another_tenant_is_never_counted(session: Session, portfolio) -> None:
    set_scope(session, TenantScope.only(portfolio["other"].id))
    report = portfolio_report.build(session, ReportFilter(currency="EUR", today=TODAY))
    assert report.headline == Totals(1, 999_000, 111_000, 888_000)
    assert sum(row.collected for row in report.months) == 111_000


@pytest.mark.parametrize(
    ("days", "bucket"),
    [(0, "0-30"), (30, "0-30"), (31, "31-60"), (60, "31-60"), (61, "61-90"), (90, "61-90"),
     (91, "91-180"), (180, "91-180"), (181, "180+"), (2_000, "180+")],
)  # fmt: skip
def test_ageing_bucket_edges(session: Session, days: int, bucket: str) -> None:
    with unscoped(session):
        tenant = make_tenant(session)
        place(session, tenant, due=(TODAY - timedelta(days=days),), amounts=(1_000,),
              placed=_at(TODAY))  # fmt: skip
    set_scope(session, TenantScope.only(tenant.id))
    report = portfolio_report.build(session, ReportFilter(currency="EUR", today=TODAY))
    assert [plain(row.bucket.label) for row in report.ageing if row.count] == [bucket]


def test_an_empty_portfolio(session: Session) -> None:
    with unscoped(session):
        tenant = make_tenant(session, currency="JPY")
    set_scope(session, TenantScope.only(tenant.id))
    report = portfolio_report.build(session, ReportFilter(currency="JPY", today=TODAY))
    assert report.headline == Totals() and report.headline.recovery_rate == 0.0
    assert report.stages == [] and report.currencies == []
    assert [row.count for row in report.ageing] == [0] * 5
    assert [row.collected for row in report.months] == [0] * 12


@pytest.mark.parametrize("count", [3, 30])
def test_query_count_does_not_grow_with_the_portfolio(session: Session, count: int) -> None:
    with unscoped(session):
        tenant = make_tenant(session)
        for number in range(count):
            case = place(
                session,
                tenant,
                due=(TODAY - timedelta(days=number * 9),),
                amounts=(10_000 + number,),
                placed=_at(TODAY - timedelta(days=number)),
            )
            pay(session, case, 1_000, TODAY - timedelta(days=number))
        session.flush()  # fmt: skip
    set_scope(session, TenantScope.only(tenant.id))
    session.expire_all()
    with counted_queries(session.get_bind()) as statements:
        report = portfolio_report.build(session, ReportFilter(currency="EUR", today=TODAY))
    assert report.headline.count == count
    assert len(statements) == 2
