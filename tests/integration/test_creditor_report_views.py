"""The creditor's dashboard and "why accounts go unpaid" pages: figures, the case lists
behind them, filters given wrong, the CSV of the dashboard's tables."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Case, DebtorKind, Party, Role, Tenant
from portal.services import disputes, stages
from portal.services.payments import record_payment
from portal.services.placement import DebtorDetails, InvoiceDetails, WarningSign, place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user, placement_request
from tests.querycount import counted_queries

HTMX = {"HX-Request": "true"}
SECRET = "Omega Secret Holdings"


def place(
    session: Session,
    tenant: Tenant,
    reference: str,
    name: str,
    *,
    amount: int,
    days_past_due: int,
    currency: str | None = None,
    signs: frozenset[WarningSign] = frozenset(),
) -> Case:
    today = utcnow().date()
    due = today - timedelta(days=days_past_due)
    request = placement_request(
        reference=reference,
        debtor=DebtorDetails(kind=DebtorKind.BUSINESS, name=name),
        invoices=(InvoiceDetails(f"INV-{reference}", due - timedelta(days=30), due, amount),),
        currency=currency,
        warning_signs=signs,
    )
    return place_case(session, tenant, request, today=today)


def pay(session: Session, case: Case, amount: int) -> None:
    record_payment(session, case, amount_minor=amount, event_key=f"v-{case.id}-{amount}",
                   paid_on=utcnow().date(), description="Transfer")  # fmt: skip


@pytest.fixture
def world(session: Session) -> dict:
    """Acme's euro cases, placed today:

    ========  ==================  ======  ============  =========  ==================
    ref       debtor              €       days overdue  collected  stage
    ========  ==================  ======  ============  =========  ==================
    ALPHA-1   Alpha Traders GmbH  1,000   10            400        placed
    ALPHA-2   Alpha Traders GmbH  300     20            0          placed
    BETA-1    Beta Logistics AG   2,500   100           0          on hold (disputed)
    GAMMA-1   Gamma Foods Ltd     500     40            500        closed (paid)
    ========  ==================  ======  ============  =========  ==================

    and DELTA-1 in pounds (£700, 5 days overdue); another tenant's case beside them.
    """
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        alpha = place(
            session,
            acme,
            "ALPHA-1",
            "Alpha Traders GmbH",
            amount=100_000,
            days_past_due=10,
            signs=frozenset({WarningSign.NOT_RETURNING_CALLS}),
        )
        place(session, acme, "ALPHA-2", "Alpha Traders GmbH", amount=30_000, days_past_due=20)
        beta = place(
            session, acme, "BETA-1", "Beta Logistics AG", amount=250_000, days_past_due=100
        )
        gamma = place(session, acme, "GAMMA-1", "Gamma Foods Ltd", amount=50_000, days_past_due=40)
        place(
            session,
            acme,
            "DELTA-1",
            "Delta Pounds Ltd",
            amount=70_000,
            days_past_due=5,
            currency="GBP",
        )
        omega = place(session, other, "OMEGA-1", SECRET, amount=999_000, days_past_due=10)
        pay(session, alpha, 40_000)
        pay(session, gamma, 50_000)
        pay(session, omega, 1_000)
        disputes.open_dispute(
            session,
            beta,
            raised_by=Party.DEBTOR,
            reason="Goods never delivered",
            actor_id=None,
            role=None,
            today=utcnow().date(),
        )
        people = {
            "admin": make_user(session, Role.CREDITOR_ADMIN, acme),
            "user": make_user(session, Role.CREDITOR_USER, acme),
            "collector": make_user(session, Role.COLLECTOR),
        }
        session.commit()
    return {"acme": acme, "other": other, **people}  # fmt: skip


def links(page: str) -> list[str]:
    """The case-list links on a page, unescaped."""
    return [html.unescape(href) for href in re.findall(r'href="(/creditor/\?[^"]*)"', page)]


def link_with(page: str, *wanted: str) -> str:
    """The first case-list link carrying every one of ``wanted`` (``stage=closed``...)."""
    pairs = {tuple(part.split("=", 1)) for part in wanted}
    for href in links(page):
        if pairs <= set(parse_qsl(urlsplit(href).query)):
            return href
    raise AssertionError(f"no link with {wanted}: {links(page)}")


def references(client: FlaskClient, url: str) -> set[str]:
    body = client.get(url, headers=HTMX).get_data(as_text=True)
    return set(re.findall(r"\b(ALPHA-\d|BETA-\d|GAMMA-\d|DELTA-\d|OMEGA-\d)\b", body))


@pytest.mark.parametrize("role", ["admin", "user"])
def test_dashboard_shows_the_portfolio(client: FlaskClient, world, role: str) -> None:
    response = sign_in(client, world[role]).get("/creditor/dashboard")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for figure in ("€4,300.00", "€900.00", "€3,400.00", "20.9 %"):  # placed, collected, owed
        assert figure in page
    assert "Waiting for your decision" in page and "Dispute: your evidence" in page
    assert '<svg class="chart-svg"' in page and page.count('class="chart-bar"') == 12
    assert SECRET not in page and "£" not in page
    assert 'value="GBP"' in page  # the other currency is offered


@pytest.mark.parametrize("role", ["admin", "user"])
def test_unpaid_page_shows_what_went_wrong(client: FlaskClient, world, role: str) -> None:
    response = sign_in(client, world[role]).get("/creditor/unpaid")
    page = response.get_data(as_text=True).replace("\N{EN DASH}", "-")
    assert response.status_code == 200
    for words in (
        "Goods never delivered",
        "Not returning calls or e-mails",
        "More than 90 days past due",
        "Alpha Traders GmbH",
        "91-180 days",
    ):
        assert words in page  # fmt: skip
    assert SECRET not in page


def test_agency_staff_do_not_open_the_creditor_pages(client: FlaskClient, world) -> None:
    sign_in(client, world["collector"])
    assert client.get("/creditor/dashboard").status_code == 403
    assert client.get("/creditor/unpaid").status_code == 403
    assert client.get("/creditor/dashboard/stages.csv").status_code == 403


def test_dashboard_figures_open_the_cases_behind_them(client: FlaskClient, world) -> None:
    page = sign_in(client, world["user"]).get("/creditor/dashboard").get_data(as_text=True)
    every = {"ALPHA-1", "ALPHA-2", "BETA-1", "GAMMA-1"}
    assert references(client, link_with(page, "currency=EUR")) == every
    assert references(client, link_with(page, "stage=placed")) == {"ALPHA-1", "ALPHA-2"}
    assert references(client, link_with(page, "stage=on_hold")) == {"BETA-1"}
    assert references(client, link_with(page, "stage=closed")) == {"GAMMA-1"}
    assert references(client, link_with(page, "open=1", "age_to=30")) == {"ALPHA-1", "ALPHA-2"}
    assert references(client, link_with(page, "open=1", "age=31", "age_to=60")) == set()
    assert references(client, link_with(page, "open=1", "age=91", "age_to=180")) == {"BETA-1"}
    this_month = utcnow().date().replace(day=1).isoformat()
    assert references(client, link_with(page, f"paid_from={this_month}")) == {"ALPHA-1", "GAMMA-1"}
    pounds = sign_in(client, world["user"]).get("/creditor/dashboard?currency=gbp")
    assert references(client, link_with(pounds.get_data(as_text=True), "currency=GBP")) == {
        "DELTA-1"
    }


def test_unpaid_figures_open_the_cases_behind_them(client: FlaskClient, world) -> None:
    page = sign_in(client, world["admin"]).get("/creditor/unpaid").get_data(as_text=True)
    assert references(client, link_with(page, "sign=not_returning_calls")) == {"ALPHA-1"}
    assert references(client, link_with(page, "sign=over_90_days_past_due")) == {"BETA-1"}
    assert references(client, link_with(page, "sign=none")) == {"ALPHA-2", "GAMMA-1"}
    assert references(client, link_with(page, "delay_to=30")) == {"ALPHA-1", "ALPHA-2"}
    assert references(client, link_with(page, "delay=31", "delay_to=90")) == {"GAMMA-1"}
    assert references(client, link_with(page, "delay=91", "delay_to=180")) == {"BETA-1"}
    assert references(client, link_with(page, "dispute=open")) == {"BETA-1"}
    reason = link_with(page, "dispute=any", "reason=goods never delivered")
    assert references(client, reason) == {"BETA-1"}
    alpha = link_with(page, "debtor=name:alpha traders gmbh")
    assert references(client, alpha) == {"ALPHA-1", "ALPHA-2"}


def test_the_period_travels_with_every_link(client: FlaskClient, world) -> None:
    today = utcnow().date()
    query = f"from={today - timedelta(days=3)}&to={today}"
    page = sign_in(client, world["user"]).get(f"/creditor/dashboard?{query}").get_data(as_text=True)
    assert "€4,300.00" in page
    assert all(f"from={today - timedelta(days=3)}" in href for href in links(page))
    before = f"from={today - timedelta(days=30)}&to={today - timedelta(days=1)}"
    empty = client.get(f"/creditor/dashboard?{before}").get_data(as_text=True)
    assert "No account in EUR was placed in this period." in empty
    assert references(client, link_with(empty, "currency=EUR")) == set()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("currency=XYZ", "“XYZ” is not a currency code: the figures are in EUR."),
        ("currency=%3Cscript%3E", "is not a currency code"),
        ("currency=EURO", "“EURO” is not a currency code"),
        ("from=2026-13-01", "The start of the period is not a day written as YYYY-MM-DD"),
        ("to=yesterday", "The end of the period is not a day written as YYYY-MM-DD"),
        ("from=2026-05-02&to=2026-05-01", "The period starts after it ends"),
        ("from=" + "9" * 500, "The start of the period is not a day"),
    ],
)
@pytest.mark.parametrize("path", ["/creditor/dashboard", "/creditor/unpaid"])
def test_bad_filter_values_are_said_and_the_default_is_shown(
    client: FlaskClient, world, query: str, message: str, path: str
) -> None:
    response = sign_in(client, world["user"]).get(f"{path}?{query}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert html.escape(message, quote=False) in page or message in html.unescape(page)
    assert "<script>" not in page.split("<main", 1)[1]
    if path.endswith("dashboard"):
        assert "€4,300.00" in page  # every euro case: the default filter


def test_far_dates_are_no_error(client: FlaskClient, world) -> None:
    sign_in(client, world["user"])
    for query in ("from=0001-01-01&to=9999-12-31", "to=0001-01-01", "from=9999-12-31"):
        assert client.get(f"/creditor/dashboard?{query}").status_code == 200
        assert client.get(f"/creditor/unpaid?{query}").status_code == 200
        assert client.get(f"/creditor/?{query}&age=999999&age_to=999999").status_code == 200


def _csv(client: FlaskClient, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = response.get_data(as_text=True).lstrip("\ufeff").replace("\N{EN DASH}", "-")
    return list(csv.reader(io.StringIO(text)))


def test_csv_of_each_dashboard_table(client: FlaskClient, world) -> None:
    sign_in(client, world["admin"])
    assert _csv(client, "/creditor/dashboard/stages.csv") == [
        ["stage", "currency", "cases", "placed", "collected", "outstanding", "recovery_percent"],
        ["Placed", "EUR", "2", "1300.00", "400.00", "900.00", "30.8"],
        ["On hold", "EUR", "1", "2500.00", "0.00", "2500.00", "0.0"],
        ["Closed", "EUR", "1", "500.00", "500.00", "0.00", "100.0"],
    ]
    assert _csv(client, "/creditor/dashboard/ageing.csv") == [
        ["days_past_due", "currency", "open_cases", "outstanding"],
        ["0-30", "EUR", "2", "900.00"],
        ["31-60", "EUR", "0", "0.00"],
        ["61-90", "EUR", "0", "0.00"],
        ["91-180", "EUR", "1", "2500.00"],
        ["180+", "EUR", "0", "0.00"],
    ]
    months = _csv(client, "/creditor/dashboard/months.csv")
    assert months[0] == ["month", "currency", "collected"]
    assert len(months) == 13
    assert months[-1] == [f"{utcnow():%Y-%m}", "EUR", "900.00"]
    assert all(row[2] == "0.00" for row in months[1:-1])
    assert _csv(client, "/creditor/dashboard/stages.csv?currency=GBP")[1:] == [
        ["Placed", "GBP", "1", "700.00", "0.00", "700.00", "0.0"]
    ]


def test_unknown_tables_are_not_found(client: FlaskClient, world) -> None:
    sign_in(client, world["admin"])
    for name in ("cases", "STAGES", "stages.csv", "..%2Fstages", ""):
        assert client.get(f"/creditor/dashboard/{name}.csv").status_code == 404


def test_dashboard_queries_do_not_grow_with_the_portfolio(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["user"])
    engine = session.get_bind()

    def queries() -> int:
        with counted_queries(engine) as statements:
            assert client.get("/creditor/dashboard").status_code == 200
            assert client.get("/creditor/unpaid").status_code == 200
        return len(statements)

    before = queries()
    with unscoped(session):
        for number in range(20):
            case = place(
                session,
                world["acme"],
                f"MORE-{number}",
                f"More {number} GmbH",
                amount=1_000 + number,
                days_past_due=number * 7,
            )
            if number % 3 == 0:
                stages.move(session, case, "send_reminder", actor_id=None, role=None)
                pay(session, case, 500)  # fmt: skip
        session.commit()
    assert queries() == before


@pytest.mark.parametrize(
    "query",
    [
        "age_to=abc",
        "age_to=-5",
        "age_to=9999999",
        "currency=zz",
        "open=yes",
        "paid_from=2026-02-30",
        "paid_to=" + "1" * 300,
        "sign=" + "x" * 500,
        "delay=-1",
        "delay_to=ten",
        "dispute=bogus",
        "debtor=" + "y" * 1000,
    ],
)
def test_malformed_case_list_criteria_are_ignored(client: FlaskClient, world, query: str) -> None:
    response = sign_in(client, world["user"]).get(f"/creditor/?{query}", headers=HTMX)
    assert response.status_code == 200
    assert references(client, f"/creditor/?{query}") >= {"ALPHA-1", "BETA-1", "GAMMA-1"}


@pytest.mark.parametrize(
    "query", ["currency=%00%00%00", "sign=%00", "reason=%00", "debtor=%00", "q=%00"]
)
def test_a_nul_byte_in_the_criteria_is_refused(client: FlaskClient, world, query: str) -> None:
    """No keyboard types one: the request is refused before any query reads it."""
    response = sign_in(client, world["user"]).get(f"/creditor/?{query}", headers=HTMX)
    assert response.status_code == 400
    assert "ALPHA-1" not in response.get_data(as_text=True)


def test_the_list_filtered_as_one_types_reads_only_the_list(
    client: FlaskClient, session: Session, world
) -> None:
    """The figures above the list (money per currency, cases per stage, decisions
    waiting) are worked out for the whole page, not for every filtered list htmx swaps in."""
    sign_in(client, world["user"])
    engine = session.get_bind()
    with counted_queries(engine) as whole_page:
        page = client.get("/creditor/?q=alpha").get_data(as_text=True)
    with counted_queries(engine) as list_alone:
        fragment = client.get("/creditor/?q=alpha", headers=HTMX).get_data(as_text=True)

    assert "ALPHA-1" in page and "ALPHA-1" in fragment and "BETA-1" not in fragment
    assert "Open cases" in page and "Open cases" not in fragment
    assert not any("GROUP BY cases.currency" in sql for sql in list_alone)
    assert len(list_alone) < len(whole_page) - 3


def test_a_long_waiting_list_shows_the_oldest_ten(
    client: FlaskClient, session: Session, world
) -> None:
    with unscoped(session):
        for number in range(11):
            case = place(
                session,
                world["acme"],
                f"WAIT-{number}",
                f"Waiting {number} GmbH",
                amount=10_000,
                days_past_due=15,
            )
            disputes.open_dispute(session, case, raised_by=Party.DEBTOR, reason="Not ordered",
                                  actor_id=None, role=None, today=utcnow().date())  # fmt: skip
        session.commit()
    page = sign_in(client, world["user"]).get("/creditor/dashboard").get_data(as_text=True)
    waiting = page.split('id="waiting"', 1)[1].split("</article>", 1)[0]
    assert 'Waiting for your decision <small class="muted">12</small>' in page
    assert waiting.count("Dispute: your evidence") == 10
    assert "all 12 cases waiting for you" in waiting
    assert "Beta Logistics AG" in waiting  # the oldest first
