"""Documents on cases with local storage: upload, list, download, and every refusal.

Each refusal must leave no row, no timeline entry and no file behind.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
from pathlib import Path
from typing import Any

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
    AuditEntry,
    Case,
    Document,
    DocumentKind,
    DocumentStatus,
    Role,
)
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user

KEY = re.compile(r"^tenant/(\d+)/case/(\d+)/[0-9a-f]{32}$")


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        world = {
            "acme": acme,
            "case": make_case(session, acme, debtor_name="Keller Bau GmbH"),
            "second_case": make_case(session, acme, debtor_name="Harbour Cafe Ltd"),
            "other_case": make_case(session, other, debtor_name="Other Tenant Debtor"),
            "creditor": make_user(session, Role.CREDITOR_USER, acme),
            "other_creditor": make_user(session, Role.CREDITOR_ADMIN, other),
            "collector": make_user(session, Role.COLLECTOR),
            "limited_collector": make_user(session, Role.COLLECTOR, limited_to=[other]),
        }
        session.commit()
    return world


@pytest.fixture
def storage(app: Flask) -> LocalStorage:
    found = app.extensions["portal.storage"]
    assert isinstance(found, LocalStorage)
    return found


def stored_files(storage: LocalStorage) -> set[Path]:
    return {path for path in storage.root.rglob("*") if path.is_file()}


def case_url(case: Case, audience: str = "creditor") -> str:
    return f"/{audience}/cases/{case.id}"


def csrf_token(client: FlaskClient, page: str) -> str:
    html = client.get(page).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def upload(
    client: FlaskClient,
    case: Case,
    data: bytes | None,
    name: str = "invoice.pdf",
    *,
    audience: str = "creditor",
    token: str | None = None,
    **fields: str,
) -> TestResponse:
    form: dict[str, Any] = {"kind": "invoice", **fields}
    form["csrf_token"] = token or csrf_token(client, case_url(case, audience))
    if data is not None:
        form["file"] = (io.BytesIO(data), name)
    return client.post(
        f"{case_url(case, audience)}/documents", data=form, content_type="multipart/form-data"
    )


def documents_of(session: Session, case: Case) -> list[Document]:
    with unscoped(session):
        statement = select(Document).where(Document.case_id == case.id).order_by(Document.id)
        return list(session.scalars(statement))


def counts(session: Session) -> tuple[int, int, int]:
    with unscoped(session):
        return (
            session.scalar(select(func.count()).select_from(Document)) or 0,
            session.scalar(select(func.count()).select_from(Activity)) or 0,
            session.scalar(select(func.count()).select_from(AuditEntry)) or 0,
        )


def flash_errors(client: FlaskClient, case: Case, audience: str = "creditor") -> str:
    html = client.get(case_url(case, audience)).get_data(as_text=True)
    return " ".join(re.findall(r'<p class="flash flash-error"[^>]*>(.*?)</p>', html, re.S))


def test_a_creditor_uploads_lists_and_downloads_a_document(
    client: FlaskClient, session: Session, world, storage: LocalStorage
) -> None:
    case, creditor = world["case"], world["creditor"]
    sign_in(client, creditor)
    data = samples.pdf()
    response = upload(client, case, data, shareable_with_debtor="1")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/creditor/cases/{case.id}#documents")

    [document] = documents_of(session, case)
    assert document.status is DocumentStatus.STORED
    assert (document.filename, document.kind) == ("invoice.pdf", DocumentKind.INVOICE)
    assert (document.content_type, document.size_bytes) == ("application/pdf", len(data))
    assert document.sha256 == hashlib.sha256(data).hexdigest()
    assert document.shareable_with_debtor is True
    assert document.uploaded_by_id == creditor.id
    assert document.tenant_id == case.tenant_id
    key = KEY.match(document.storage_key)
    assert key and key.groups() == (str(case.tenant_id), str(case.id))
    assert (storage.root / document.storage_key).read_bytes() == data

    page = client.get(case_url(case)).get_data(as_text=True)
    assert "Added “invoice.pdf”." in page
    assert f"/creditor/cases/{case.id}/documents/{document.id}" in page
    assert "Invoice · " in page and "shared with debtor" in page
    assert "Document added: invoice.pdf" in page
    with unscoped(session):
        activity = session.scalars(
            select(Activity).where(
                Activity.case_id == case.id, Activity.kind == ActivityKind.DOCUMENT
            )
        ).one()
        assert activity.actor_id == creditor.id and activity.visible_to_creditor

    download = client.get(f"/creditor/cases/{case.id}/documents/{document.id}")
    assert download.status_code == 200
    assert download.get_data() == data
    assert download.mimetype == "application/pdf"
    assert download.headers["Content-Length"] == str(len(data))
    assert download.headers["Content-Disposition"] == (
        "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice.pdf"
    )
    assert download.headers["X-Content-Type-Options"] == "nosniff"
    assert "no-store" in download.headers["Cache-Control"]
    with unscoped(session):
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "document.downloaded")
        ).one()
    assert (audit.actor_id, audit.tenant_id) == (creditor.id, case.tenant_id)
    assert (audit.object_type, audit.object_id) == ("Document", str(document.id))


def test_a_collector_adds_correspondence_the_creditor_can_read(
    client: FlaskClient, session: Session, world
) -> None:
    case = world["case"]
    sign_in(client, world["collector"])
    page = client.get(case_url(case, "agency")).get_data(as_text=True)
    assert '<option value="correspondence" selected>' in page
    response = upload(
        client, case, samples.eml(), "Re: invoice.eml", audience="agency", kind="correspondence"
    )
    assert response.headers["Location"].endswith(f"/agency/cases/{case.id}#documents")
    [document] = documents_of(session, case)
    assert (document.kind, document.content_type) == (DocumentKind.CORRESPONDENCE, "message/rfc822")
    assert client.get(f"/agency/cases/{case.id}/documents/{document.id}").status_code == 200

    sign_in(client, world["creditor"])
    download = client.get(f"/creditor/cases/{case.id}/documents/{document.id}")
    assert download.get_data() == samples.eml()


def test_non_ascii_names_are_kept_and_sent_back_encoded(
    client: FlaskClient, session: Session, world
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    upload(client, case, samples.docx(), "Vertrag Müller & Söhne.docx", kind="contract")
    [document] = documents_of(session, case)
    assert document.filename == "Vertrag Müller & Söhne.docx"
    download = client.get(f"/creditor/cases/{case.id}/documents/{document.id}")
    assert download.headers["Content-Disposition"] == (
        'attachment; filename="Vertrag Muller & Sohne.docx"; '
        "filename*=UTF-8''Vertrag%20M%C3%BCller%20&%20S%C3%B6hne.docx"
    )


def test_a_name_that_tries_to_escape_is_only_display_text(
    client: FlaskClient, session: Session, world, storage: LocalStorage
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    before = stored_files(storage)
    assert upload(client, case, samples.pdf(), "../../etc/passwd.pdf").status_code == 302
    [document] = documents_of(session, case)
    assert document.filename == "passwd.pdf"
    assert KEY.match(document.storage_key)
    assert stored_files(storage) - before == {storage.root / document.storage_key}
    assert not (storage.root.parent / "etc").exists()


@pytest.mark.parametrize(
    ("data", "name", "fields", "message"),
    [
        (samples.windows_exe(), "invoice.pdf", {}, "not a file type the portal accepts"),
        (samples.plain_zip(), "invoice.pdf", {}, "it looks like a ZIP archive"),
        (b"", "invoice.pdf", {}, "“invoice.pdf” is empty."),
        (None, "", {}, "Choose a file to upload."),
        (samples.pdf(), "", {}, "Choose a file to upload."),
        (samples.pdf(), "invoice.pdf", {"kind": "receipt"}, "Choose what kind of document"),
        (samples.pdf(), "invoice.pdf", {"kind": ""}, "Choose what kind of document"),
    ],
)
def test_bad_uploads_are_refused_and_change_nothing(
    client: FlaskClient,
    session: Session,
    world,
    storage: LocalStorage,
    data: bytes | None,
    name: str,
    fields: dict[str, str],
    message: str,
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    token = csrf_token(client, case_url(case))
    before, files = counts(session), stored_files(storage)
    response = upload(client, case, data, name, token=token, **fields)
    assert response.status_code == 302
    assert message in flash_errors(client, case)
    assert counts(session) == before
    assert stored_files(storage) == files


def test_the_size_limit_is_exact(
    app: Flask, client: FlaskClient, session: Session, world, storage: LocalStorage, monkeypatch
) -> None:
    limit = 4096
    settings = app.extensions["portal.settings"]
    monkeypatch.setitem(
        app.extensions,
        "portal.settings",
        dataclasses.replace(settings, max_document_bytes=limit),
    )
    case = world["case"]
    sign_in(client, world["creditor"])
    page = client.get(case_url(case)).get_data(as_text=True)
    assert "up to 4 KB." in page
    just_right = samples.pdf(padding=limit - len(samples.pdf()))
    assert len(just_right) == limit
    before, files = counts(session), stored_files(storage)

    upload(client, case, just_right + b"\n", "big.pdf")
    assert "“big.pdf” is larger than the 4 KB limit." in flash_errors(client, case)
    assert counts(session) == before and stored_files(storage) == files

    upload(client, case, just_right, "fits.pdf")
    assert [d.filename for d in documents_of(session, case)] == ["fits.pdf"]


def test_a_request_far_over_the_limit_is_cut_off_with_a_clear_message(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    """Werkzeug refuses the body before the view reads it; the message still says why."""
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 2048)
    case = world["case"]
    sign_in(client, world["collector"])
    before = counts(session)
    response = upload(client, case, samples.pdf(padding=10_000), audience="agency")
    assert response.status_code == 302
    assert "larger than the 25 MB limit" in flash_errors(client, case, "agency")
    start = client.post(
        f"/agency/cases/{case.id}/documents/direct",
        data="x" * 4096,
        headers={"X-CSRFToken": csrf_token(client, case_url(case, "agency"))},
        content_type="application/json",
    )
    assert start.status_code == 413 and "larger than" in start.get_json()["error"]
    assert counts(session) == before


def test_uploads_need_the_csrf_token(
    client: FlaskClient, session: Session, world, storage: LocalStorage
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    before, files = counts(session), stored_files(storage)
    response = client.post(
        f"/creditor/cases/{case.id}/documents",
        data={"kind": "invoice", "file": (io.BytesIO(samples.pdf()), "a.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    direct = client.post(
        f"/creditor/cases/{case.id}/documents/direct", json={"filename": "a.pdf", "kind": "invoice"}
    )
    assert direct.status_code == 400
    assert counts(session) == before and stored_files(storage) == files


def test_another_tenants_case_is_not_found(
    client: FlaskClient, session: Session, world, storage: LocalStorage
) -> None:
    mine, theirs = world["case"], world["other_case"]
    sign_in(client, world["creditor"])
    token = csrf_token(client, case_url(mine))
    before, files = counts(session), stored_files(storage)
    response = upload(client, theirs, samples.pdf(), token=token)
    assert response.status_code == 404
    direct = client.post(
        f"/creditor/cases/{theirs.id}/documents/direct",
        json={"filename": "a.pdf", "kind": "invoice"},
        headers={"X-CSRFToken": token},
    )
    assert direct.status_code == 404

    sign_in(client, world["limited_collector"])
    response = upload(client, mine, samples.pdf(), audience="agency", token=token)
    assert response.status_code == 404
    assert counts(session) == before and stored_files(storage) == files


def test_another_tenants_document_cannot_be_downloaded(
    client: FlaskClient, session: Session, world
) -> None:
    theirs = world["other_case"]
    sign_in(client, world["other_creditor"])
    upload(client, theirs, samples.pdf(), "their secret.pdf")
    [document] = documents_of(session, theirs)
    own = client.get(f"/creditor/cases/{theirs.id}/documents/{document.id}")
    assert own.status_code == 200
    before = counts(session)

    sign_in(client, world["creditor"])
    for url in (
        f"/creditor/cases/{theirs.id}/documents/{document.id}",
        f"/creditor/cases/{world['case'].id}/documents/{document.id}",
    ):
        response = client.get(url)
        assert response.status_code == 404
        assert samples.pdf() not in response.get_data()
    assert counts(session) == before  # refused downloads are not audited either
    sign_in(client, world["limited_collector"])  # limited to the other tenant: may read it
    assert client.get(f"/agency/cases/{theirs.id}/documents/{document.id}").status_code == 200


def test_a_document_is_only_found_under_its_own_case(
    client: FlaskClient, session: Session, world
) -> None:
    case, second = world["case"], world["second_case"]
    sign_in(client, world["creditor"])
    upload(client, case, samples.png(), "scan.png", kind="other")
    [document] = documents_of(session, case)
    assert client.get(f"/creditor/cases/{second.id}/documents/{document.id}").status_code == 404
    assert client.get(f"/creditor/cases/{case.id}/documents/{document.id}").status_code == 200


def test_pending_and_missing_files_are_not_served(
    client: FlaskClient, session: Session, world, storage: LocalStorage
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    upload(client, case, samples.csv_text(), "invoices.csv")
    [document] = documents_of(session, case)
    assert document.content_type == "text/csv"
    (storage.root / document.storage_key).unlink()
    assert client.get(f"/creditor/cases/{case.id}/documents/{document.id}").status_code == 404

    with unscoped(session):
        pending = Document(
            tenant_id=case.tenant_id,
            case_id=case.id,
            status=DocumentStatus.PENDING,
            kind=DocumentKind.OTHER,
            filename="later.pdf",
            content_type="application/octet-stream",
            size_bytes=0,
            sha256="",
            storage_key=f"tenant/{case.tenant_id}/case/{case.id}/pending",
        )
        session.add(pending)
        session.commit()
    storage.put(pending.storage_key, io.BytesIO(samples.pdf()), "application/pdf")
    assert client.get(f"/creditor/cases/{case.id}/documents/{pending.id}").status_code == 404
    assert "later.pdf" not in client.get(case_url(case)).get_data(as_text=True)
    storage.delete(pending.storage_key)


def test_direct_upload_is_not_offered_on_local_storage(
    client: FlaskClient, session: Session, world
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    token = csrf_token(client, case_url(case))
    before = counts(session)
    response = client.post(
        f"/creditor/cases/{case.id}/documents/direct",
        json={"filename": "a.pdf", "kind": "invoice", "size": 100},
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 409
    assert "upload the file with the form on the case page" in response.get_json()["error"]
    for body in ([], "not json", {"filename": "a.pdf", "kind": "nope"}):
        bad = client.post(
            f"/creditor/cases/{case.id}/documents/direct",
            json=body,
            headers={"X-CSRFToken": token},
        )
        assert bad.status_code in {400, 422}, body
        assert bad.get_json()["error"]
    assert counts(session) == before


def test_the_documents_section_follows_the_content_security_policy(
    client: FlaskClient, world
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    page = client.get(case_url(case)).get_data(as_text=True)
    section = page[page.index('<article id="documents">') :]
    section = section[: section.index("</article>")]
    assert 'enctype="multipart/form-data"' in section
    assert 'name="csrf_token"' in section and 'type="file"' in section
    assert 'name="shareable_with_debtor"' in section
    for kind in DocumentKind:
        assert f'value="{kind.value}"' in section
    assert "style=" not in section and "<script" not in section
    assert not re.search(r"\son\w+=", section)  # no inline event handlers
