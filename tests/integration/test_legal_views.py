"""The legal stage on the agency's pages: proposing legal action, the legal team's court
file, judgment and enforcement forms, the legal queue; refusals change nothing."""

from __future__ import annotations

import io
import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import (
    Activity,
    Case,
    EnforcementAction,
    EnforcementKind,
    EnforcementStatus,
    Hearing,
    Judgment,
    Lawyer,
    LedgerEntry,
    LegalCost,
    LegalProceeding,
    LegalRequest,
    Role,
    Stage,
)
from portal.services import ledger, legal_requests, litigation
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user

TODAY = utcnow().date()
PDF = b"%PDF-1.7\n1 0 obj <<>> endobj\n%%EOF\n"
# What a refused form must leave as it was.
WATCHED = (LegalRequest, Hearing, Judgment, EnforcementAction, LegalCost, LedgerEntry, Activity)


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        case.stage = Stage.NEGOTIATION  # arranged: the amicable stages are tested elsewhere
        zeta = make_tenant(session, "zeta")
        other = make_case(session, zeta, debtor_name="Zeta Secret AG")
        other.stage = Stage.ENFORCEMENT
        session.flush()
        foreign = EnforcementAction(tenant_id=zeta.id, case_id=other.id, kind=EnforcementKind.LIEN)
        lawyer = Lawyer(name="Dr. Anna Weber", firm="Weber & Partner", email="weber@law.example",
                        jurisdictions=["DE", "AT"], languages=["de", "en"],
                        fee_terms="RVG statutory fees")  # fmt: skip
        session.add_all([foreign, lawyer])
        people = {
            "legal": make_user(session, Role.LEGAL, limited_to=[tenant]),
            "collector": make_user(session, Role.COLLECTOR, limited_to=[tenant]),
            "creditor": make_user(session, Role.CREDITOR_ADMIN, tenant),
        }
        session.commit()
    return {"case": case, "other": other, "foreign": foreign, "lawyer": lawyer, **people}


def csrf(client: FlaskClient) -> str:
    """The session's CSRF token, from the sign-out form every page has."""
    page = client.get("/agency/legal").get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no CSRF token"
    return found.group(1)


def post(client: FlaskClient, case_id: int, path: str, prefix: str, /, **fields: object):
    page = f"/agency/cases/{case_id}"
    data: dict[str, object] = {f"{prefix}-csrf_token": csrf(client)}
    data.update({f"{prefix}-{name}": value for name, value in fields.items()})
    return client.post(f"{page}/{path}", data=data, content_type="multipart/form-data")


def load(session: Session, model, object_id):
    session.expire_all()
    with unscoped(session):
        return session.get(model, object_id)


def counts(session: Session) -> dict[str, int]:
    session.expire_all()
    with unscoped(session):
        return {m.__name__: session.scalar(select(func.count()).select_from(m)) for m in WATCHED}


def approve(session: Session, world: dict) -> None:
    """The creditor's approval (their own pages are tested in test_legal_decisions)."""
    with unscoped(session):
        request = legal_requests.pending_request(session, load(session, Case, world["case"].id))
        assert request is not None
        legal_requests.decide(session, request, approve=True, comment="", decline_outcome=None,
                              actor_id=world["creditor"].id)  # fmt: skip
        session.commit()


def propose(client: FlaskClient, world: dict, **changes: str):
    fields = {"lawyer": str(world["lawyer"].id), "court_fees": "1,200.50",
              "lawyer_fees": "800", "advance": "500", "note": "Ignores every letter"}  # fmt: skip
    return post(client, world["case"].id, "legal/requests", "propose", **fields | changes)


def judgment_fields(**changes: object) -> dict[str, object]:
    return {"judgment_date": TODAY.isoformat(), "principal": "950", "interest": "30.00",
            "costs": "120", "title": (io.BytesIO(PDF), "title.pdf")} | changes  # fmt: skip


@pytest.fixture
def legal(client: FlaskClient, world) -> FlaskClient:
    return sign_in(client, world["legal"])


@pytest.fixture
def in_litigation(client: FlaskClient, session: Session, world) -> FlaskClient:
    sign_in(client, world["collector"])
    assert propose(client, world).status_code == 302
    approve(session, world)
    return sign_in(client, world["legal"])


@pytest.fixture
def in_enforcement(in_litigation: FlaskClient, world) -> FlaskClient:
    case_id = world["case"].id
    judged = post(in_litigation, case_id, "legal/judgment", "judgment", **judgment_fields())
    assert judged.status_code == 302
    started = post(in_litigation, case_id, "enforcement", "action", kind="garnishment")
    assert started.status_code == 302
    return in_litigation


def only_action(session: Session) -> EnforcementAction:
    with unscoped(session):
        [action] = session.scalars(
            select(EnforcementAction).where(EnforcementAction.kind != EnforcementKind.LIEN)
        ).all()
        return action


# --- proposing legal action --------------------------------------------------------------


def test_a_collector_proposes_legal_action_in_the_case_currency(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["collector"])
    page = client.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert "Ask the creditor" in page and "Dr. Anna Weber, Weber &amp; Partner" in page
    assert "Record the judgment" not in page  # the legal team's forms are not offered
    response = propose(client, world)
    assert response.status_code == 302 and response.headers["Location"].endswith("#legal")
    with unscoped(session):
        [request] = session.scalars(select(LegalRequest)).all()
        assert (request.court_fees_minor, request.lawyer_fees_minor, request.advance_minor) == (
            120_050, 80_000, 50_000,
        )  # fmt: skip
        assert request.proposed_by_id == world["collector"].id
    assert load(session, Case, world["case"].id).stage is Stage.LEGAL_REVIEW
    page = client.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert "awaiting creditor" in page and "€2,000.50" in page  # the estimate


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"lawyer": ""}, "This field is required"),
        ({"lawyer": "999999"}, "Not a valid choice"),
        ({"court_fees": "twelve"}, "is not an amount"),
        ({"lawyer_fees": "10.001"}, "at most 2 decimals"),
        ({"court_fees": "-5"}, "cannot be negative"),
        ({"court_fees": "0", "lawyer_fees": "0", "advance": ""}, "Give the estimated"),
        ({"advance": "5000"}, "cannot be more than the estimated costs"),
    ],
)
def test_bad_proposals_are_refused_and_change_nothing(
    client: FlaskClient, session: Session, world, changes: dict, message: str
) -> None:
    sign_in(client, world["collector"])
    before = counts(session)
    response = propose(client, world, **changes)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(session) == before
    assert load(session, Case, world["case"].id).stage is Stage.NEGOTIATION


def test_legal_action_is_not_proposed_before_the_demand(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["legal"])
    lawyer_id = str(world["lawyer"].id)
    with unscoped(session):
        load(session, Case, world["case"].id).stage = Stage.REMINDER
        session.commit()
    response = propose(client, world, lawyer=lawyer_id)
    assert response.status_code == 422
    assert "cannot propose legal action" in response.get_data(as_text=True)
    assert counts(session)["LegalRequest"] == 0


# --- the legal team's work, step by step -------------------------------------------------


def test_legal_works_the_case_from_court_file_to_proceeds(
    in_litigation: FlaskClient, session: Session, world
) -> None:
    client, case_id = in_litigation, world["case"].id
    held_at = (utcnow() + timedelta(days=20)).strftime("%Y-%m-%dT%H:%M")
    steps = [
        ("legal/court-file", "court", {"court": "Amtsgericht Berlin-Mitte",
                                       "case_number": "12 C 345/26",
                                       "filed_on": TODAY.isoformat()}),
        ("legal/hearings", "hearing", {"held_at": held_at, "place": "Saal 2"}),
        ("legal/updates", "update", {"text": "The claim is served."}),
        ("legal/judgment", "judgment", judgment_fields()),
        ("enforcement", "action", {"kind": "garnishment", "note": "Bank account"}),
    ]  # fmt: skip
    for action, prefix, fields in steps:
        response = post(client, case_id, action, prefix, **fields)
        assert response.status_code == 302, (action, response.get_data(as_text=True)[:2000])
    with unscoped(session):
        court_file = session.scalars(select(LegalProceeding)).one()
        assert court_file.court_case_number == "12 C 345/26" and len(court_file.hearings) == 1
        case = load(session, Case, case_id)
        assert case.stage is Stage.ENFORCEMENT
        judgment = litigation.judgment_of(session, case)
        assert judgment is not None and judgment.total_minor == 110_000
        assert judgment.title_document_id is not None
        assert ledger.balance(session, case).total_claimed == 110_000
        update = session.scalars(select(Activity).where(Activity.summary.like("Legal update%")))
        assert update.one().visible_to_creditor
    action = only_action(session)
    base = f"enforcement/{action.id}"
    assert post(client, case_id, f"{base}/status", "status", status="filed").status_code == 302
    cost = {"description": "Bailiff", "amount": "45.50", "incurred_on": TODAY.isoformat(),
            "action": str(action.id)}  # fmt: skip
    assert post(client, case_id, "legal/costs", "cost", **cost).status_code == 302
    proceeds = {"amount": "300", "received_on": TODAY.isoformat(), "reference": "BANK-1"}
    for _ in range(2):  # a resubmitted form books once
        assert post(client, case_id, f"{base}/proceeds", "proceeds", **proceeds).status_code == 302
    with unscoped(session):
        session.expire_all()
        assert load(session, EnforcementAction, action.id).status is EnforcementStatus.FILED
        [fee] = session.scalars(select(LegalCost)).all()
        assert fee.amount_minor == 4_550 and fee.ledger_entry_id is not None
        [payment] = session.scalars(
            select(LedgerEntry).where(LedgerEntry.event_key == f"enforcement:{action.id}:BANK-1")
        ).all()
        assert payment.amount_minor == -30_000 and payment.commission_bp == 2_500
    page = client.get(f"/agency/cases/{case_id}").get_data(as_text=True)
    assert "Amtsgericht Berlin-Mitte" in page and "Saal 2" in page and "Bailiff" in page
    assert "Proceeds: Enforcement proceeds (garnishment), reference BANK-1" in page


def test_the_legal_queue_shows_legal_cases_with_court_and_hearing(
    in_litigation: FlaskClient, session: Session, world
) -> None:
    client, case_id = in_litigation, world["case"].id
    post(client, case_id, "legal/court-file", "court", court="Landgericht Hamburg")
    held_at = utcnow() + timedelta(days=4)
    post(client, case_id, "legal/hearings", "hearing", held_at=held_at.strftime("%Y-%m-%dT%H:%M"))
    response = client.get("/agency/legal")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Keller Bau GmbH" in page and "Landgericht Hamburg" in page
    assert held_at.strftime("%d %b %Y") in page and "approved" in page
    assert "Zeta Secret AG" not in page  # the legal user works acme only
    assert 'href="/agency/legal"' in page  # the nav link
    assert "Keller Bau GmbH" not in client.get("/agency/legal?stage=enforcement").get_data(
        as_text=True
    )


# --- refusals ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "prefix", "fields", "message"),
    [
        ("legal/court-file", "court", {"court": ""}, "This field is required"),
        ("legal/court-file", "court", {"court": "AG Köln", "filed_on": "2999-01-01"},
         "cannot be in the future"),
        ("legal/hearings", "hearing", {"held_at": "2020-01-01T10:00"}, "in the past"),
        ("legal/hearings", "hearing", {"held_at": "soon"}, "Not a valid datetime"),
        ("legal/updates", "update", {"text": ""}, "This field is required"),
        ("legal/judgment", "judgment", judgment_fields(principal="lots"), "is not an amount"),
        ("legal/judgment", "judgment", judgment_fields(costs="-1"), "cannot be negative"),
        ("legal/judgment", "judgment", judgment_fields(judgment_date="2999-01-01"),
         "in the future"),
        ("legal/judgment", "judgment",
         judgment_fields(title=(io.BytesIO(b"MZ\x90\x00" * 64), "title.exe")), "Windows program"),
        ("enforcement", "action", {"kind": "lien"}, "record the judgment first"),
        ("legal/costs", "cost", {"description": "Fee", "amount": "0",
                                 "incurred_on": TODAY.isoformat()}, "more than zero"),
        ("legal/costs", "cost", {"description": "Fee", "amount": "1",
                                 "incurred_on": TODAY.isoformat(), "action": "77"},
         "Not a valid choice"),
    ],
)  # fmt: skip
def test_bad_legal_forms_are_refused_and_change_nothing(
    in_litigation: FlaskClient, session: Session, world, action, prefix, fields, message
) -> None:
    if isinstance(fields.get("title"), tuple):  # a fresh stream for each database
        name = fields["title"][1]
        data = b"MZ\x90\x00" * 64 if name.endswith(".exe") else PDF
        fields = fields | {"title": (io.BytesIO(data), name)}
    before = counts(session)
    response = post(in_litigation, world["case"].id, action, prefix, **fields)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(session) == before
    assert load(session, Case, world["case"].id).stage is Stage.LITIGATION
    with unscoped(session):
        assert session.scalars(select(LegalProceeding)).one().court is None


@pytest.mark.parametrize(
    ("path", "prefix", "fields", "message"),
    [
        ("status", "status", {"status": "planned"}, "already planned"),
        ("proceeds", "proceeds", {"amount": "", "received_on": TODAY.isoformat(),
                                  "reference": "R-1"}, "This field is required"),
        ("proceeds", "proceeds", {"amount": "10", "received_on": TODAY.isoformat(),
                                  "reference": "  "}, "Give the reference"),
    ],
)  # fmt: skip
def test_bad_enforcement_forms_are_refused_and_change_nothing(
    in_enforcement: FlaskClient, session: Session, world, path, prefix, fields, message
) -> None:
    action = only_action(session)
    before = counts(session)
    response = post(in_enforcement, world["case"].id, f"enforcement/{action.id}/{path}", prefix,
                    **fields)  # fmt: skip
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(session) == before
    assert load(session, EnforcementAction, action.id).status is EnforcementStatus.PLANNED


def test_a_collector_cannot_record_a_judgment(
    in_litigation: FlaskClient, session: Session, world
) -> None:
    sign_in(in_litigation, world["collector"])
    before = counts(session)
    response = post(in_litigation, world["case"].id, "legal/judgment", "judgment",
                    **judgment_fields())  # fmt: skip
    assert response.status_code == 403
    assert counts(session) == before
    assert load(session, Case, world["case"].id).stage is Stage.LITIGATION


def test_another_tenants_objects_are_not_found(
    in_enforcement: FlaskClient, session: Session, world
) -> None:
    own, other, foreign = world["case"].id, world["other"].id, world["foreign"].id
    before = counts(session)
    refused = [
        post(in_enforcement, other, "legal/updates", "update", text="Hello"),
        post(in_enforcement, other, "enforcement", "action", kind="lien"),
        post(in_enforcement, own, f"enforcement/{foreign}/status", "status", status="filed"),
        post(in_enforcement, own, f"enforcement/{foreign}/proceeds", "proceeds", amount="1",
             received_on=TODAY.isoformat(), reference="X"),
    ]  # fmt: skip
    assert [response.status_code for response in refused] == [404] * 4
    assert counts(session) == before


def test_an_action_is_found_only_under_its_own_case(
    in_enforcement: FlaskClient, session: Session, world
) -> None:
    """Another case of the same tenant does not lend its URL to this case's action."""
    with unscoped(session):
        sibling = make_case(session, load(session, Case, world["case"].id).tenant)
        session.commit()
    action = only_action(session)
    response = post(in_enforcement, sibling.id, f"enforcement/{action.id}/status", "status",
                    status="filed")  # fmt: skip
    assert response.status_code == 404
