"""A debtor's personal data: the export an agency admin downloads, and the erasure of
debtors whose cases have been closed longer than their client keeps personal data."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.storage import DocumentNotFound, Storage
from portal.db import Base, utcnow
from portal.models import (
    Activity,
    ActivityKind,
    AppendOnlyError,
    AuditEntry,
    Case,
    CaseMessage,
    Closure,
    CostBearer,
    Debtor,
    DebtorKind,
    Dispute,
    DisputeEvidence,
    Document,
    DocumentStatus,
    EntryKind,
    ImportBatch,
    ImportRowError,
    ImportStatus,
    LedgerEntry,
    LegalCost,
    OutboxMessage,
    Party,
    Role,
    Tenant,
    User,
)
from portal.models.append_only import erasing_personal_data
from portal.services import (
    documents,
    ledger,
    ledger_check,
    payments,
    personal_data,
    stages,
    timeline,
)
from portal.services.placement import ContactDetails, DebtorDetails, place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user, placement_request

LONG_AGO = datetime(2019, 1, 15, 10, tzinfo=UTC)
NAME, EMAIL = "Hannelore Quast Bau GmbH", "hq@quast-bau.example"
CONTACT, CONTACT_EMAIL = "Jolanda Quast", "jolanda@quast-bau.example"
PDF = b"%PDF-1.4\n% a contract\n"
CREDITOR_EMAIL = "finance@north.example"


@dataclass(frozen=True)
class Ids:
    id: int
    debtor_id: int
    agency_reference: str = ""
    storage_key: str = ""


@dataclass
class World:
    """Ids only: the command line and each request end the session its objects were in."""

    patient: Ids  # keeps personal data ten years
    admin: User
    expired: Ids  # closed long ago: to be erased
    recent: Ids  # closed today
    open_case: Ids  # placed recently, still open
    other_tenant: Ids  # closed long ago, at the patient client
    document: Ids
    import_file: str  # the CSV file the expired debtor's case was placed from


def _close(session: Session, case: Case, monkeypatch: pytest.MonkeyPatch | None) -> None:
    if monkeypatch is None:
        stages.close(session, case, Closure.WITHDRAWN, actor_id=None)
        return
    with monkeypatch.context() as patch:
        patch.setattr(timeline, "utcnow", lambda: LONG_AGO)
        stages.close(session, case, Closure.WITHDRAWN, actor_id=None)


def _expired_case(session: Session, storage: Storage, tenant: Tenant, admin: User) -> Case:
    debtor = DebtorDetails(
        kind=DebtorKind.BUSINESS, name=NAME, email=EMAIL, phone="+49 30 1234567",
        address_line1="Quaststraße 5", postal_code="10115", city="Berlin",
        registration_number="HRB 99887", vat_number="DE123456789",
        contacts=(ContactDetails(CONTACT, "Buchhaltung", CONTACT_EMAIL, "+49 30 7654321"),),
    )  # fmt: skip
    case = place_case(session, tenant, placement_request(debtor=debtor))
    payments.record_payment(
        session, case, amount_minor=25_000, event_key=f"pay-{case.id}",
        paid_on=date(2018, 12, 1), description="Bank transfer",
    )  # fmt: skip
    timeline.log_activity(
        session, case, ActivityKind.NOTE, f"Note: {CONTACT} will call back",
        actor_id=admin.id, body=f"{CONTACT} of {NAME} says the invoice is in review",
    )  # fmt: skip
    timeline.log_activity(
        session, case, ActivityKind.EMAIL, f"E-mail to the debtor: {NAME}",
        outcome="Sent", body=f"Dear {CONTACT}", recipient=EMAIL,
    )  # fmt: skip
    session.add(OutboxMessage(tenant_id=tenant.id, recipient=EMAIL, subject=f"Claim {NAME}",
                              body_text=f"Dear {CONTACT}", transport="outbox"))  # fmt: skip
    message = CaseMessage(tenant_id=tenant.id, case_id=case.id, author_id=admin.id,
                          body=f"{NAME} moved to a new address")  # fmt: skip
    dispute = Dispute(tenant_id=tenant.id, case_id=case.id, raised_by=Party.DEBTOR,
                      reason=f"{CONTACT} says the goods were faulty",
                      due_on=date(2018, 12, 20))  # fmt: skip
    session.add_all([message, dispute])
    session.flush()
    session.add(DisputeEvidence(tenant_id=tenant.id, dispute_id=dispute.id, party=Party.DEBTOR,
                                statement=f"Letter from {CONTACT}"))  # fmt: skip
    documents.add_document(
        session, storage, case, filename=f"{NAME} contract.pdf", stream=io.BytesIO(PDF),
        kind="contract", shareable_with_debtor=True, uploaded_by_id=admin.id, max_bytes=10_000,
    )  # fmt: skip
    _quoted_elsewhere(session, storage, case, admin)
    return case


def _quoted_elsewhere(session: Session, storage: Storage, case: Case, admin: User) -> None:
    """Where the debtor is only quoted: mail to the creditor, typed descriptions of money,
    and the CSV import the case was placed from."""
    session.add(OutboxMessage(
        tenant_id=case.tenant_id, recipient=CREDITOR_EMAIL, transport="outbox",
        subject=f"Placement received: {NAME}, {case.agency_reference}",
        body_text=f"We placed the account of {NAME}. {CONTACT} is their contact.",
    ))  # fmt: skip
    ledger.book(
        session, case, EntryKind.ADJUSTMENT, -1_000, value_date=date(2018, 12, 2),
        description=f"Dispute upheld: {CONTACT} showed a damaged delivery",
    )  # fmt: skip
    session.add(LegalCost(
        tenant_id=case.tenant_id, case_id=case.id, description=f"Court fee, claim against {NAME}",
        amount_minor=5_000, currency=case.currency, recoverable_from=CostBearer.CREDITOR,
        incurred_on=date(2018, 12, 3),
    ))  # fmt: skip
    key = f"tenant/{case.tenant_id}/imports/placements.csv"
    storage.put(key, io.BytesIO(f"debtor_name\n{NAME}\n".encode()), "text/csv")
    batch = ImportBatch(
        tenant_id=case.tenant_id, created_by_id=admin.id, filename="placements.csv",
        storage_key=key, status=ImportStatus.PLACED,
        summary={"preview": [["N-1", NAME, "120.00"], ["N-2", "Someone Else Ltd", "80.00"]]},
    )  # fmt: skip
    session.add(batch)
    session.flush()
    session.add(ImportRowError(
        tenant_id=case.tenant_id, batch_id=batch.id, line_number=3, raw=["N-1", NAME, "120,00"],
        reason=f"Invoice RE-1 of {NAME} is already placed",
    ))  # fmt: skip
    case.import_batch_id = batch.id


@pytest.fixture
def world(app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> World:
    storage = app.extensions["portal.storage"]
    with unscoped(session):
        north, patient = make_tenant(session, "north"), make_tenant(session, "patient")
        patient.retention_months = 120
        admin = make_user(session, Role.AGENCY_ADMIN)
        make_user(session, Role.CREDITOR_ADMIN, north)  # hears of closed cases
        expired = _expired_case(session, storage, north, admin)
        _close(session, expired, monkeypatch)
        recent, open_case = make_case(session, north), make_case(session, north)
        _close(session, recent, None)
        other_tenant = make_case(session, patient)
        _close(session, other_tenant, monkeypatch)
        document = session.scalars(select(Document).where(Document.case_id == expired.id)).one()
        session.commit()
        cases = [
            Ids(case.id, case.debtor_id, case.agency_reference)
            for case in (expired, recent, open_case, other_tenant)
        ]
        batch = session.get(ImportBatch, session.get(Case, expired.id).import_batch_id)
        return World(
            Ids(patient.id, 0), admin, *cases,
            Ids(document.id, 0, storage_key=document.storage_key), batch.storage_key,
        )  # fmt: skip


def _rows_mentioning(session: Session, *needles: str) -> dict[str, int]:
    """Every table's rows whose text holds one of ``needles``, counted per table."""
    found: dict[str, int] = {}
    for table in Base.metadata.sorted_tables:
        for row in session.execute(select(table)):
            text = json.dumps([str(value) for value in row], ensure_ascii=False).lower()
            if any(needle.lower() in text for needle in needles):
                found[table.name] = found.get(table.name, 0) + 1
    return found


def _figures(session: Session) -> list[tuple[object, ...]]:
    cases = session.scalars(select(Case).order_by(Case.id))
    entries = session.scalars(select(LedgerEntry).order_by(LedgerEntry.id))
    return [
        *((c.id, c.stage, c.closure, c.placed_minor, c.claimed_minor, c.collected_minor,
           c.agency_reference, c.creditor_reference) for c in cases),
        *((e.id, e.kind, e.amount_minor, e.value_date) for e in entries),
    ]  # fmt: skip


def _erase(app: Flask, *options: str) -> str:
    result = app.test_cli_runner().invoke(args=["debtors", "erase-expired", *options])
    assert result.exit_code == 0, result.output
    return result.output


def test_only_the_expired_debtor_is_erased_and_nothing_personal_is_left(
    app: Flask, session: Session, world: World
) -> None:
    with unscoped(session):
        before = _figures(session)
        assert set(_rows_mentioning(session, NAME, EMAIL, CONTACT, CONTACT_EMAIL)) >= {
            "debtors", "debtor_contacts", "activities", "case_messages", "disputes",
            "dispute_evidence", "documents", "notifications", "outbox_messages",
            "ledger_entries", "legal_costs", "import_batches", "import_row_errors",
        }  # fmt: skip
        untouched = {
            case.debtor_id: personal_data.export(session, session.get(Debtor, case.debtor_id))
            for case in (world.recent, world.open_case, world.other_tenant)
        }

    assert "1 debtor(s) erased (1 case(s), 1 document(s) deleted)" in _erase(app)

    with unscoped(session):
        session.expire_all()
        # Only the ledger keeps what was booked; nothing else names the debtor.
        assert _rows_mentioning(session, NAME, EMAIL, CONTACT, CONTACT_EMAIL, "HRB 99887") == {}
        debtor = session.get(Debtor, world.expired.debtor_id)
        assert debtor is not None and debtor.erased_at is not None
        assert debtor.name == f"Erased debtor {debtor.id}" and debtor.contacts == []
        assert (debtor.email, debtor.phone, debtor.city, debtor.vat_number) == (None,) * 4
        assert _figures(session) == before
        assert ledger_check.verify(session).ok
        for debtor_id, exported in untouched.items():
            kept = personal_data.export(session, session.get(Debtor, debtor_id))
            assert kept | {"exported_at": ""} == exported | {"exported_at": ""}
        erased = session.scalars(select(AuditEntry).where(AuditEntry.action == "debtor.erased"))
        entry = erased.one()
        assert entry.object_id == str(debtor.id) and NAME not in json.dumps(entry.details)


def test_the_documents_files_are_gone_and_no_longer_offered(
    app: Flask, client: FlaskClient, session: Session, world: World
) -> None:
    storage: Storage = app.extensions["portal.storage"]
    key = world.document.storage_key
    assert storage.get(key) == PDF
    _erase(app)
    with pytest.raises(DocumentNotFound):
        storage.head(key)
    with unscoped(session):
        assert session.get(Document, world.document.id).status is not DocumentStatus.STORED
    sign_in(client, world.admin)
    path = f"/agency/cases/{world.expired.id}/documents/{world.document.id}"
    assert client.get(path).status_code == 404


def test_text_that_quotes_the_debtor_keeps_its_words_without_them(
    app: Flask, session: Session, world: World
) -> None:
    storage: Storage = app.extensions["portal.storage"]
    assert storage.head(world.import_file)
    _erase(app)
    with pytest.raises(DocumentNotFound):
        storage.head(world.import_file)
    with unscoped(session):
        session.expire_all()
        mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == CREDITOR_EMAIL)
        ).one()
        assert mail.subject == f"Placement received: [erased], {world.expired.agency_reference}"
        assert mail.body_text == "We placed the account of [erased]. [erased] is their contact."
        descriptions = session.scalars(
            select(LedgerEntry.description).where(LedgerEntry.kind == EntryKind.ADJUSTMENT)
        ).all()
        assert descriptions == ["Dispute upheld: [erased] showed a damaged delivery"]
        cost = session.scalars(select(LegalCost)).one()
        assert cost.description == "Court fee, claim against [erased]"
        batch = session.scalars(select(ImportBatch)).one()
        assert batch.summary["preview"] == [
            ["N-1", "[erased]", "120.00"], ["N-2", "Someone Else Ltd", "80.00"]
        ]  # fmt: skip
        row = session.scalars(select(ImportRowError)).one()
        assert (row.raw, row.reason) == (
            ["N-1", "[erased]", "120,00"],
            "Invoice RE-1 of [erased] is already placed",
        )


def test_a_second_run_changes_nothing(app: Flask, session: Session, world: World) -> None:
    _erase(app)
    with unscoped(session):
        session.expire_all()
        first = (
            _figures(session),
            personal_data.export(session, session.get(Debtor, world.expired.debtor_id)),
        )
        first[1].pop("exported_at")
    assert "0 debtor(s) erased" in _erase(app)
    with unscoped(session):
        session.expire_all()
        again = personal_data.export(session, session.get(Debtor, world.expired.debtor_id))
        again.pop("exported_at")
        assert (_figures(session), again) == first
        assert len(session.scalars(select(AuditEntry.id).where(
            AuditEntry.action == "debtor.erased")).all()) == 1  # fmt: skip


def test_a_dry_run_says_whom_and_changes_nothing(
    app: Flask, session: Session, world: World
) -> None:
    with unscoped(session):
        before = _rows_mentioning(session, NAME, EMAIL, CONTACT)
    output = _erase(app, "--dry-run")
    assert f"1 debtor(s) would be erased: {world.expired.debtor_id}" in output
    with unscoped(session):
        session.expire_all()
        assert _rows_mentioning(session, NAME, EMAIL, CONTACT) == before
        assert session.get(Debtor, world.expired.debtor_id).erased_at is None


def test_the_date_decides_who_is_due(session: Session, world: World) -> None:
    with unscoped(session):
        due = personal_data.due_for_erasure
        assert due(session, date(2024, 12, 1)) == []  # 71 months after closing
        assert due(session, date(2025, 1, 15)) == []  # closed 72 months ago to the day
        assert [d.id for d in due(session, date(2025, 1, 16))] == [world.expired.debtor_id]
        assert [d.id for d in due(session, date(2025, 2, 1))] == [world.expired.debtor_id]
        later = {d.id for d in due(session, date(2029, 2, 1))}
        assert later == {world.expired.debtor_id, world.other_tenant.debtor_id}


def test_erasing_text_does_not_open_the_timeline_to_other_changes(
    session: Session, world: World
) -> None:
    with unscoped(session):
        activity = session.scalars(
            select(Activity).where(Activity.case_id == world.expired.id)
        ).first()
        assert activity is not None
        with pytest.raises(AppendOnlyError, match="never changed"), session.begin_nested():
            activity.body = "rewritten"
            session.flush()
        with erasing_personal_data(session):
            with pytest.raises(AppendOnlyError, match="never changed"), session.begin_nested():
                activity.occurred_at = utcnow()
                session.flush()
            with pytest.raises(AppendOnlyError, match="never deleted"), session.begin_nested():
                session.delete(activity)
                session.flush()


# --- the export ------------------------------------------------------------------------------


def test_an_admin_downloads_everything_about_the_debtor(
    client: FlaskClient, session: Session, world: World
) -> None:
    sign_in(client, world.admin)
    response = client.get(f"/agency/cases/{world.expired.id}/debtor-data.json")
    assert response.status_code == 200 and "attachment" in response.headers["Content-Disposition"]
    exported = response.get_json()
    assert exported["debtor"]["name"] == NAME and exported["debtor"]["email"] == EMAIL
    assert exported["contacts"][0]["email"] == CONTACT_EMAIL
    (case,) = exported["cases"]
    assert case["agency_reference"] == world.expired.agency_reference
    assert [i["amount_minor"] for i in case["invoices"]] == [125_000]
    assert {e["kind"] for e in case["ledger"]} == {"principal", "payment", "adjustment"}
    assert any(CONTACT in (a["body"] or "") for a in case["activities"])
    assert case["disputes"][0]["evidence"][0]["statement"] == f"Letter from {CONTACT}"
    assert case["documents"][0]["filename"] == f"{NAME} contract.pdf"
    assert case["messages"][0]["body"] == f"{NAME} moved to a new address"
    with unscoped(session):
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "debtor.data_exported")
        ).one()
    assert (entry.actor_id, entry.object_id) == (world.admin.id, str(world.expired.debtor_id))
    page = client.get(f"/agency/cases/{world.expired.id}").get_data(as_text=True)
    assert f"/agency/cases/{world.expired.id}/debtor-data.json" in page


def test_an_unknown_case_is_not_found_and_other_roles_are_refused(
    client: FlaskClient, session: Session, world: World
) -> None:
    """Agency admins see every client; anyone else is refused before any case is read."""
    with unscoped(session):
        creditor = make_user(session, Role.CREDITOR_ADMIN, session.get(Tenant, world.patient.id))
        collector = make_user(session, Role.COLLECTOR)
        session.commit()
    sign_in(client, world.admin)
    assert client.get("/agency/cases/999999/debtor-data.json").status_code == 404
    for user in (collector, creditor):
        sign_in(client, user)
        assert client.get(f"/agency/cases/{world.expired.id}/debtor-data.json").status_code == 403
    with unscoped(session):
        exported = select(AuditEntry).where(AuditEntry.action == "debtor.data_exported")
        assert session.scalars(exported).first() is None


def test_the_cli_prints_the_export(app: Flask, session: Session, world: World) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["debtors", "export", str(world.expired.debtor_id)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["debtor"]["name"] == NAME
    missing = runner.invoke(args=["debtors", "export", "999999"])
    assert missing.exit_code == 1 and "There is no debtor 999999" in missing.output
