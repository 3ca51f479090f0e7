"""Remittance statements: what goes on them (hand-computed), numbering, corrections on the
next statement, idempotent issuing, rows that never change, and files that reproduce."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.adapters.letter_rendering import JinjaLetterRenderer
from portal.models import (
    AppendOnlyError,
    AuditEntry,
    Case,
    RemittanceStatement,
    Role,
    Stage,
    StatementLine,
    StatementLineKind,
    Tenant,
)
from portal.services import direct_payments, enforcement, payments, remittance
from portal.services.placement import place_case
from portal.services.spreadsheet import unquote_cell
from tenants.scoping import unscoped
from tests.factories import make_case, make_tenant, make_user, placement_request
from tests.integration.test_letters import pdf_support, pdf_text

OCT_END = date(2026, 10, 31)
NOV_END = date(2026, 11, 30)
IN_NOVEMBER = date(2026, 11, 5)  # "today" when the October statement is issued
IN_DECEMBER = date(2026, 12, 3)
K = StatementLineKind


@dataclass
class World:
    acme: Tenant
    other: Tenant
    amicable: Case  # 10 % commission
    legal: Case  # 20 % commission, a legal cost the creditor bears
    checked: Case  # paid during the invoice check: the early-intervention fee
    legal_user_id: int


def pay(session: Session, case: Case, amount: int, day: date, key: str) -> None:
    payments.record_payment(
        session, case, amount_minor=amount, event_key=key, paid_on=day, description="Bank transfer"
    )


def refund(session: Session, case: Case, payment_key: str, amount: int, day: date, key: str):
    return payments.reverse_payment(
        session, case, payment_event_key=payment_key, amount_minor=amount, event_key=key,
        why="Refunded to the debtor", today=day,
    )  # fmt: skip


@pytest.fixture
def world(session: Session) -> World:
    """October 2026 for acme, by hand:

    amicable  payment 300.00 at 10 %        collected  300.00  commission  30.00
              refund  100.00 of it          collected -100.00  commission -10.00
    legal     payment 500.00 at 20 %        collected  500.00  commission 100.00
              legal cost 250.00 (creditor)                     costs      250.00
    checked   paid in full 1,250.00 (0 %)   collected 1250.00
              early-intervention fee                           costs       15.00
    total     collected 1,950.00 - commission 120.00 - costs 265.00 = net 1,565.00
    """
    with unscoped(session):
        acme = make_tenant(session, "acme")
        acme.commission_amicable_bp, acme.commission_legal_bp = 1_000, 2_000
        acme.legal_costs_recoverable_from = "creditor"
        acme.early_intervention_fee_minor = 1_500
        amicable = make_case(session, acme, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        legal = make_case(session, acme, debtor_name="Nordlicht AG", amounts=(200_000,))
        legal.stage = Stage.LITIGATION  # arranged: the way into litigation is tested elsewhere
        checked = place_case(
            session, acme, placement_request("Früh Handel KG", early_intervention=True)
        )
        legal_user = make_user(session, Role.LEGAL)
        other = make_tenant(session, "zeta")
        elsewhere = make_case(session, other, debtor_name="Zeta Secret AG")

        pay(session, amicable, 30_000, date(2026, 10, 5), "pay-amicable")
        refund(session, amicable, "pay-amicable", 10_000, date(2026, 10, 20), "refund-amicable")
        pay(session, legal, 50_000, date(2026, 10, 10), "pay-legal")
        enforcement.add_cost(
            session, legal, description="Court fee", amount_minor=25_000,
            incurred_on=date(2026, 10, 12), enforcement=None, actor_id=legal_user.id,
        )  # fmt: skip
        pay(session, checked, 125_000, date(2026, 10, 15), "pay-checked")
        pay(session, amicable, 5_000, date(2026, 11, 2), "pay-november")  # after October
        pay(session, elsewhere, 40_000, date(2026, 10, 7), "pay-zeta")
        session.flush()
    return World(acme, other, amicable, legal, checked, legal_user.id)


def issue(session: Session, tenant: Tenant, end: date, today: date = IN_NOVEMBER, cur="EUR"):
    with unscoped(session):
        return remittance.issue(session, tenant, cur, end, None, today=today)


def summary(lines) -> list[tuple]:
    return [
        (line.agency_reference, line.kind, line.value_date, line.collected_minor,
         line.commission_minor, line.costs_minor, line.net_minor)
        for line in lines
    ]  # fmt: skip


def expected_october(world: World) -> list[tuple]:
    a, leg, c = (case.agency_reference for case in (world.amicable, world.legal, world.checked))
    rows = [
        (a, K.PAYMENT, date(2026, 10, 5), 30_000, 3_000, 0, 27_000),
        (a, K.REVERSAL, date(2026, 10, 20), -10_000, -1_000, 0, -9_000),
        (leg, K.PAYMENT, date(2026, 10, 10), 50_000, 10_000, 0, 40_000),
        (leg, K.LEGAL_COST, date(2026, 10, 12), 0, 0, 25_000, -25_000),
        (c, K.PAYMENT, date(2026, 10, 15), 125_000, 0, 0, 125_000),
        (c, K.CHECK_FEE, date(2026, 10, 15), 0, 0, 1_500, -1_500),
    ]
    return sorted(rows, key=lambda row: row[0])  # by case, each case's lines by date


# --- what goes on a statement ---------------------------------------------------------------


def test_the_draft_holds_the_periods_money_by_hand(session: Session, world: World) -> None:
    with unscoped(session):
        drafted = remittance.draft(session, world.acme, "EUR", OCT_END)

    assert summary(drafted.lines) == expected_october(world)
    totals = drafted.totals
    assert (totals.collected_minor, totals.commission_minor, totals.costs_minor) == (
        195_000, 12_000, 26_500,
    )  # fmt: skip
    assert totals.net_minor == 156_500
    for line in drafted.lines:
        assert line.collected_minor - line.commission_minor - line.costs_minor == line.net_minor
    assert sum(line.net_minor for line in drafted.lines) == totals.net_minor
    # The first statement starts on its earliest line; the other tenant's money is not here.
    assert (drafted.period_start, drafted.period_end) == (date(2026, 10, 1), OCT_END)
    assert {line.debtor_name for line in drafted.lines} == {
        "Keller Bau GmbH", "Nordlicht AG", "Früh Handel KG",
    }  # fmt: skip
    descriptions = {(line.kind, line.description) for line in drafted.lines}
    assert (K.PAYMENT, "Bank transfer (commission 20.00 %)") in descriptions
    assert (K.LEGAL_COST, "Court fee") in descriptions
    assert (K.CHECK_FEE, "Invoice paid after our check, without collection") in descriptions


def test_issuing_stores_the_draft_and_numbers_it(session: Session, world: World) -> None:
    statement = issue(session, world.acme, OCT_END)

    assert statement is not None
    assert (statement.sequence, statement.number) == (1, "ACME-0001")
    assert (statement.currency, statement.period_start, statement.period_end) == (
        "EUR", date(2026, 10, 1), OCT_END,
    )  # fmt: skip
    assert (
        statement.collected_minor, statement.commission_minor, statement.costs_minor,
        statement.net_minor,
    ) == (195_000, 12_000, 26_500, 156_500)  # fmt: skip
    with unscoped(session):
        assert summary(remittance.lines_of(session, statement)) == expected_october(world)
        stored = session.scalars(select(StatementLine)).all()
        audit = session.scalars(select(AuditEntry.action)).all()
    assert len(stored) == 6 and all(line.statement_id == statement.id for line in stored)
    assert sum(line.net_minor for line in stored) == statement.net_minor
    assert "statement.issued" in audit


def test_a_payment_made_to_the_creditor_earns_commission_only(
    session: Session, world: World
) -> None:
    with unscoped(session):
        case = make_case(session, world.acme, debtor_name="Direkt GmbH", amounts=(50_000,))
        direct_payments.report(
            session, case, amount_minor=20_000, paid_on=date(2026, 10, 8), note="cash",
            actor_id=world.legal_user_id, idempotency_key="k1", today=IN_NOVEMBER,
        )  # fmt: skip
        drafted = remittance.draft(session, world.acme, "EUR", OCT_END)
    [line] = [line for line in drafted.lines if line.case_id == case.id]
    assert (line.collected_minor, line.commission_minor, line.net_minor) == (0, 2_000, -2_000)
    assert "€200.00 paid to you directly" in line.description
    assert drafted.totals.net_minor == 156_500 - 2_000


def test_the_open_period_sums_what_the_draft_lists(session: Session, world: World) -> None:
    with unscoped(session):
        case = make_case(session, world.acme, debtor_name="Direkt GmbH", amounts=(50_000,))
        direct_payments.report(
            session, case, amount_minor=20_000, paid_on=date(2026, 11, 3), note="",
            actor_id=world.legal_user_id, idempotency_key="k2", today=IN_NOVEMBER,
        )  # fmt: skip
        drafted = remittance.draft(session, world.acme, "EUR", IN_NOVEMBER)
        before = remittance.open_period(session, world.acme, "EUR", IN_NOVEMBER)
    assert before.totals == drafted.totals and before.line_count == len(drafted.lines) == 8
    assert before.period_start == date(2026, 10, 5)
    # October, plus 50.00 at 10 % on 2 Nov and commission only on the direct 200.00.
    assert (before.totals.collected_minor, before.totals.commission_minor) == (200_000, 14_500)

    issue(session, world.acme, OCT_END)
    with unscoped(session):
        after = remittance.open_period(session, world.acme, "EUR", IN_NOVEMBER)
    assert (after.period_start, after.line_count) == (date(2026, 11, 1), 2)
    assert (after.totals.collected_minor, after.totals.commission_minor) == (5_000, 2_500)
    assert after.totals.net_minor == 2_500


def test_an_empty_period_gets_no_statement(session: Session, world: World) -> None:
    assert issue(session, world.acme, date(2026, 9, 30)) is None
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(RemittanceStatement)) == 0


# --- numbering and corrections ------------------------------------------------------------------


def test_numbers_run_per_tenant_without_gaps(session: Session, world: World) -> None:
    with unscoped(session):
        dollars = make_case(session, world.acme, amounts=(10_000,))
        dollars.currency = "USD"  # arranged: acme also places in dollars
        pay(session, dollars, 4_000, date(2026, 10, 9), "pay-usd")
    first = issue(session, world.acme, OCT_END)
    in_usd = issue(session, world.acme, OCT_END, cur="USD")
    zeta = issue(session, world.other, OCT_END)
    november = issue(session, world.acme, NOV_END, today=IN_DECEMBER)

    assert [s.number for s in (first, in_usd, november)] == ["ACME-0001", "ACME-0002", "ACME-0003"]
    assert zeta is not None and zeta.number == "ZETA-0001"
    assert (in_usd.collected_minor, in_usd.commission_minor) == (4_000, 400)
    assert (zeta.collected_minor, zeta.net_minor) == (40_000, 34_000)  # 15 % by default


def test_a_refund_booked_after_issue_lands_on_the_next_statement(
    session: Session, world: World
) -> None:
    october = issue(session, world.acme, OCT_END)
    with unscoped(session):  # booked after the statement, dated in October
        refund(session, world.legal, "pay-legal", 20_000, date(2026, 10, 25), "refund-late")
    november = issue(session, world.acme, NOV_END, today=IN_DECEMBER)

    assert october is not None and november is not None
    assert october.net_minor == 156_500  # unchanged
    assert (november.period_start, november.period_end) == (date(2026, 11, 1), NOV_END)
    with unscoped(session):
        lines = summary(remittance.lines_of(session, november))
        on_october = summary(remittance.lines_of(session, october))
    a, leg = world.amicable.agency_reference, world.legal.agency_reference
    assert lines == sorted(
        [
            (leg, K.REVERSAL, date(2026, 10, 25), -20_000, -4_000, 0, -16_000),
            (a, K.PAYMENT, date(2026, 11, 2), 5_000, 500, 0, 4_500),
        ]
    )
    assert (november.collected_minor, november.commission_minor, november.net_minor) == (
        -15_000, -3_500, -11_500,
    )  # fmt: skip
    assert on_october == expected_october(world)


# --- refusals and idempotency -------------------------------------------------------------------


def test_issuing_the_same_period_twice_is_refused(session: Session, world: World) -> None:
    issue(session, world.acme, OCT_END)
    with pytest.raises(remittance.StatementError, match="ACME-0001 already covers"):
        issue(session, world.acme, OCT_END)
    with pytest.raises(remittance.StatementError, match="choose a later day"):
        issue(session, world.acme, date(2026, 10, 20))
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(RemittanceStatement)) == 1


@pytest.mark.parametrize(
    ("currency", "end", "message"),
    [
        ("EUR", date(2026, 11, 6), "is after today"),
        ("EURO", OCT_END, "is not a currency code"),
        ("XYZ", OCT_END, "is not a currency code"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(
    session: Session, world: World, currency: str, end: date, message: str
) -> None:
    with pytest.raises(remittance.StatementError, match=message):
        issue(session, world.acme, end, cur=currency)
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(RemittanceStatement)) == 0


def test_the_monthly_run_issues_each_tenant_once(session: Session, world: World) -> None:
    with unscoped(session):
        issued = remittance.issue_monthly(session, IN_NOVEMBER)
        again = remittance.issue_monthly(session, IN_NOVEMBER)
    assert [(s.number, s.period_end, s.net_minor) for s in issued] == [
        ("ACME-0001", OCT_END, 156_500),
        ("ZETA-0001", OCT_END, 34_000),
    ]
    assert again == []


def test_the_monthly_run_refuses_a_month_that_has_not_ended(session: Session, world: World) -> None:
    with unscoped(session), pytest.raises(remittance.StatementError, match="has not ended"):
        remittance.issue_monthly(session, IN_NOVEMBER, month=date(2026, 11, 1))


def test_the_monthly_run_can_be_limited_to_one_tenant(session: Session, world: World) -> None:
    with unscoped(session):
        issued = remittance.issue_monthly(session, IN_NOVEMBER, tenant=world.other)
    assert [s.number for s in issued] == ["ZETA-0001"]


# --- issued statements never change, and reproduce ----------------------------------------------


def test_statement_rows_cannot_be_changed(session: Session, world: World) -> None:
    statement = issue(session, world.acme, OCT_END)
    assert statement is not None
    statement.net_minor = 0
    with unscoped(session), pytest.raises(AppendOnlyError):
        session.flush()


def test_statement_lines_cannot_be_changed_or_deleted(session: Session, world: World) -> None:
    statement = issue(session, world.acme, OCT_END)
    assert statement is not None
    with unscoped(session):
        line = session.scalars(select(StatementLine)).first()
        assert line is not None
        session.delete(line)
        with pytest.raises(AppendOnlyError):
            session.flush()


def parsed(text: str) -> list[list[str]]:
    return [[unquote_cell(cell) for cell in row] for row in csv.reader(io.StringIO(text))]


def test_the_csv_reproduces_byte_for_byte(session: Session, world: World) -> None:
    statement = issue(session, world.acme, OCT_END)
    assert statement is not None
    with unscoped(session):
        first = remittance.statement_csv(session, statement)
        # Money booked afterwards, dated in the period, changes nothing on this statement.
        refund(session, world.legal, "pay-legal", 20_000, date(2026, 10, 25), "refund-late")
        pay(session, world.amicable, 1_000, date(2026, 10, 30), "pay-late")
        session.expire_all()
        again = remittance.statement_csv(session, statement)
    assert first.encode() == again.encode()

    rows = parsed(first.removeprefix("\ufeff"))
    assert rows[0] == remittance.CSV_COLUMNS
    head = ["ACME-0001", "EUR", "2026-10-01", "2026-10-31"]
    legal = world.legal
    assert [
        *head, legal.agency_reference, legal.creditor_reference, "Nordlicht AG", "2026-10-12",
        "Legal cost", "Court fee", "0.00", "0.00", "250.00", "-250.00",
    ] in rows  # fmt: skip
    assert rows[-1] == [
        *head, "", "", "", "", "Total", "Net due to you", "1950.00", "120.00", "265.00", "1565.00"
    ]  # fmt: skip
    assert len(rows) == 1 + 6 + 1


def test_the_pdf_shows_the_statement(app: Flask, session: Session, world: World) -> None:
    pdf_support()
    statement = issue(session, world.acme, OCT_END)
    assert statement is not None
    renderer = JinjaLetterRenderer(remittance.PDF_TEMPLATES)
    with unscoped(session):
        data = remittance.statement_pdf(session, statement, renderer, "Northgate Collections")
    assert data.startswith(b"%PDF")
    text = pdf_text(data)
    for expected in (
        "Northgate Collections", "Acme Ltd", "ACME-0001", "05 Oct 2026", "31 Oct 2026",
        world.amicable.agency_reference, "Keller Bau GmbH", "Net due to you", "€1,565.00",
        "€1,950.00", "€120.00", "€265.00", "next statement",
    ):  # fmt: skip
        assert expected in text, expected
