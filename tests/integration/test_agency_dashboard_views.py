"""The agency dashboard page and its CSV exports: agency admins only, the figures of the
hand-computed book in ``test_agency_report``, a clear word on every bad filter value."""

from __future__ import annotations

import csv
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.models import Role, Tenant, User
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_agency_report import (
    EARLIER,
    PERIOD_FROM,
    TODAY,
    Book,
    build_book,
    more_of_everything,
    queries,
)
from tests.querycount import counted_queries

TABLES = ("collectors", "clients", "commission", "promises", "contacts", "stages", "legal", "plans")


@pytest.fixture
def book(session: Session) -> Book:
    with unscoped(session):
        return build_book(session)


def page(client: FlaskClient, query: str = "") -> str:
    response = client.get(f"/agency/dashboard{query}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def table(client: FlaskClient, name: str, query: str = "") -> list[list[str]]:
    response = client.get(f"/agency/dashboard/{name}.csv{query}")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


# -- The page -----------------------------------------------------------------------------


def test_the_page_shows_the_figures(client: FlaskClient, book: Book) -> None:
    body = page(sign_in(client, book.admin))
    assert "Agency dashboard" in body
    assert f"{PERIOD_FROM:%d %b %Y} to {TODAY:%d %b %Y}" in body
    assert "€900.00" in body  # collected: 500 (acme) + 400 (beta)
    assert "€135.00" in body and "€765.00" in body  # commission, net to clients
    assert "Carla Collector" in body and "Max Mustermann" in body and "Unassigned" in body
    assert "€600.00" in body and "€90.00" in body and "€510.00" in body  # carla's line
    assert "Acme Ltd" in body and "Beta Ltd" in body
    assert "Waiting for the client&#39;s approval" in body
    assert "Commission earned per month, EUR" in body  # the chart
    assert f"{EARLIER:%b %y}" in body
    assert 'name="from" value="' + PERIOD_FROM.isoformat() in body
    assert '<option value="EUR" selected>EUR</option>' in body and 'value="GBP"' in body
    for name in TABLES:
        assert f"/agency/dashboard/{name}.csv?from={PERIOD_FROM.isoformat()}" in body
    assert "style=" not in body and "<script>" not in body


def card(body: str, name: str) -> str:
    """The text of one card, its tags taken out."""
    html = body.split(f'id="card-{name}">', 1)[1].split("</article>", 1)[0]
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_the_cards_add_up_the_tables(client: FlaskClient, book: Book) -> None:
    body = page(sign_in(client, book.admin))
    assert card(body, "collected") == (
        "Collected in the period €900.00 Commission earned €135.00 Net to clients €765.00"
    )
    assert card(body, "promises") == (
        "Promises kept · due in the period 50 % Kept 1 Broken 1 Still open 1"
    )
    assert (
        card(body, "contacts")
        == "Right party contacts · every currency 5 Calls logged 7 Reached the debtor 71 %"
    )
    assert card(body, "cases") == (
        "Open cases in EUR today 8 Outstanding (all stages) €3,750.00 In the legal stages 2 "
        "Legal action awaiting the client 1"
    )
    assert card(body, "plans") == (
        "Instalment plans in EUR 1 active Completed in the period 1 Broken in the period 1"
    )


def test_the_other_currency_shows_only_its_money(client: FlaskClient, book: Book) -> None:
    body = page(sign_in(client, book.admin), "?currency=gbp")
    assert "amounts in GBP" in body
    assert "£70.00" in body  # G1's payment, carla's
    assert "€" not in body.split("<main", 1)[1]


def test_a_chart_bar_opens_its_month(client: FlaskClient, book: Book) -> None:
    body = page(sign_in(client, book.admin))
    first_of_month = TODAY.replace(day=1).isoformat()
    link = f"/agency/dashboard?from={first_of_month}&amp;to={TODAY.isoformat()}&amp;currency=EUR"
    assert link in body


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.LEGAL])
def test_collectors_and_legal_staff_are_refused(
    client: FlaskClient, session: Session, book: Book, role: Role
) -> None:
    with unscoped(session):
        staff = make_user(session, role)
        session.commit()
    sign_in(client, staff)
    assert client.get("/agency/dashboard").status_code == 403
    for name in TABLES:
        assert client.get(f"/agency/dashboard/{name}.csv").status_code == 403


@pytest.mark.parametrize("role", [Role.CREDITOR_ADMIN, Role.CREDITOR_USER])
def test_creditors_are_refused(
    client: FlaskClient, session: Session, book: Book, role: Role
) -> None:
    with unscoped(session):
        creditor = make_user(session, role, book.acme)
        session.commit()
    sign_in(client, creditor)
    assert client.get("/agency/dashboard").status_code == 403
    assert client.get("/agency/dashboard/clients.csv").status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient, book: Book) -> None:
    response = client.get("/agency/dashboard")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")


def test_an_unknown_table_is_not_found(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    for path in ("secrets.csv", "collectors.json", "collectors", ".csv"):
        assert client.get(f"/agency/dashboard/{path}").status_code == 404, path


# -- Bad filters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=yesterday", "“yesterday” is not a date (YYYY-MM-DD); the default start is used."),
        ("?to=2025-13-01", "“2025-13-01” is not a date (YYYY-MM-DD); the default end is used."),
        ("?from=0001-01-01", "The start must be between 2000 and 2099"),
        ("?to=9999-12-31", "The end must be between 2000 and 2099"),
        ("?from=2030-01-01&to=2029-01-01", "The period starts after it ends"),
        ("?from=2001-01-01&to=2020-01-01", "A period covers at most 36 months"),
        ("?currency=EURO", "“EURO” is not a currency code; showing EUR."),
        ("?currency=JPY", "There are no cases in JPY; showing EUR."),
        ("?currency=%3Cscript%3E", "“&lt;script&gt;” is not a currency code; showing EUR."),
    ],
)
def test_a_bad_filter_is_said_and_the_default_shown(
    client: FlaskClient, book: Book, query: str, message: str
) -> None:
    body = page(sign_in(client, book.admin), query)
    assert message in body
    assert 'role="alert"' in body
    assert "€900.00" in body  # the default figures, all the same
    assert "<script>" not in body


def test_a_bad_filter_on_a_csv_falls_back_to_the_default(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    response = client.get("/agency/dashboard/clients.csv?from=nonsense&currency=XXX1")
    assert response.status_code == 200
    assert (
        f"agency-clients-{PERIOD_FROM:%Y%m%d}-{TODAY:%Y%m%d}-EUR.csv"
        in response.headers["Content-Disposition"]
    )


def test_an_agency_without_cases_shows_an_empty_dashboard(
    client: FlaskClient, session: Session
) -> None:
    with unscoped(session):
        admin = make_user(session, Role.AGENCY_ADMIN)
        session.commit()
    body = page(sign_in(client, admin))
    assert "No payments in EUR in this period." in body
    assert "No cases in EUR." in body
    assert table(client, "collectors") == [
        ["Collector", "Payments", "Collected", "Commission", "Net to client", "Currency"]
    ]


# -- CSV ----------------------------------------------------------------------------------


def test_collectors_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    response = client.get("/agency/dashboard/collectors.csv")
    disposition = response.headers["Content-Disposition"]
    assert disposition == (
        f'attachment; filename="agency-collectors-{PERIOD_FROM:%Y%m%d}-{TODAY:%Y%m%d}-EUR.csv"'
    )
    assert table(client, "collectors") == [
        ["Collector", "Payments", "Collected", "Commission", "Net to client", "Currency"],
        ["Carla Collector", "2", "600.00", "90.00", "510.00", "EUR"],
        ["Max Mustermann", "1", "200.00", "30.00", "170.00", "EUR"],
        ["Unassigned", "1", "100.00", "15.00", "85.00", "EUR"],
    ]


def test_clients_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    assert table(client, "clients") == [
        ["Client", "Payments", "Collected", "Commission", "Net to client", "Currency"],
        ["Acme Ltd", "2", "500.00", "75.00", "425.00", "EUR"],
        ["Beta Ltd", "2", "400.00", "60.00", "340.00", "EUR"],
    ]
    assert table(client, "clients", "?currency=GBP") == [
        ["Client", "Payments", "Collected", "Commission", "Net to client", "Currency"],
        ["Pound Ltd", "1", "70.00", "10.50", "59.50", "GBP"],
    ]


def test_commission_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    rows = table(client, "commission")
    assert rows[0] == ["Month", "Collected", "Commission", "Currency"]
    assert len(rows) == 13
    figures = {row[0]: row[1:] for row in rows[1:]}
    assert figures.pop(f"{EARLIER:%Y-%m}") == ["700.00", "105.00", "EUR"]
    assert figures.pop(f"{TODAY:%Y-%m}") == ["200.00", "30.00", "EUR"]
    assert {tuple(value) for value in figures.values()} == {("0.00", "0.00", "EUR")}


def test_promises_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    assert table(client, "promises") == [
        ["Collector", "Kept", "Broken", "Still open", "Kept amount", "Broken amount",
         "Still open amount", "Kept rate %", "Currency"],
        ["Carla Collector", "0", "1", "1", "0.00", "500.00", "50.00", "0.0", "EUR"],
        ["Max Mustermann", "1", "0", "0", "200.00", "0.00", "0.00", "100.0", "EUR"],
    ]  # fmt: skip


def test_contacts_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    assert table(client, "contacts") == [
        ["Collector", "Calls", "Right party contacts", "Contact rate %"],
        ["Max Mustermann", "4", "3", "75.0"],
        ["Carla Collector", "3", "2", "66.7"],
    ]


def test_stages_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    assert table(client, "stages") == [
        ["Stage", "Client", "Cases", "Outstanding", "Currency"],
        ["Placed", "Acme Ltd", "2", "950.00", "EUR"],
        ["Placed", "Beta Ltd", "2", "1000.00", "EUR"],
        ["Invoice check", "Acme Ltd", "1", "200.00", "EUR"],
        ["Negotiation", "Beta Ltd", "1", "300.00", "EUR"],
        ["Legal review", "Acme Ltd", "1", "900.00", "EUR"],
        ["Litigation", "Beta Ltd", "1", "400.00", "EUR"],
    ]


def test_legal_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    assert table(client, "legal") == [
        ["Legal pipeline", "Count", "Estimated costs", "Outstanding", "Currency"],
        ["Requests: Waiting for the client's approval", "1", "1250.00", "900.00", "EUR"],
        ["Requests: Approved in the period", "1", "300.00", "400.00", "EUR"],
        ["Requests: Declined in the period", "1", "100.00", "300.00", "EUR"],
        ["Cases in Legal review", "1", "", "900.00", "EUR"],
        ["Cases in Litigation", "1", "", "400.00", "EUR"],
        ["Cases in Judgment", "0", "", "0.00", "EUR"],
        ["Cases in Enforcement", "0", "", "0.00", "EUR"],
    ]


def test_plans_csv(client: FlaskClient, book: Book) -> None:
    sign_in(client, book.admin)
    assert table(client, "plans") == [
        ["Instalment plans", "Plans", "Agreed total", "Outstanding", "Currency"],
        ["Active now", "1", "700.00", "700.00", "EUR"],
        ["Completed in the period", "1", "500.00", "500.00", "EUR"],
        ["Broken in the period", "1", "500.00", "500.00", "EUR"],
    ]


def test_a_client_name_cannot_run_as_a_formula(
    client: FlaskClient, session: Session, book: Book
) -> None:
    with unscoped(session):
        tenant = session.get(Tenant, book.acme.id)
        assert tenant is not None
        tenant.name = "=HYPERLINK(1)"
        session.commit()
    sign_in(client, book.admin)
    assert ["'=HYPERLINK(1)", "2", "500.00", "75.00", "425.00", "EUR"] in table(client, "clients")


# -- Queries ------------------------------------------------------------------------------


def test_the_page_costs_the_same_queries_however_much_there_is(
    app: Flask, client: FlaskClient, session: Session, book: Book
) -> None:
    sign_in(client, book.admin)
    engine = app.extensions["portal.engine"]

    def count(path: str) -> int:
        with counted_queries(engine) as statements:
            assert client.get(path).status_code == 200
        return len(queries(statements))

    few = {path: count(path) for path in ("/agency/dashboard", "/agency/dashboard/legal.csv")}
    more_of_everything(session, book)
    assert {path: count(path) for path in few} == few
    # The user and their tenant access (2), then the stage rows and the three queries of
    # the tables; an export: the user (2), the stage rows, its own table's query and the
    # audit entry.
    assert few == {"/agency/dashboard": 6, "/agency/dashboard/legal.csv": 5}


def test_the_page_renders_for_a_new_client_too(
    client: FlaskClient, session: Session, book: Book
) -> None:
    """A client with cases but no money yet gets its column, and no line in the money."""
    with unscoped(session):
        other: Tenant = make_tenant(session, "newcomer")
        make_case(session, other, amounts=(12_345,))
        admin: User = book.admin
        session.commit()
    body = page(sign_in(client, admin))
    assert "Newcomer Ltd" in body
    assert ["Placed", "Newcomer Ltd", "1", "123.45", "EUR"] in table(client, "stages")
