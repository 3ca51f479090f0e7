"""Early intervention on the agency's pages: the queue of invoices under check, recording
what the debtor said, converting to a collection case; refusals change nothing."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    Activity,
    AuditEntry,
    Case,
    CheckStatus,
    InvoiceCheck,
    OutboxMessage,
    Role,
    Stage,
)
from portal.services.placement import place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user, placement_request

TODAY = utcnow().date()


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        early = placement_request("Keller Bau GmbH", amounts=(100_000,), early_intervention=True)
        case = place_case(session, tenant, early)
        plain = make_case(session, tenant, debtor_name="Plain Collection GmbH")
        zeta = make_tenant(session, "zeta")
        other = place_case(
            session, zeta, placement_request("Zeta Secret AG", early_intervention=True)
        )
        people = {
            "collector": make_user(session, Role.COLLECTOR, limited_to=[tenant]),
            "creditor": make_user(session, Role.CREDITOR_ADMIN, tenant),
        }
        session.commit()
    return {"case": case, "plain": plain, "other": other, **people}


@pytest.fixture
def collector(client: FlaskClient, world: dict) -> FlaskClient:
    return sign_in(client, world["collector"])


def csrf(client: FlaskClient) -> str:
    """The session's CSRF token, from the sign-out form every page has."""
    page = client.get("/agency/checks").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token"
    return found.group(1)


def post(client: FlaskClient, case_id: int, path: str, prefix: str, /, **fields: object):
    data: dict[str, object] = {f"{prefix}-csrf_token": csrf(client)}
    data.update({f"{prefix}-{name}": value for name, value in fields.items()})
    return client.post(f"/agency/cases/{case_id}/{path}", data=data)


def answer(client: FlaskClient, case_id: int, **fields: object):
    return post(client, case_id, "check", "check", **fields)


def check_of(session: Session, case: Case) -> InvoiceCheck:
    session.expire_all()
    with unscoped(session):
        return session.scalars(select(InvoiceCheck).where(InvoiceCheck.case_id == case.id)).one()


def snapshot(session: Session, case: Case) -> tuple:
    """What a refused form must leave as it was."""
    check = check_of(session, case)
    with unscoped(session):
        counts = tuple(
            session.scalar(select(func.count()).select_from(model))
            for model in (Activity, AuditEntry)
        )
        stage = session.get(Case, case.id).stage  # type: ignore[union-attr]
    return (check.status, check.expected_payment_on, check.follow_up_on,
            check.dispute_reason, stage, *counts)  # fmt: skip


def test_the_queue_lists_the_checks_of_the_collectors_clients(
    collector: FlaskClient, world: dict
) -> None:
    page = collector.get("/agency/checks")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Keller Bau GmbH" in text and "1,000.00" in text
    assert f"/agency/cases/{world['case'].id}#check" in text and "data-row-link" in text
    assert "Zeta Secret AG" not in text and "Plain Collection GmbH" not in text
    assert 'aria-current="page">Checks' in text


def test_the_case_page_shows_the_check_only_on_a_checked_case(
    collector: FlaskClient, world: dict
) -> None:
    checked = collector.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert 'id="check"' in checked and "Record the answer" in checked
    plain = collector.get(f"/agency/cases/{world['plain'].id}").get_data(as_text=True)
    assert 'id="check"' not in plain


def test_confirmed_with_a_date_follows_up_the_day_after(
    collector: FlaskClient, session: Session, client: FlaskClient, world: dict
) -> None:
    promised = TODAY + timedelta(days=7)
    response = answer(collector, world["case"].id, answer="confirmed",
                      expected_on=promised.isoformat())  # fmt: skip
    assert response.status_code == 302 and response.location.endswith("#check")
    check = check_of(session, world["case"])
    assert check.status is CheckStatus.CONFIRMED and check.expected_payment_on == promised
    assert check.follow_up_on == promised + timedelta(days=1)
    assert check.answered_by_id == world["collector"].id
    creditor = sign_in(client, world["creditor"])
    page = creditor.get(f"/creditor/cases/{world['case'].id}").get_data(as_text=True)
    assert "Invoice check: Received, not disputed: will pay" in page
    assert f"Will pay by {promised.isoformat()}" in page


def test_disputed_with_a_reason_is_recorded(
    collector: FlaskClient, session: Session, world: dict
) -> None:
    response = answer(collector, world["case"].id, answer="disputed",
                      reason="Goods arrived damaged")  # fmt: skip
    assert response.status_code == 302
    check = check_of(session, world["case"])
    assert check.status is CheckStatus.DISPUTED and check.dispute_reason == "Goods arrived damaged"
    assert check.follow_up_on is None
    with unscoped(session):  # reported back to the creditor
        told = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == world["creditor"].email)
        ).one()
    assert "Goods arrived damaged" in told.body_text


def test_no_answer_tries_again_in_three_days(
    collector: FlaskClient, session: Session, world: dict
) -> None:
    response = answer(collector, world["case"].id, answer="no_answer")
    assert response.status_code == 302
    check = check_of(session, world["case"])
    assert check.status is CheckStatus.OPEN and check.follow_up_on == TODAY + timedelta(days=3)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"answer": "confirmed"}, "Give the date the debtor says they will pay"),
        ({"answer": "confirmed", "expected_on": (TODAY - timedelta(days=1)).isoformat()},
         "Give the date the debtor says they will pay"),
        ({"answer": "disputed", "reason": "  "}, "Say what the debtor disputes"),
        ({"answer": "maybe"}, "Not a valid choice"),
        ({}, "This field is required"),
    ],
)  # fmt: skip
def test_a_bad_answer_is_refused_and_changes_nothing(
    collector: FlaskClient, session: Session, world: dict, fields: dict, message: str
) -> None:
    before = snapshot(session, world["case"])
    response = answer(collector, world["case"].id, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert snapshot(session, world["case"]) == before


def test_an_answer_without_the_csrf_token_is_refused(
    collector: FlaskClient, session: Session, world: dict
) -> None:
    before = snapshot(session, world["case"])
    response = collector.post(f"/agency/cases/{world['case'].id}/check",
                              data={"check-answer": "no_answer"})  # fmt: skip
    assert response.status_code in (400, 422)
    assert snapshot(session, world["case"]) == before


def test_convert_makes_a_collection_case(
    collector: FlaskClient, session: Session, world: dict
) -> None:
    response = post(collector, world["case"].id, "check/convert", "convert",
                    why="The debtor stopped answering")  # fmt: skip
    assert response.status_code == 302
    check = check_of(session, world["case"])
    assert check.status is CheckStatus.CONVERTED and check.converted_on == TODAY
    with unscoped(session):
        assert session.get(Case, world["case"].id).stage is Stage.PLACED  # type: ignore[union-attr]
    page = collector.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert "Record the answer" not in page and "now a collection case" in page


def test_convert_needs_a_reason_and_changes_nothing_without_one(
    collector: FlaskClient, session: Session, world: dict
) -> None:
    before = snapshot(session, world["case"])
    response = post(collector, world["case"].id, "check/convert", "convert", why="")
    assert response.status_code == 422
    assert snapshot(session, world["case"]) == before


def test_an_answer_once_converted_is_refused(
    collector: FlaskClient, session: Session, world: dict
) -> None:
    post(collector, world["case"].id, "check/convert", "convert", why="Unpaid")
    before = snapshot(session, world["case"])
    response = answer(collector, world["case"].id, answer="no_answer")
    assert response.status_code == 422
    assert "no longer being checked" in response.get_data(as_text=True)
    assert snapshot(session, world["case"]) == before


@pytest.mark.parametrize("path", ["check", "check/convert"])
def test_another_tenants_check_is_not_found(
    collector: FlaskClient, session: Session, world: dict, path: str
) -> None:
    before = snapshot(session, world["other"])
    response = post(collector, world["other"].id, path, path.replace("check/", ""),
                    answer="no_answer", why="x")  # fmt: skip
    assert response.status_code == 404
    assert snapshot(session, world["other"]) == before


@pytest.mark.parametrize("path", ["check", "check/convert"])
def test_a_case_without_a_check_is_not_found(
    collector: FlaskClient, world: dict, path: str
) -> None:
    response = post(collector, world["plain"].id, path, "check", answer="no_answer")
    assert response.status_code == 404
