"""The creditor decides on legal action in the portal: approval opens litigation, a
decline goes back to negotiation or closes the case; nothing else gets a case into court."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    Case,
    Closure,
    Lawyer,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    Party,
    Role,
    SettlementStatus,
    Stage,
    Tenant,
    User,
)
from portal.services import disputes, legal_requests, settlements
from portal.services.creditor_decisions import waiting
from portal.services.legal_requests import Estimate, LegalRequestError
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.querycount import counted_queries


@pytest.fixture
def proposed(session: Session) -> tuple[Case, LegalRequest, User]:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH")
        case.stage = Stage.NEGOTIATION
        lawyer = Lawyer(name="Dr. Anna Weber", firm="Weber & Partner", email="weber@law.example",
                        jurisdictions=["DE"], languages=["de", "en"], fee_terms="RVG")  # fmt: skip
        legal = make_user(session, Role.LEGAL)
        session.add(lawyer)
        session.flush()
        request = legal_requests.propose(
            session, case, lawyer=lawyer, estimate=Estimate(45_000, 80_000, 45_000),
            note="Debtor ignores every letter.", actor_id=legal.id, role=Role.LEGAL,
        )  # fmt: skip
        creditor = make_user(session, Role.CREDITOR_ADMIN, tenant)
        session.commit()
    return case, request, creditor


def form_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'id="legal-csrf_token" name="legal-csrf_token" type="hidden" value="([^"]+)"',
                     page).group(1)  # fmt: skip


def decide(client: FlaskClient, case: Case, request: LegalRequest, **fields: str):
    path = f"/creditor/cases/{case.id}"
    data = {"legal-csrf_token": form_token(client, path)} | fields
    return client.post(f"{path}/legal-requests/{request.id}/decision", data=data)


def reload(session: Session, case: Case) -> Case:
    with unscoped(session):
        session.expire_all()
        found = session.get(Case, case.id)
        assert found is not None
        return found


def test_the_proposal_puts_the_case_in_legal_review_and_waits_for_the_creditor(
    client: FlaskClient, session: Session, proposed
) -> None:
    case, _request, creditor = proposed
    sign_in(client, creditor)
    assert reload(session, case).stage is Stage.LEGAL_REVIEW
    home = client.get("/creditor/").get_data(as_text=True)
    assert "Waiting for your decision" in home and "Legal action proposed" in home
    page = client.get(f"/creditor/cases/{case.id}").get_data(as_text=True)
    assert "Legal action with Dr. Anna Weber, Weber &amp; Partner" in page
    assert "€1,250.00" in page  # the estimate: court and lawyer's fees


def test_the_waiting_list_costs_the_same_queries_for_many_cases(
    app: Flask, session: Session, proposed
) -> None:
    case, request, _creditor = proposed
    engine = app.extensions["portal.engine"]
    with unscoped(session):
        session.expire_all()
        with counted_queries(engine) as one:
            [item.case.debtor.name for item in waiting(session).items]
        for _ in range(5):
            more = make_case(session, session.get(Tenant, case.tenant_id))
            more.stage = Stage.NEGOTIATION
            legal_requests.propose(session, more, lawyer=request.lawyer,
                                   estimate=Estimate(1, 1, 0), note="", actor_id=None,
                                   role=Role.LEGAL)  # fmt: skip
        session.flush()
        session.expire_all()
        with counted_queries(engine) as many:
            found = waiting(session, limit=4)
            names = [item.case.debtor.name for item in found.items]
    selects = [[q for q in queries if q.startswith("SELECT")] for queries in (one, many)]
    # The counts, the oldest few of every kind, their cases: however many wait.
    assert len(selects[1]) == len(selects[0]) == 3
    assert (len(names), found.total) == (4, 6)
    assert found.items[0].case.id == case.id  # the oldest first


def test_the_waiting_list_merges_every_kind_of_decision_oldest_first(
    session: Session, proposed
) -> None:
    case, request, _creditor = proposed
    with unscoped(session):
        tenant = session.get(Tenant, case.tenant_id)
        offered = make_case(session, tenant, debtor_name="Offer AG", amounts=(100_000,))
        settlement = settlements.propose(session, offered, amount_minor=10_000, note="",
                                         actor_id=None)  # fmt: skip
        contested = make_case(session, tenant, debtor_name="Contest KG")
        dispute = disputes.open_dispute(session, contested, raised_by=Party.DEBTOR,
                                        reason="Never ordered", actor_id=None, role=None,
                                        today=utcnow().date())  # fmt: skip
        assert settlement.status is SettlementStatus.AWAITING_CREDITOR
        now = utcnow()
        dispute.created_at = now - timedelta(days=3)
        request.created_at = now - timedelta(days=2)
        settlement.created_at = now - timedelta(days=1)
        session.commit()
        found = waiting(session)
        two = waiting(session, limit=2)
    assert found.total == two.total == 3
    assert [(item.case.debtor.name, item.what) for item in found.items] == [
        ("Contest KG", "Dispute: your evidence"),
        ("Keller Bau GmbH", "Legal action proposed"),
        ("Offer AG", "Settlement below the agency's authority"),
    ]
    assert [item.case.id for item in two.items] == [contested.id, case.id]


def test_the_case_list_shows_every_case_waiting_for_the_creditor(
    client: FlaskClient, session: Session, proposed
) -> None:
    case, _request, creditor = proposed
    with unscoped(session):
        make_case(session, session.get(Tenant, case.tenant_id), debtor_name="No Wait")
        session.commit()
    sign_in(client, creditor)
    listed = client.get("/creditor/?waiting=1").get_data(as_text=True)
    assert "Keller Bau GmbH" in listed and "No Wait" not in listed
    assert "No Wait" in client.get("/creditor/").get_data(as_text=True)


def test_approval_opens_litigation_with_the_lawyer(
    client: FlaskClient, session: Session, proposed
) -> None:
    case, request, creditor = proposed
    sign_in(client, creditor)
    answer = decide(client, case, request, decision="approve", **{"legal-comment": "Go ahead."})
    assert answer.status_code == 302
    assert reload(session, case).stage is Stage.LITIGATION
    with unscoped(session):
        proceeding = session.scalars(select(LegalProceeding)).one()
        assert proceeding.lawyer_id == request.lawyer_id and proceeding.case_id == case.id
        assert session.get(LegalRequest, request.id).status is LegalRequestStatus.APPROVED
    timeline = client.get(f"/creditor/cases/{case.id}").get_data(as_text=True)
    assert "Creditor approved legal action" in timeline


@pytest.mark.parametrize(
    ("instead", "stage", "closure"),
    [
        ("back_to_amicable", Stage.NEGOTIATION, None),
        ("close_uncollectible", Stage.CLOSED, Closure.UNCOLLECTIBLE),
    ],
)
def test_a_decline_does_what_the_creditor_chose(
    client: FlaskClient, session: Session, proposed, instead: str, stage: Stage, closure
) -> None:
    case, request, creditor = proposed
    sign_in(client, creditor)
    fields = {"decision": "decline", "legal-instead": instead, "legal-comment": "Too costly."}
    assert decide(client, case, request, **fields).status_code == 302
    found = reload(session, case)
    assert (found.stage, found.closure) == (stage, closure)
    with unscoped(session):
        assert session.scalars(select(LegalProceeding)).all() == []


@pytest.mark.parametrize(
    "fields",
    [{}, {"decision": "maybe"}, {"decision": "decline", "legal-instead": "whatever"}],
)
def test_a_decision_without_a_clear_answer_changes_nothing(
    client: FlaskClient, session: Session, proposed, fields: dict[str, str]
) -> None:
    case, request, creditor = proposed
    sign_in(client, creditor)
    assert decide(client, case, request, **fields).status_code == 422
    assert reload(session, case).stage is Stage.LEGAL_REVIEW
    with unscoped(session):
        assert session.get(LegalRequest, request.id).status is LegalRequestStatus.AWAITING_CREDITOR


def test_another_tenants_creditor_cannot_decide(
    client: FlaskClient, session: Session, proposed
) -> None:
    case, request, _creditor = proposed
    with unscoped(session):
        stranger = make_user(session, Role.CREDITOR_ADMIN, make_tenant(session, "zeta"))
        session.commit()
    sign_in(client, stranger)
    answer = client.post(f"/creditor/cases/{case.id}/legal-requests/{request.id}/decision",
                         data={"decision": "approve"})  # fmt: skip
    assert answer.status_code in {400, 404}
    assert reload(session, case).stage is Stage.LEGAL_REVIEW


@pytest.mark.parametrize(
    ("estimate", "message"),
    [
        (Estimate(-1, 100, 0), "cannot be negative"),
        (Estimate(0, 0, 0), "estimated court and lawyer fees"),
        (Estimate(100, 100, 500), "advance cannot be more"),
    ],
)
def test_a_proposal_with_a_bad_estimate_is_refused(
    session: Session, proposed, estimate: Estimate, message: str
) -> None:
    case, request, _creditor = proposed
    with unscoped(session):
        other = make_case(session, session.get(Tenant, case.tenant_id))
        other.stage = Stage.NEGOTIATION
        with pytest.raises(LegalRequestError, match=message):
            legal_requests.propose(session, other, lawyer=request.lawyer, estimate=estimate,
                                   note="", actor_id=None, role=Role.LEGAL)  # fmt: skip
        assert other.stage is Stage.NEGOTIATION


def test_a_second_proposal_while_one_waits_is_refused(session: Session, proposed) -> None:
    case, request, _creditor = proposed
    with unscoped(session), pytest.raises(LegalRequestError, match="already waiting"):
        legal_requests.propose(session, session.get(Case, case.id), lawyer=request.lawyer,
                               estimate=Estimate(1, 1, 0), note="", actor_id=None,
                               role=Role.LEGAL)  # fmt: skip
