"""The debtor disputes the claim from the payment page: the case goes on hold, a collector
is told, and a refused attempt leaves nothing behind."""

from __future__ import annotations

import dataclasses
import io
import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.adapters.storage import LocalStorage
from portal.models import (
    Activity,
    ActivityKind,
    Case,
    Closure,
    Dispute,
    DisputeEvidence,
    DocumentKind,
    HoldReason,
    OutboxMessage,
    Party,
    Role,
    Stage,
)
from portal.models import Document as CaseDocument
from portal.services import disputes, payment_links
from portal.services.notifications import DEBTOR_DISPUTE_PRIORITY
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.factories import make_case, make_tenant, make_user

REASON = "I paid invoice INV-1 on 3 March by bank transfer; the statement is attached."


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH")
        collector = make_user(session, Role.COLLECTOR, email="collector@agency.example")
        admins = [make_user(session, Role.AGENCY_ADMIN) for _ in range(2)]
        make_user(session, Role.AGENCY_ADMIN).active = False
        case.assigned_collector_id = collector.id
        session.commit()
        token = payment_links.token_for(case)
    return {"case": case, "token": token, "collector": collector, "admins": admins}


@pytest.fixture
def storage(app: Flask) -> LocalStorage:
    found = app.extensions["portal.storage"]
    assert isinstance(found, LocalStorage)
    return found


def dispute_page(world: dict) -> str:
    return f"/pay/{world['token']}/dispute"


def send(
    client: FlaskClient, world: dict, reason: str = REASON, file: tuple[bytes, str] | None = None
) -> TestResponse:
    page = client.get(dispute_page(world)).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no dispute form on the page"
    data: dict[str, object] = {"reason": reason, "csrf_token": found.group(1)}
    if file is not None:
        data["document"] = (io.BytesIO(file[0]), file[1])
    return client.post(dispute_page(world), data=data, content_type="multipart/form-data")


def every(session: Session, model, *where) -> list:
    session.expire_all()
    with unscoped(session):
        return list(session.scalars(select(model).where(*where).order_by(model.id)))


def fresh_case(session: Session, world: dict) -> Case:
    session.expire_all()
    with unscoped(session):
        return session.get(Case, world["case"].id)


def snapshot(session: Session, storage: LocalStorage, world: dict) -> dict:
    case = fresh_case(session, world)
    with unscoped(session):
        counts = {
            model.__name__: session.scalar(select(func.count()).select_from(model))
            for model in (Dispute, DisputeEvidence, CaseDocument, Activity, OutboxMessage)
        }
        state = (case.stage, case.hold_reason, case.priority)
    files = {path for path in Path(storage.root).rglob("*") if path.is_file()}
    return {"counts": counts, "case": state, "files": files}


def test_a_dispute_puts_the_case_on_hold_and_tells_the_collector(
    client: FlaskClient, session: Session, world: dict, storage: LocalStorage
) -> None:
    before = fresh_case(session, world).priority
    sent = send(client, world, file=(samples.pdf(), "bank statement.pdf"))
    assert sent.status_code == 303 and sent.headers["Location"] == dispute_page(world)

    [dispute] = every(session, Dispute)
    assert (dispute.raised_by, dispute.reason) == (Party.DEBTOR, REASON)
    case = fresh_case(session, world)
    assert (case.stage, case.hold_reason) == (Stage.ON_HOLD, HoldReason.DISPUTE)
    assert case.priority == min(100, before + DEBTOR_DISPUTE_PRIORITY)
    logged = every(session, Activity, Activity.kind == ActivityKind.DISPUTE)
    assert "Dispute raised by the debtor" in [activity.summary for activity in logged]

    [evidence] = every(session, DisputeEvidence)
    [document] = every(session, CaseDocument, CaseDocument.id == evidence.document_id)
    assert (document.kind, document.shareable_with_debtor) == (DocumentKind.CORRESPONDENCE, False)
    assert document.filename == "bank statement.pdf"
    assert (Path(storage.root) / document.storage_key).read_bytes() == samples.pdf()

    [mail] = every(session, OutboxMessage)
    assert mail.recipient == "collector@agency.example"
    assert mail.subject == f"Dispute raised by the debtor \N{EN DASH} {case.agency_reference}"
    assert REASON in mail.body_text and "attached 1 document" in mail.body_text
    assert f"/agency/cases/{case.id}" in mail.body_text

    received = client.get(dispute_page(world)).get_data(as_text=True)
    assert "we have received your dispute" in received
    assert "Your dispute is being reviewed" in received
    assert "We aim to decide within 14 days" in received and REASON in received


def test_without_a_collector_every_agency_admin_is_told(
    client: FlaskClient, session: Session, world: dict
) -> None:
    with unscoped(session):
        session.get(Case, world["case"].id).assigned_collector_id = None
        session.commit()
    assert send(client, world).status_code == 303
    recipients = [mail.recipient for mail in every(session, OutboxMessage)]
    assert sorted(recipients) == sorted(admin.email for admin in world["admins"])


def test_the_case_page_links_to_the_dispute_form(client: FlaskClient, world: dict) -> None:
    page = client.get(f"/pay/{world['token']}").get_data(as_text=True)
    assert f'href="{dispute_page(world)}"' in page and "Dispute this claim" in page


@pytest.mark.parametrize(
    ("reason", "file", "message"),
    [
        ("   ", None, "Please tell us why you dispute the claim."),
        ("x" * (disputes.MAX_TEXT + 1), None, f"Please keep it to {disputes.MAX_TEXT} characters"),
        (REASON, (samples.windows_exe(), "statement.pdf"), "We cannot accept “statement.pdf”"),
        (REASON, (b"<html><script>alert(1)</script>", "scan.jpg"), "We cannot accept “scan.jpg”"),
        (REASON, (samples.pdf(padding=4096), "big.pdf"), "of up to 2 KB"),
        (REASON, (b"", "empty.pdf"), "We cannot accept “empty.pdf”"),
    ],
    ids=["empty reason", "too long", "program as pdf", "web page as jpg", "too big", "empty file"],
)
def test_bad_input_changes_nothing(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: dict,
    storage: LocalStorage,
    monkeypatch: pytest.MonkeyPatch,
    reason: str,
    file: tuple[bytes, str] | None,
    message: str,
) -> None:
    settings = dataclasses.replace(app.extensions["portal.settings"], max_document_bytes=2048)
    monkeypatch.setitem(app.extensions, "portal.settings", settings)
    before = snapshot(session, storage, world)
    refused = send(client, world, reason, file)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert snapshot(session, storage, world) == before


def test_a_request_too_large_to_read_gets_the_debtors_error_page(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: dict,
    storage: LocalStorage,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 4096)
    before = snapshot(session, storage, world)
    refused = send(client, world, file=(samples.pdf(padding=8192), "scan.pdf"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 413
    assert "That file is too large" in page and "We accept files of up to 25 MB" in page
    assert f'href="{dispute_page(world)}"' in page, "a way back to the form"
    assert snapshot(session, storage, world) == before


def test_a_second_dispute_is_refused(client: FlaskClient, session: Session, world: dict) -> None:
    assert send(client, world).status_code == 303
    page = client.get(dispute_page(world)).get_data(as_text=True)
    assert 'name="reason"' not in page, "no form while a dispute is open"
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    again = client.post(dispute_page(world), data={"reason": "Again", "csrf_token": token[1]})
    assert again.status_code == 409
    assert "You have already disputed this claim" in again.get_data(as_text=True)
    assert len(every(session, Dispute)) == 1 and len(every(session, OutboxMessage)) == 1


def test_a_closed_case_cannot_be_disputed(
    client: FlaskClient, session: Session, world: dict
) -> None:
    with unscoped(session):
        case = session.get(Case, world["case"].id)
        case.stage, case.closure = Stage.CLOSED, Closure.PAID
        session.commit()
    page = client.get(dispute_page(world))
    assert page.status_code == 200 and "This account is closed" in page.get_data(as_text=True)
    assert 'name="reason"' not in page.get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.get_data(as_text=True))
    assert token
    refused = client.post(dispute_page(world), data={"reason": REASON, "csrf_token": token[1]})
    assert refused.status_code == 409
    assert every(session, Dispute) == [] and every(session, OutboxMessage) == []


def test_other_cases_disputes_stay_apart(client: FlaskClient, session: Session, world) -> None:
    with unscoped(session):
        other = make_case(session, make_tenant(session, "zeta"), debtor_name="Zeta AG")
        session.commit()
        other_token = payment_links.token_for(other)
    assert send(client, world).status_code == 303
    other_page = client.get(f"/pay/{other_token}/dispute").get_data(as_text=True)
    assert 'name="reason"' in other_page and REASON not in other_page
    assert client.get(f"/pay/{'x' * 43}/dispute").status_code == 404
