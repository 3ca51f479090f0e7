"""Agency admins assign cases to collectors, one or many, and see each collector's load."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import AuditEntry, Case, EntryKind, Role, Stage
from portal.services import ledger
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.querycount import counted_queries


@pytest.fixture
def team(session: Session):
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other", currency="GBP")
        cases = [
            make_case(session, acme, debtor_name="Alpha GmbH", amounts=(10_000,)),
            make_case(session, acme, debtor_name="Beta GmbH", amounts=(20_000, 5_000)),
            make_case(session, other, debtor_name="Gamma Ltd", amounts=(7_000,)),
        ]
        people = {
            "admin": make_user(session, Role.AGENCY_ADMIN),
            "collector": make_user(session, Role.COLLECTOR),
            "limited": make_user(session, Role.COLLECTOR, limited_to=[acme]),
            "creditor": make_user(session, Role.CREDITOR_ADMIN, acme),
        }
        people["collector"].name = "Carla Collector"
        people["limited"].name = "Lena Limited"
        session.commit()
    return {"acme": acme, "other": other, "cases": cases, **people}


def token(client: FlaskClient) -> str:
    page = client.get("/agency/?due=all").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found
    return found.group(1)


def assigned(session: Session, case: Case) -> int | None:
    with unscoped(session):
        session.expire_all()
        return session.scalar(select(Case.assigned_collector_id).where(Case.id == case.id))


def post_bulk(client: FlaskClient, case_ids: list[object], collector: object):
    data = {
        "csrf_token": token(client),
        "case_id": [str(case_id) for case_id in case_ids],
        "collector": str(collector),
        "next": "/agency/?due=all",
    }
    return client.post("/agency/assignments", data=data, follow_redirects=True)


def test_bulk_assignment_is_audited(client: FlaskClient, session: Session, team) -> None:
    sign_in(client, team["admin"])
    alpha, beta, gamma = team["cases"]
    response = post_bulk(client, [alpha.id, beta.id, gamma.id], team["collector"].id)
    assert response.status_code == 200
    assert "3 cases assigned." in response.get_data(as_text=True)
    assert response.request.path == "/agency/"
    for case in (alpha, beta, gamma):
        assert assigned(session, case) == team["collector"].id
    with unscoped(session):
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.assigned")
        ).all()
    assert {entry.object_id for entry in entries} == {str(c.id) for c in (alpha, beta, gamma)}
    assert all(entry.actor_id == team["admin"].id for entry in entries)
    assert all(entry.details["collector_id"] == team["collector"].id for entry in entries)
    # Again: nothing changes, nothing more is audited.
    again = post_bulk(client, [alpha.id], team["collector"].id)
    assert "Nothing changed." in again.get_data(as_text=True)


def test_single_assignment_and_unassignment(client: FlaskClient, session: Session, team) -> None:
    sign_in(client, team["admin"])
    alpha = team["cases"][0]
    data = {"csrf_token": token(client), "collector": str(team["limited"].id)}
    response = client.post(f"/agency/cases/{alpha.id}/assignment", data=data)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/agency/cases/{alpha.id}")
    assert assigned(session, alpha) == team["limited"].id
    data = {"csrf_token": token(client), "collector": "none", "next": "/agency/"}
    response = client.post(f"/agency/cases/{alpha.id}/assignment", data=data)
    assert response.headers["Location"].endswith("/agency/")
    assert assigned(session, alpha) is None


def test_redirect_stays_inside_the_workspace(client: FlaskClient, team) -> None:
    sign_in(client, team["admin"])
    alpha = team["cases"][0]
    data = {
        "csrf_token": token(client),
        "collector": str(team["collector"].id),
        "next": "https://evil.example/agency/",
    }
    response = client.post(f"/agency/cases/{alpha.id}/assignment", data=data)
    assert response.headers["Location"].endswith(f"/agency/cases/{alpha.id}")


def test_a_limited_collector_only_gets_their_tenants(
    client: FlaskClient, session: Session, team
) -> None:
    sign_in(client, team["admin"])
    alpha, _beta, gamma = team["cases"]
    response = post_bulk(client, [alpha.id, gamma.id], team["limited"].id)
    body = response.get_data(as_text=True)
    assert "Lena Limited only works cases of the clients they are limited to" in body
    assert gamma.agency_reference in body and "nothing was assigned" in body
    assert assigned(session, alpha) is None and assigned(session, gamma) is None
    ok = post_bulk(client, [alpha.id], team["limited"].id)
    assert "1 case assigned." in ok.get_data(as_text=True)


@pytest.mark.parametrize(
    ("case_ids", "collector", "message"),
    [
        ([], "collector", "Select at least one case to assign."),
        (["alpha"], "", "Choose whom to assign the cases to."),
        (["alpha"], 999_999, "There is no such collector"),
        (["alpha"], "abc", "There is no such collector"),
        (["alpha"], "creditor", "There is no such collector"),
        (["alpha", 999_999], "collector", "No case with the id 999999 exists"),
        (["x1"], "collector", "No case with the id &#39;x1&#39; exists"),
    ],
)
def test_refusals_say_why(
    client: FlaskClient, session: Session, team, case_ids, collector, message: str
) -> None:
    sign_in(client, team["admin"])
    alpha = team["cases"][0]
    ids = [alpha.id if value == "alpha" else value for value in case_ids]
    who = team[collector].id if collector in ("collector", "creditor") else collector
    body = post_bulk(client, ids, who).get_data(as_text=True)
    assert message in body
    assert assigned(session, alpha) is None
    with unscoped(session):
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action == "case.assigned")
        ).all()


@pytest.mark.parametrize("who", ["collector", "limited"])
def test_only_admins_assign_or_see_the_load(client: FlaskClient, team, who: str) -> None:
    sign_in(client, team[who])
    page = client.get("/agency/?due=all").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    data = {"csrf_token": csrf.group(1) if csrf else "", "collector": str(team[who].id)}
    data["case_id"] = str(team["cases"][0].id)
    assert client.post("/agency/assignments", data=data).status_code == 403
    assert (
        client.post(f"/agency/cases/{team['cases'][0].id}/assignment", data=data).status_code == 403
    )
    assert client.get("/agency/load").status_code == 403


def test_creditors_cannot_reach_assignment(client: FlaskClient, team) -> None:
    sign_in(client, team["creditor"])
    assert client.get("/agency/load").status_code == 403


def test_collector_load(client: FlaskClient, session: Session, team) -> None:
    alpha, beta, gamma = team["cases"]
    today = utcnow().date()
    with unscoped(session):
        for case, collector in ((alpha, "collector"), (beta, "collector"), (gamma, "collector")):
            session.get(Case, case.id).assigned_collector_id = team[collector].id  # type: ignore[union-attr]
        session.get(Case, beta.id).next_action_on = today + timedelta(days=3)  # type: ignore[union-attr]
        ledger.book(
            session,
            session.get(Case, alpha.id),  # type: ignore[arg-type]
            EntryKind.PAYMENT,
            -2_500,
            value_date=today,
            description="Part payment",
        )
        closed = make_case(session, team["acme"], debtor_name="Closed GmbH", amounts=(99_900,))
        closed.assigned_collector_id = team["collector"].id
        closed.stage = Stage.CLOSED  # test data: a case closed earlier
        session.commit()
    sign_in(client, team["admin"])
    page = client.get("/agency/load").get_data(as_text=True)
    row = page[page.index("Carla Collector") :]
    row = row[: row.index("</tr>")]
    cells = re.findall(r'<td class="num">(.*?)</td>', row, re.S)
    assert cells[0].strip() == "3"  # open: alpha, beta, gamma (not the closed one)
    assert cells[1].strip() == "2"  # due by today: alpha, gamma
    assert "€325.00" in cells[2] and "£70.00" in cells[2]  # 75 + 250 EUR, 70 GBP
    lena = page[page.index("Lena Limited") :]
    lena = lena[: lena.index("</tr>")]
    assert re.findall(r'<td class="num">(.*?)</td>', lena, re.S)[:2] == ["0", "0"]
    assert "Unassigned" in page
    assert 'href="/agency/load"' in page  # in the navigation


def test_load_takes_the_same_queries_for_more_cases(
    app, client: FlaskClient, session: Session, team
) -> None:
    sign_in(client, team["admin"])
    with counted_queries(app.extensions["portal.engine"]) as before:
        client.get("/agency/load")
    with unscoped(session):
        for _ in range(5):
            case = make_case(session, team["acme"])
            case.assigned_collector_id = team["limited"].id
        session.commit()
    with counted_queries(app.extensions["portal.engine"]) as after:
        client.get("/agency/load")
    assert len(after) == len(before)
