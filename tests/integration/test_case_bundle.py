"""The lawyer-ready case bundle: a summary PDF and every document, one streamed ZIP, audited."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import tracemalloc
import zipfile
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import (
    ActivityKind,
    AuditEntry,
    Case,
    Document,
    EntryKind,
    Judgment,
    Lawyer,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    Role,
    User,
)
from portal.services import case_bundle, documents, ledger, letters
from portal.services.timeline import log_activity
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_letters import pdf_support, pdf_text

TODAY = date(2026, 3, 1)
PAYMENT = "Bank transfer from Keller Bau"
VISIBLE = "Call: spoke to the debtor"
HIDDEN = "Debtor hinted at moving assets abroad"
MAX_BYTES = 25 * 1024 * 1024
CHUNK_BOUND = 1024 * 1024


class PlainRenderer:
    """Stands in for WeasyPrint where a test is about the archive, not the PDF."""

    def render_html(self, name: str, context: dict[str, Any]) -> str:
        return f"{name} {context['case']['reference']}"

    def pdf(self, html: str) -> bytes:
        return b"%PDF-1.7\n%" + html.encode() + b"\n%%EOF\n"


class Unseekable(io.RawIOBase):
    """An output that only takes bytes, like a pipe or a socket."""

    def __init__(self) -> None:
        self.received = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.received += data
        return len(data)


@dataclass
class World:
    case: Case
    invoice_numbers: list[str]
    documents: list[Document]
    contents: dict[int, bytes]
    collector: User
    creditor: User
    outsider: User


def add(session: Session, app: Flask, case: Case, name: str, data: bytes) -> Document:
    return documents.add_document(
        session,
        app.extensions["portal.storage"],
        case,
        filename=name,
        stream=io.BytesIO(data),
        kind="invoice",
        shareable_with_debtor=False,
        uploaded_by_id=None,
        max_bytes=MAX_BYTES,
    )


@pytest.fixture
def world(app: Flask, session: Session) -> World:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000, 25_050))
        collector = make_user(session, Role.COLLECTOR)
        creditor = make_user(session, Role.CREDITOR_USER, tenant)
        outsider = make_user(session, Role.CREDITOR_ADMIN, make_tenant(session, "other"))
        ledger.book(session, case, EntryKind.PAYMENT, -30_000, value_date=date(2026, 2, 20),
                    description=PAYMENT)  # fmt: skip
        log_activity(session, case, ActivityKind.CALL, VISIBLE, actor_id=collector.id,
                     outcome="Promised to pay", body="Will pay by the end of March.")  # fmt: skip
        log_activity(session, case, ActivityKind.NOTE, HIDDEN, actor_id=collector.id,
                     visible_to_creditor=False)  # fmt: skip
        contents = {"invoice INV.pdf": samples.pdf(), "delivery note.png": samples.png()}
        stored = [add(session, app, case, name, data) for name, data in contents.items()]
        numbers = [invoice.number for invoice in case.invoices]
        session.commit()
    return World(
        case=case,
        invoice_numbers=numbers,
        documents=stored,
        contents={document.id: contents[document.filename] for document in stored},
        collector=collector,
        creditor=creditor,
        outsider=outsider,
    )


def exports(session: Session) -> list[AuditEntry]:
    with unscoped(session):
        statement = select(AuditEntry).where(AuditEntry.action == "case.bundle_exported")
        return list(session.scalars(statement))


def download(client: FlaskClient, user: User, path: str) -> tuple[zipfile.ZipFile, str]:
    """The bundle ``user`` downloads from ``path``, checked as a ZIP, and its summary text."""
    response = sign_in(client, user).get(path)
    assert response.status_code == 200
    assert response.mimetype == "application/zip"
    assert "-bundle.zip" in response.headers["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(response.get_data()))
    assert archive.testzip() is None
    return archive, pdf_text(archive.read(archive.namelist()[0]))


def assert_holds_every_document(archive: zipfile.ZipFile, world: World) -> None:
    reference = world.case.agency_reference
    expected = [f"{reference}-summary.pdf"]
    expected += [f"documents/{document.id}-{document.filename}" for document in world.documents]
    assert archive.namelist() == expected
    for document in world.documents:
        stored = archive.read(f"documents/{document.id}-{document.filename}")
        assert stored == world.contents[document.id]


def test_staff_export_the_whole_file_for_the_lawyer(
    client: FlaskClient, session: Session, world: World
) -> None:
    pdf_support()
    case = world.case
    page = sign_in(client, world.collector).get(f"/agency/cases/{case.id}").get_data(as_text=True)
    assert f"/agency/cases/{case.id}/bundle.zip" in page

    archive, text = download(client, world.collector, f"/agency/cases/{case.id}/bundle.zip")

    assert_holds_every_document(archive, world)
    for expected in (case.agency_reference, case.creditor_reference, "Keller Bau GmbH",
                     *world.invoice_numbers, PAYMENT, VISIBLE, HIDDEN,
                     "€1,250.50", "€950.50"):  # fmt: skip
        assert expected in text, expected
    assert text.index(VISIBLE) < text.index(HIDDEN)  # oldest first
    [entry] = exports(session)
    assert entry.actor_id == world.collector.id and entry.tenant_id == case.tenant_id
    assert entry.object_id == str(case.id)
    assert entry.details == {"documents": 2, "internal_entries": True}


def test_creditors_get_the_bundle_without_the_agencys_internal_notes(
    client: FlaskClient, session: Session, world: World
) -> None:
    pdf_support()
    case = world.case
    page = sign_in(client, world.creditor).get(f"/creditor/cases/{case.id}").get_data(as_text=True)
    assert f"/creditor/cases/{case.id}/bundle.zip" in page

    archive, text = download(client, world.creditor, f"/creditor/cases/{case.id}/bundle.zip")

    assert_holds_every_document(archive, world)
    for expected in (case.agency_reference, world.invoice_numbers[0], PAYMENT, VISIBLE):
        assert expected in text, expected
    assert HIDDEN not in text
    [entry] = exports(session)
    assert entry.actor_id == world.creditor.id
    assert entry.details == {"documents": 2, "internal_entries": False}


def test_another_tenants_creditor_gets_nothing_and_nothing_is_audited(
    client: FlaskClient, session: Session, world: World
) -> None:
    response = sign_in(client, world.outsider).get(f"/creditor/cases/{world.case.id}/bundle.zip")
    assert response.status_code == 404
    assert world.case.agency_reference not in response.get_data(as_text=True)
    assert exports(session) == []


def test_the_summary_names_the_lawyer_the_court_file_and_the_judgment(
    app: Flask, session: Session, world: World
) -> None:
    pdf_support()
    case = world.case
    with unscoped(session):
        lawyer = Lawyer(name="Dr. Anna Vogt", firm="Vogt Legal", email="vogt@law.example")
        session.add(lawyer)
        session.flush()
        owned = {"tenant_id": case.tenant_id, "case_id": case.id}
        request = LegalRequest(**owned, lawyer_id=lawyer.id, status=LegalRequestStatus.APPROVED)
        session.add(request)
        session.flush()
        court = {"court": "Amtsgericht Wedding", "court_case_number": "12 C 345/26"}
        amounts = {"principal_minor": 125_050, "interest_minor": 1_000, "costs_minor": 20_000}
        session.add_all(
            [
                LegalProceeding(**owned, request_id=request.id, lawyer_id=lawyer.id, **court),
                Judgment(**owned, judgment_date=TODAY, **amounts),
            ]
        )
        session.flush()
        renderer = letters.configured().renderer
        pdf = case_bundle.bundle_pdf(session, case, renderer, TODAY, include_internal=True)
    text = pdf_text(pdf)
    for expected in ("Dr. Anna Vogt", "Amtsgericht Wedding", "12 C 345/26", "€1,460.50"):
        assert expected in text, expected


def test_the_bundle_is_written_to_an_output_that_cannot_seek(
    app: Flask, session: Session, world: World
) -> None:
    out = Unseekable()
    with unscoped(session):
        names = case_bundle.write_bundle(
            session, world.case, app.extensions["portal.storage"], PlainRenderer(), out,
            today=TODAY, include_internal=True,
        )  # fmt: skip
    archive = zipfile.ZipFile(io.BytesIO(bytes(out.received)))
    assert archive.namelist() == names
    assert_holds_every_document(archive, world)


def test_a_large_document_streams_through_bounded_memory(
    app: Flask, session: Session, world: World
) -> None:
    big = b"%PDF-1.7\n" + os.urandom(20 * 1024 * 1024)  # random bytes do not compress
    digest = hashlib.sha256(big).hexdigest()
    with unscoped(session):
        document = add(session, app, world.case, "contract scan.pdf", big)
        del big
        bundle = case_bundle.prepare(session, world.case, PlainRenderer(), TODAY,
                                     include_internal=True)  # fmt: skip
    sizes: list[int] = []
    with tempfile.TemporaryFile() as spool:
        tracemalloc.start()
        try:
            for piece in case_bundle.stream_bundle(bundle, app.extensions["portal.storage"]):
                sizes.append(len(piece))
                spool.write(piece)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        spool.seek(0)
        with zipfile.ZipFile(spool) as archive:
            copied = archive.read(f"documents/{document.id}-contract scan.pdf")
    assert len(sizes) >= 40
    assert max(sizes) <= CHUNK_BOUND
    assert peak < 4 * CHUNK_BOUND
    assert hashlib.sha256(copied).hexdigest() == digest == document.sha256


def test_an_abandoned_download_stops_cleanly(app: Flask, session: Session, world: World) -> None:
    """A browser that goes away closes the stream mid-document: no error, nothing left open."""
    with unscoped(session):
        add(session, app, world.case, "long.pdf", samples.pdf(padding=3 * 1024 * 1024))
        bundle = case_bundle.prepare(session, world.case, PlainRenderer(), TODAY,
                                     include_internal=True)  # fmt: skip
    stream = case_bundle.stream_bundle(bundle, app.extensions["portal.storage"], chunk_bytes=1024)
    for _ in range(3):
        next(stream)
    stream.close()
