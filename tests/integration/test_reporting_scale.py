"""What keeps the reporting pages quick over a large portfolio without changing what they
show: case lists count exactly only up to a cap ("more than 10,000 cases"), a statement's
lines are shown a page at a time (the PDF and CSV keep them all), and each debtor carries
the key repeated debtors are matched by, written at placement and by migration 0009."""

from __future__ import annotations

from datetime import date

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.migrate import upgrade
from portal.models import Debtor, DebtorKind, Role
from portal.services import case_lists, payments, remittance
from portal.services.case_lists import CaseFilter, find_cases
from portal.services.placement import DebtorDetails, place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user, placement_request
from tests.integration.test_migrations import empty_database, insert_one_case

__all__ = ["empty_database"]  # the fixture, shared with the migration tests

OCT_END = date(2026, 10, 31)


@pytest.fixture
def five_cases(session: Session) -> dict:
    with unscoped(session):
        acme = make_tenant(session, "acme")
        cases = [make_case(session, acme, debtor_name=f"Debtor {n}") for n in range(5)]
        creditor = make_user(session, Role.CREDITOR_ADMIN, acme)
        session.commit()
    return {"tenant": acme, "cases": cases, "creditor": creditor}


def small_pages(monkeypatch: pytest.MonkeyPatch, page_size: int = 2, cap: int = 3) -> None:
    monkeypatch.setattr(case_lists, "PAGE_SIZE", page_size)
    monkeypatch.setattr(case_lists, "COUNT_CAP", cap)


# --- capped counts -----------------------------------------------------------------------


def test_a_list_under_the_cap_is_counted_exactly(
    session: Session, five_cases: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, page_size=2, cap=5)
    with unscoped(session):
        page = find_cases(session, CaseFilter())
    assert (page.total, page.capped, page.pages, len(page.rows), page.has_next) == (
        5, False, 3, 2, True,
    )  # fmt: skip


def test_a_list_past_the_cap_says_more_than(
    session: Session, five_cases: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, page_size=2, cap=3)
    with unscoped(session):
        first = find_cases(session, CaseFilter(page=1))
        second = find_cases(session, CaseFilter(page=2))
        last = find_cases(session, CaseFilter(page=3))
    assert (first.total, first.capped, first.has_next, len(first.rows)) == (3, True, True, 2)
    # The count always reaches past the page shown (page 2 ends at case 4: counted to 5).
    assert (second.total, second.capped, second.has_next) == (4, True, True)
    assert (last.total, last.capped, last.has_next, len(last.rows)) == (5, False, False, 1)
    seen = [row.case.id for page in (first, second, last) for row in page.rows]
    assert sorted(seen) == sorted(case.id for case in five_cases["cases"])


def test_the_case_list_page_shows_more_than_and_a_next_page(
    client: FlaskClient, five_cases: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, page_size=2, cap=3)
    signed_in = sign_in(client, five_cases["creditor"])
    text_of_first = signed_in.get("/creditor/").get_data(as_text=True)
    assert "More than 3 cases · page 1" in text_of_first
    assert "Next →" in text_of_first and "← Previous" not in text_of_first
    text_of_last = signed_in.get("/creditor/?page=3").get_data(as_text=True)
    assert "5 cases · page 3 of 3" in text_of_last
    assert "Next →" not in text_of_last and "← Previous" in text_of_last


def test_a_search_reads_the_debtor_and_still_counts(
    session: Session, five_cases: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    small_pages(monkeypatch, page_size=2, cap=3)
    with unscoped(session):
        page = find_cases(session, CaseFilter(search="debtor 4"))
        by_name = find_cases(session, CaseFilter(sort="debtor"))
    assert (page.total, page.capped, [row.case.debtor.name for row in page.rows]) == (
        1, False, ["Debtor 4"],
    )  # fmt: skip
    assert [row.case.debtor.name for row in by_name.rows] == ["Debtor 0", "Debtor 1"]


# --- the debtor identity key -------------------------------------------------------------


def place_debtor(session: Session, tenant, **details: object) -> Debtor:
    debtor = DebtorDetails(**details)  # type: ignore[arg-type]
    case = place_case(session, tenant, placement_request(debtor=debtor))
    assert case.debtor_key == case.debtor.identity_key  # copied onto the case
    return case.debtor


def test_placement_writes_who_the_debtor_is(session: Session) -> None:
    with unscoped(session):
        acme = make_tenant(session, "acme")
        business = place_debtor(
            session, acme, kind=DebtorKind.BUSINESS, name="Keller Bau GmbH",
            registration_number="hrb 12-345", email="ap@keller.example",
        )  # fmt: skip
        person = place_debtor(
            session, acme, kind=DebtorKind.PERSON, name="Eva Maier", email="Eva@Maier.example"
        )
        nameless = place_debtor(
            session, acme, kind=DebtorKind.BUSINESS, name="  Nord Logistik  ", email="x@y.example"
        )
        session.flush()
    assert business.identity_key == "reg:HRB12345"
    assert person.identity_key == "email:eva@maier.example"
    assert nameless.identity_key == "name:nord logistik"


def test_the_debtor_filter_finds_every_placement_of_the_same_debtor(session: Session) -> None:
    with unscoped(session):
        acme = make_tenant(session, "acme")
        first = place_debtor(
            session, acme, kind=DebtorKind.BUSINESS, name="Keller Bau", registration_number="HRB 1"
        )
        second = place_debtor(
            session, acme, kind=DebtorKind.BUSINESS, name="Keller Bau GmbH",
            registration_number="hrb-1",
        )  # fmt: skip
        place_debtor(session, acme, kind=DebtorKind.BUSINESS, name="Keller Bau")
        session.flush()
        found = find_cases(session, CaseFilter(debtor_key="reg:HRB1"))
    assert found.total == 2
    assert {row.case.debtor_id for row in found.rows} == {first.id, second.id}


def test_the_migration_fills_the_key_of_debtors_and_cases_placed_before_it(
    empty_database: Engine,
) -> None:
    upgrade(empty_database, "0008")
    insert_one_case(empty_database)
    with empty_database.begin() as connection:
        for number, kind, name, registration, email in (
            (2, "business", "Keller Bau GmbH", "hrb 12-345", "ap@keller.example"),
            (3, "person", "Eva Maier", None, " Eva@Maier.example "),
            (4, "person", " Max Muster ", " ", None),
        ):
            connection.execute(
                text(
                    "INSERT INTO debtors (id, tenant_id, kind, name, registration_number, email,"
                    " country, language, timezone, no_calls, no_emails, no_letters,"
                    " cease_contact, created_at) VALUES (:id, 1, :kind, :name, :registration,"
                    " :email, 'DE', 'de', 'Europe/Berlin', false, false, false, false,"
                    " CURRENT_TIMESTAMP)"
                ),
                {"id": number, "kind": kind, "name": name, "registration": registration,
                 "email": email},
            )  # fmt: skip
    upgrade(empty_database)
    with empty_database.connect() as connection:
        rows = connection.execute(text("SELECT id, identity_key FROM debtors")).all()
        case_key = connection.execute(text("SELECT debtor_key FROM cases")).scalar_one()
    keys = {row[0]: row[1] for row in rows}
    assert case_key == "name:keller bau"  # the case carries its debtor's key
    assert keys == {
        1: "name:keller bau",
        2: "reg:HRB12345",
        3: "email:eva@maier.example",
        4: "name:max muster",
    }


# --- a statement's lines, a page at a time -----------------------------------------------


@pytest.fixture
def long_statement(session: Session) -> dict:
    """An October statement with five payment lines."""
    with unscoped(session):
        acme = make_tenant(session, "acme")
        case = make_case(session, acme, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        for day in range(1, 6):
            payments.record_payment(
                session, case, amount_minor=1_000 * day, event_key=f"pay-{day}",
                paid_on=date(2026, 10, day), description=f"Transfer {day}",
            )  # fmt: skip
        issued = remittance.issue(session, acme, "EUR", OCT_END, None, today=utcnow().date())
        people = {
            "creditor": make_user(session, Role.CREDITOR_USER, acme),
            "admin": make_user(session, Role.AGENCY_ADMIN),
        }
        session.commit()
    return {"statement": issued, **people}


def test_lines_come_a_page_at_a_time(
    session: Session, long_statement: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(remittance, "LINES_PER_PAGE", 2)
    statement = long_statement["statement"]
    with unscoped(session):
        every = remittance.lines_of(session, statement)
        pages = [remittance.lines_page(session, statement, page) for page in (1, 2, 3, 4)]
    assert [(p.total, p.pages, len(p.lines)) for p in pages] == [
        (5, 3, 2), (5, 3, 2), (5, 3, 1), (5, 3, 0),
    ]  # fmt: skip
    assert [line for p in pages for line in p.lines] == every
    with unscoped(session):
        assert remittance.lines_page(session, statement, 0).page == 1


@pytest.mark.parametrize("who, prefix", [("creditor", "creditor"), ("admin", "agency")])
def test_the_statement_page_shows_a_page_of_lines(
    client: FlaskClient, long_statement: dict, monkeypatch: pytest.MonkeyPatch,
    who: str, prefix: str,
) -> None:  # fmt: skip
    monkeypatch.setattr(remittance, "LINES_PER_PAGE", 2)
    signed_in = sign_in(client, long_statement[who])
    url = f"/{prefix}/statements/{long_statement['statement'].id}"
    first = signed_in.get(url).get_data(as_text=True)
    assert "<dt>Lines</dt><dd>5</dd>" in first
    assert "Transfer 1" in first and "Transfer 2" in first and "Transfer 3" not in first
    assert "Page 1 of 3" in first and f"{url}?page=2" in first
    last = signed_in.get(f"{url}?page=3").get_data(as_text=True)
    assert "Transfer 5" in last and "Transfer 1" not in last and f"{url}?page=2" in last
    # A page that is not a number shows the first; one past the end shows no lines.
    assert "Transfer 1" in signed_in.get(f"{url}?page=abc").get_data(as_text=True)
    beyond = signed_in.get(f"{url}?page=99")
    assert beyond.status_code == 200 and "Transfer" not in beyond.get_data(as_text=True)
    csv = signed_in.get(f"{url}.csv").get_data(as_text=True)
    assert all(f"Transfer {day}" in csv for day in range(1, 6))  # the CSV keeps every line
