"""What creditors and collectors see, full pages and htmx fragments."""

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.models import Role
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.querycount import counted_queries

HTMX = {"HX-Request": "true"}


@pytest.fixture
def world(session: Session):
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other", currency="GBP")
        cases = [
            make_case(
                session, acme, debtor_name="Keller Bau GmbH", reference="ACME-1", amounts=(50_000,)
            ),
            make_case(
                session,
                acme,
                debtor_name="Harbour Cafe Ltd",
                reference="ACME-2",
                amounts=(12_345, 655),
            ),
            make_case(session, other, debtor_name="Other Tenant Debtor", reference="OTH-1"),
        ]
        people = {
            "creditor": make_user(session, Role.CREDITOR_USER, acme),
            "collector": make_user(session, Role.COLLECTOR),
            "admin": make_user(session, Role.AGENCY_ADMIN),
        }
        session.commit()
    return {"acme": acme, "other": other, "cases": cases, **people}


def test_creditor_portfolio_shows_own_cases_and_totals(client: FlaskClient, world) -> None:
    page = sign_in(client, world["creditor"]).get("/creditor/").get_data(as_text=True)
    assert "Keller Bau GmbH" in page and "Harbour Cafe Ltd" in page
    assert "Other Tenant Debtor" not in page
    assert "€630.00" in page  # 500.00 + 123.45 + 6.55 placed
    assert "2 cases" in page


def test_creditor_search_returns_only_the_list_fragment_to_htmx(client: FlaskClient, world) -> None:
    sign_in(client, world["creditor"])
    fragment = client.get("/creditor/?q=harbour", headers=HTMX).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="case-list"')
    assert "<html" not in fragment
    assert "Harbour Cafe Ltd" in fragment and "Keller Bau GmbH" not in fragment
    full = client.get("/creditor/?q=harbour").get_data(as_text=True)
    assert "<html" in full and 'value="harbour"' in full


def test_creditor_case_page(client: FlaskClient, world) -> None:
    case = world["cases"][1]
    page = (
        sign_in(client, world["creditor"]).get(f"/creditor/cases/{case.id}").get_data(as_text=True)
    )
    assert "Harbour Cafe Ltd" in page
    assert case.agency_reference in page
    assert "€130.00" in page  # outstanding
    assert "INV-" in page and "Placed with 2 invoice(s)" in page


def test_collector_queue_shows_every_allowed_tenant(client: FlaskClient, world) -> None:
    page = sign_in(client, world["collector"]).get("/agency/?due=all").get_data(as_text=True)
    for name in ("Keller Bau GmbH", "Harbour Cafe Ltd", "Other Tenant Debtor"):
        assert name in page
    filtered = client.get(f"/agency/?due=all&tenant={world['other'].id}", headers=HTMX)
    assert "Other Tenant Debtor" in filtered.get_data(as_text=True)
    assert "Keller Bau GmbH" not in filtered.get_data(as_text=True)


def test_queue_filters_ignore_malformed_values(client: FlaskClient, world) -> None:
    sign_in(client, world["collector"])
    for query in ("stage=bogus", "page=-1", "page=999999999999", "tenant=abc", "q=" + "%" * 500):
        assert client.get(f"/agency/?due=all&{query}").status_code == 200, query


def test_search_text_is_escaped(client: FlaskClient, world) -> None:
    sign_in(client, world["collector"])
    page = client.get("/agency/?q=<script>alert(1)</script>").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;" in page


def test_admin_pages(client: FlaskClient, world) -> None:
    sign_in(client, world["admin"])
    assert "Other Ltd" in client.get("/agency/tenants").get_data(as_text=True)
    assert "No mail has been sent yet" in client.get("/agency/outbox").get_data(as_text=True)


def test_debtor_start_page_needs_no_account(client: FlaskClient) -> None:
    page = client.get("/pay/").get_data(as_text=True)
    assert "payment link" in page


@pytest.mark.parametrize(
    ("who", "path"), [("creditor", "/creditor/"), ("collector", "/agency/?due=all")]
)
def test_case_lists_take_the_same_queries_for_more_cases(
    app, client: FlaskClient, session: Session, world, who: str, path: str
) -> None:
    """No query per row: ten more cases cost no more statements."""
    sign_in(client, world[who])
    with counted_queries(app.extensions["portal.engine"]) as before:
        client.get(path)
    with unscoped(session):
        for _ in range(10):
            make_case(session, world["acme"], amounts=(100, 200))
        session.commit()
    with counted_queries(app.extensions["portal.engine"]) as after:
        body = client.get(path).get_data(as_text=True)
    assert body.count("data-row-link") >= 12
    assert len(after) == len(before)
