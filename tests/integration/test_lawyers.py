"""Agency admins keep the network of lawyers; bad details are refused and add nothing."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Lawyer, Role
from portal.services import legal_requests
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_user

GOOD = {
    "name": "Dr. Anna Weber",
    "firm": "Weber & Partner Rechtsanwälte",
    "email": "weber@law.example",
    "jurisdictions": "de, AT",
    "languages": "de,EN",
    "fee_terms": "RVG statutory fees",
}


@pytest.fixture
def admin_client(client: FlaskClient, session: Session) -> FlaskClient:
    with unscoped(session):
        admin = make_user(session, Role.AGENCY_ADMIN)
        session.commit()
    sign_in(client, admin)
    return client


def token(client: FlaskClient) -> str:
    page = client.get("/agency/lawyers").get_data(as_text=True)
    return re.search(
        r'id="csrf_token" name="csrf_token" type="hidden" value="([^"]+)"', page
    ).group(1)


def lawyers_in(session: Session) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(Lawyer)) or 0


def test_an_admin_adds_a_lawyer_and_can_take_them_out(
    admin_client: FlaskClient, session: Session
) -> None:
    added = admin_client.post("/agency/lawyers", data=GOOD | {"csrf_token": token(admin_client)})
    assert added.status_code == 302
    with unscoped(session):
        lawyer = session.scalars(select(Lawyer)).one()
        assert (lawyer.jurisdictions, lawyer.languages) == (["DE", "AT"], ["de", "en"])
        assert session.scalar(select(AuditEntry).where(AuditEntry.action == "lawyer.added"))
    assert "Weber &amp; Partner" in admin_client.get("/agency/lawyers").get_data(as_text=True)
    admin_client.post(
        f"/agency/lawyers/{lawyer.id}/active", data={"csrf_token": token(admin_client)}
    )
    with unscoped(session):
        session.expire_all()
        assert legal_requests.active_lawyers(session) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": "not-an-address"}, "e-mail address is not valid"),
        ({"jurisdictions": "Germany"}, "two-letter country code"),
        ({"languages": "deutsch"}, "two-letter language code"),
        ({"name": ""}, "required"),
        ({"firm": "x" * 201}, "200 characters"),
    ],
)
def test_bad_details_are_refused(
    admin_client: FlaskClient, session: Session, change: dict[str, str], message: str
) -> None:
    refused = admin_client.post(
        "/agency/lawyers", data=GOOD | change | {"csrf_token": token(admin_client)}
    )
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert lawyers_in(session) == 0


def test_a_collector_neither_sees_nor_changes_the_network(
    client: FlaskClient, session: Session
) -> None:
    with unscoped(session):
        collector = make_user(session, Role.COLLECTOR)
        session.commit()
    sign_in(client, collector)
    assert client.get("/agency/lawyers").status_code == 403
    assert client.post("/agency/lawyers", data=GOOD).status_code in {400, 403}
    assert lawyers_in(session) == 0
