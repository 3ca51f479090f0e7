"""The collectors' work queue: every filter, sorting, the case panel beside the list."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Case, PromiseStatus, PromiseToPay, Role, Stage
from portal.services.case_lists import CaseFilter, find_cases
from portal.services.placement import InvoiceDetails, place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user, placement_request
from tests.querycount import counted_queries

HTMX = {"HX-Request": "true"}
TODAY = date(2026, 6, 1)


def _place(session: Session, tenant, name: str, *, amounts: tuple[int, ...], due: date) -> Case:
    invoices = tuple(
        InvoiceDetails(
            number=f"{name[:8]}-{index}",
            issue_date=due - timedelta(days=30),
            due_date=due,
            amount_minor=amount,
        )
        for index, amount in enumerate(amounts)
    )
    request = placement_request(name, invoices=invoices)
    return place_case(session, tenant, request, today=max(due, utcnow().date()))


@pytest.fixture
def queue_world(session: Session):
    now = utcnow().date()
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other", currency="GBP")
        collector = make_user(session, Role.COLLECTOR)
        colleague = make_user(session, Role.COLLECTOR)
        admin = make_user(session, Role.AGENCY_ADMIN)
        old = _place(session, acme, "Old Big GmbH", amounts=(500_000,), due=now - timedelta(200))
        small = _place(session, acme, "Small Fresh Ltd", amounts=(5_000,), due=now - timedelta(10))
        mine = _place(
            session, other, "Mine Trading Ltd", amounts=(80_000,), due=now - timedelta(60)
        )
        theirs = _place(session, acme, "Theirs Bakery", amounts=(30_000,), due=now - timedelta(40))
        mine.assigned_collector_id = collector.id
        theirs.assigned_collector_id = colleague.id
        small.stage = Stage.REMINDER  # test data: set directly, as a fixture of the state
        old.priority, small.priority, mine.priority, theirs.priority = 90, 10, 50, 50
        session.add(
            PromiseToPay(
                tenant_id=theirs.tenant_id,
                case_id=theirs.id,
                amount_minor=10_000,
                due_on=now - timedelta(days=3),
                status=PromiseStatus.BROKEN,
            )
        )
        session.add(
            PromiseToPay(
                tenant_id=old.tenant_id,
                case_id=old.id,
                amount_minor=10_000,
                due_on=now + timedelta(days=3),
                status=PromiseStatus.OPEN,
            )
        )
        session.commit()
    return {
        "acme": acme,
        "other": other,
        "collector": collector,
        "colleague": colleague,
        "admin": admin,
        "old": old,
        "small": small,
        "mine": mine,
        "theirs": theirs,
    }


def _names(client: FlaskClient, query: str) -> set[str]:
    body = client.get(f"/agency/?{query}", headers=HTMX).get_data(as_text=True)
    known = ("Old Big GmbH", "Small Fresh Ltd", "Mine Trading Ltd", "Theirs Bakery")
    return {name for name in known if name in body}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("due=all", {"Old Big GmbH", "Small Fresh Ltd", "Mine Trading Ltd", "Theirs Bakery"}),
        ("due=all&stage=amicable.reminder", {"Small Fresh Ltd"}),
        ("due=all&min=300", {"Old Big GmbH", "Mine Trading Ltd", "Theirs Bakery"}),
        ("due=all&min=300.01", {"Old Big GmbH", "Mine Trading Ltd"}),
        ("due=all&max=300", {"Small Fresh Ltd", "Theirs Bakery"}),
        ("due=all&min=60&max=1000", {"Mine Trading Ltd", "Theirs Bakery"}),
        ("due=all&min=1,000.50", {"Old Big GmbH"}),
        ("due=all&age=50", {"Old Big GmbH", "Mine Trading Ltd"}),
        ("due=all&age=100", {"Old Big GmbH"}),
        ("due=all&broken=1", {"Theirs Bakery"}),
        ("due=all&assigned=me", {"Mine Trading Ltd"}),
        ("due=all&assigned=none", {"Old Big GmbH", "Small Fresh Ltd"}),
        ("due=all&q=bakery", {"Theirs Bakery"}),
        ("due=all&q=small&min=100", set()),
        ("", {"Old Big GmbH", "Small Fresh Ltd", "Mine Trading Ltd", "Theirs Bakery"}),
    ],
)
def test_each_filter(client: FlaskClient, queue_world, query: str, expected: set[str]) -> None:
    sign_in(client, queue_world["collector"])
    assert _names(client, query) == expected


def test_tenant_filter(client: FlaskClient, queue_world) -> None:
    sign_in(client, queue_world["collector"])
    assert _names(client, f"due=all&tenant={queue_world['other'].id}") == {"Mine Trading Ltd"}


@pytest.mark.parametrize(
    "query",
    [
        "min=abc",
        "min=-5",
        "max=1e999",
        "max=NaN",
        "min=" + "9" * 40,
        "age=-3",
        "age=ten",
        "age=99999999",
        "broken=yes",
        "assigned=someone",
        "sort=bogus",
    ],
)
def test_malformed_filters_are_ignored(client: FlaskClient, queue_world, query: str) -> None:
    sign_in(client, queue_world["collector"])
    response = client.get(f"/agency/?due=all&{query}", headers=HTMX)
    assert response.status_code == 200
    assert _names(client, f"due=all&{query}") == _names(client, "due=all")


def test_queue_sorts_by_priority_then_next_action(client: FlaskClient, queue_world) -> None:
    sign_in(client, queue_world["collector"])
    body = client.get("/agency/?due=all", headers=HTMX).get_data(as_text=True)
    assert body.index("Old Big GmbH") < body.index("Mine Trading Ltd")
    assert body.index("Mine Trading Ltd") < body.index("Small Fresh Ltd")
    assert body.index("Theirs Bakery") < body.index("Small Fresh Ltd")


def test_not_due_cases_stay_out_of_today_s_queue(
    client: FlaskClient, session: Session, queue_world
) -> None:
    with unscoped(session):
        case = session.get(Case, queue_world["old"].id)
        assert case is not None
        case.next_action_on = utcnow().date() + timedelta(days=5)
        session.commit()
    sign_in(client, queue_world["collector"])
    assert "Old Big GmbH" not in _names(client, "")
    assert "Old Big GmbH" in _names(client, "due=all")


def test_find_cases_counts_age_from_the_given_day(session: Session, queue_world) -> None:
    """The age filter is relative to ``today`` (a fixed day here, not the clock)."""
    with unscoped(session):
        oldest_due = session.get(Case, queue_world["old"].id).invoices[0].due_date  # type: ignore[union-attr]
        exactly = CaseFilter(min_age_days=30, today=oldest_due + timedelta(days=30))
        names = {row.case.debtor.name for row in find_cases(session, exactly).rows}
        assert "Old Big GmbH" in names
        too_soon = CaseFilter(min_age_days=30, today=oldest_due + timedelta(days=29))
        names = {row.case.debtor.name for row in find_cases(session, too_soon).rows}
        assert "Old Big GmbH" not in names


def test_amounts_are_in_each_currency_s_major_units(session: Session, queue_world) -> None:
    with unscoped(session):
        found = find_cases(session, CaseFilter(min_outstanding=Decimal("800")))
        assert {row.case.debtor.name for row in found.rows} == {
            "Old Big GmbH",
            "Mine Trading Ltd",
        }


def test_a_search_that_matches_nothing_reads_the_cases_once(
    app, session: Session, queue_world
) -> None:
    """The count comes first; when nothing matches (or the page lies past the last case)
    no page of rows is read: an unmatched search reads every case, and once is enough."""
    engine = app.extensions["portal.engine"]
    with unscoped(session):
        with counted_queries(engine) as unmatched:
            nothing = find_cases(session, CaseFilter(search="no such debtor"))
        with counted_queries(engine) as past_the_end:
            beyond = find_cases(session, CaseFilter(page=99))
        with counted_queries(engine) as matched:
            some = find_cases(session, CaseFilter(search="Old Big"))
    assert (nothing.rows, nothing.total, beyond.rows) == ([], 0, [])
    assert beyond.total > 0
    selects = [
        [sql for sql in sent if sql.startswith("SELECT")] for sent in (unmatched, past_the_end)
    ]
    assert [len(sent) for sent in selects] == [1, 1]  # the count alone
    assert all("count(*)" in sent[0] for sent in selects)
    assert [row.case.debtor.name for row in some.rows] == ["Old Big GmbH"]
    assert len(matched) > 1


def test_admins_get_checkboxes_and_collectors_do_not(client: FlaskClient, queue_world) -> None:
    sign_in(client, queue_world["admin"])
    page = client.get("/agency/?due=all").get_data(as_text=True)
    assert 'id="assign-form"' in page and 'name="case_id"' in page and "data-select-all" in page
    sign_in(client, queue_world["collector"])
    page = client.get("/agency/?due=all").get_data(as_text=True)
    assert 'name="case_id"' not in page and 'id="assign-form"' not in page


def test_rows_open_the_case_panel_and_the_full_page(client: FlaskClient, queue_world) -> None:
    sign_in(client, queue_world["collector"])
    case = queue_world["mine"]
    page = client.get("/agency/?due=all").get_data(as_text=True)
    assert f'hx-get="/agency/cases/{case.id}/panel"' in page
    assert f'href="/agency/cases/{case.id}"' in page
    assert 'id="case-panel"' in page
    panel = client.get(f"/agency/cases/{case.id}/panel", headers=HTMX).get_data(as_text=True)
    assert "<html" not in panel
    assert "Mine Trading Ltd" in panel and case.agency_reference in panel
    assert "data-panel-step" in panel and f'href="/agency/cases/{case.id}"' in panel
    assert "£800.00" in panel
    plain = client.get(f"/agency/cases/{case.id}/panel").get_data(as_text=True)
    assert "<html" in plain and "Mine Trading Ltd" in plain


def test_panel_of_a_tenant_out_of_reach_is_not_found(
    client: FlaskClient, session: Session, queue_world
) -> None:
    with unscoped(session):
        limited = make_user(session, Role.COLLECTOR, limited_to=[queue_world["acme"]])
        session.commit()
    sign_in(client, limited)
    mine = queue_world["mine"]
    assert client.get(f"/agency/cases/{mine.id}/panel", headers=HTMX).status_code == 404
    assert "Mine Trading Ltd" not in _names(client, "due=all")


def test_queue_page_has_no_inline_script_or_style(client: FlaskClient, queue_world) -> None:
    sign_in(client, queue_world["admin"])
    for path in ("/agency/?due=all", "/agency/load"):
        page = client.get(path).get_data(as_text=True)
        assert "style=" not in page and "<style" not in page, path
        assert "onclick" not in page and "<script>" not in page, path
    panel = client.get(f"/agency/cases/{queue_world['old'].id}/panel", headers=HTMX)
    assert "style=" not in panel.get_data(as_text=True)
