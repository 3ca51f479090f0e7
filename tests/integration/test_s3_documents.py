"""Documents in S3, tested against a real S3 HTTP endpoint: moto in server mode.

The adapter on its own (objects, encryption, presigned links and forms), then the
portal's routes with S3 storage: uploads, presigned downloads, and direct browser
uploads with their confirmation step. moto does not enforce a presigned form's
``content-length-range`` nor apply its encryption field: the confirmation step must
(and does) check size and content itself, and rewrites what it keeps encrypted.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import io
import json
import urllib.request
import uuid
from collections.abc import Iterator
from email.message import Message
from typing import Any

import boto3
import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from moto.server import ThreadedMotoServer
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.storage import DocumentNotFound, S3Storage, StorageKeyError, storage_from_url
from portal.models import Activity, ActivityKind, AuditEntry, DocumentStatus, Role
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_documents import KEY, csrf_token, documents_of, upload
from tests.s3_support import use_test_credentials

PREFIX = "portal"


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """An S3 endpoint on a free port of this machine, for this module's tests."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3_client(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A boto3 client with test credentials only: nothing real is read or reached."""
    use_test_credentials(monkeypatch)
    return boto3.client("s3", endpoint_url=moto_endpoint)


@pytest.fixture
def bucket(s3_client: Any) -> str:
    name = f"documents-{uuid.uuid4().hex[:12]}"
    s3_client.create_bucket(Bucket=name)
    return name


@pytest.fixture
def s3(moto_endpoint: str, bucket: str) -> S3Storage:
    storage = storage_from_url(f"s3://{bucket}/{PREFIX}", endpoint_url=moto_endpoint)
    assert isinstance(storage, S3Storage)
    return storage


def bucket_keys(s3_client: Any, bucket: str) -> set[str]:
    listing = s3_client.list_objects_v2(Bucket=bucket)
    return {item["Key"] for item in listing.get("Contents", [])}


def fetch(url: str) -> tuple[bytes, Message]:
    """GET a presigned link as a browser would; the headers are matched case-insensitively."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our test endpoint
        return response.read(), response.headers


def post_form(form: dict[str, Any], data: bytes, name: str = "upload.bin") -> int:
    """What a browser does with a presigned form: the fields, then the file."""
    response = requests.post(
        form["url"], data=form["fields"], files={"file": (name, data)}, timeout=10
    )
    return response.status_code


# The adapter against the endpoint.


def test_objects_are_kept_encrypted_under_the_prefix(
    s3: S3Storage, s3_client: Any, bucket: str
) -> None:
    key = "tenant/1/case/2/abc"
    s3.put(key, io.BytesIO(samples.pdf()), "application/pdf")
    assert bucket_keys(s3_client, bucket) == {f"{PREFIX}/{key}"}
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{key}")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentType"] == "application/pdf"
    info = s3.head(key)
    assert (info.size, info.content_type) == (len(samples.pdf()), "application/pdf")
    assert s3.get(key) == samples.pdf()
    with s3.open(key) as stream:
        assert stream.read(5) == b"%PDF-"
    s3.delete(key)
    assert bucket_keys(s3_client, bucket) == set()
    for call in (s3.get, s3.open, s3.head):
        with pytest.raises(DocumentNotFound):
            call(key)
    s3.delete(key)  # deleting what is gone is fine
    with pytest.raises(StorageKeyError):
        s3.put("../outside", io.BytesIO(b"x"), "text/plain")


def test_large_objects_are_uploaded_in_parts(s3: S3Storage, s3_client: Any, bucket: str) -> None:
    data = b"0123456789abcdef" * (10 * 1024 * 1024 // 16)  # 10 MB: above boto3's part size
    s3.put("tenant/1/case/2/big", io.BytesIO(data), "text/plain")
    assert s3.head("tenant/1/case/2/big").size == len(data)
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/tenant/1/case/2/big")
    assert head["ServerSideEncryption"] == "AES256"
    assert hashlib.sha256(s3.get("tenant/1/case/2/big")).digest() == hashlib.sha256(data).digest()


def test_a_presigned_download_serves_the_bytes_under_the_original_name(s3: S3Storage) -> None:
    s3.put("tenant/1/case/2/abc", io.BytesIO(samples.pdf()), "application/pdf")
    url = s3.download_url(
        "tenant/1/case/2/abc",
        filename='Rechnung "März".pdf',
        content_type="application/pdf",
        expires_in=60,
    )
    assert url is not None and "X-Amz-Expires=60" in url
    body, headers = fetch(url)
    assert body == samples.pdf()
    assert headers["Content-Type"] == "application/pdf"
    assert headers["Content-Disposition"] == (
        'attachment; filename="Rechnung _Marz_.pdf"; '
        "filename*=UTF-8''Rechnung%20%22M%C3%A4rz%22.pdf"
    )


def test_a_presigned_form_takes_a_browser_upload(
    s3: S3Storage, s3_client: Any, bucket: str
) -> None:
    form = s3.upload_form("tenant/1/case/2/direct", max_bytes=1000, expires_in=300)
    assert form is not None
    assert form.fields["key"] == f"{PREFIX}/tenant/1/case/2/direct"
    assert form.fields["x-amz-server-side-encryption"] == "AES256"
    policy = json.loads(base64.b64decode(form.fields["policy"]))
    assert ["content-length-range", 1, 1000] in policy["conditions"]
    assert {"x-amz-server-side-encryption": "AES256"} in policy["conditions"]
    status = post_form(dataclasses.asdict(form), samples.png(), "scan.png")
    assert status in {200, 201, 204}
    assert s3.get("tenant/1/case/2/direct") == samples.png()


def test_ping_reaches_the_bucket(s3: S3Storage, moto_endpoint: str) -> None:
    s3.ping()
    missing = storage_from_url("s3://no-such-bucket-here", endpoint_url=moto_endpoint)
    with pytest.raises(Exception, match=r"404|NoSuchBucket|Not Found"):
        missing.ping()


# The portal's routes with S3 storage.


@pytest.fixture
def world(session: Session, app: Flask, s3: S3Storage, monkeypatch) -> dict[str, Any]:
    monkeypatch.setitem(app.extensions, "portal.storage", s3)
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        world = {
            "case": make_case(session, acme, debtor_name="Keller Bau GmbH"),
            "other_case": make_case(session, other, debtor_name="Other Tenant Debtor"),
            "creditor": make_user(session, Role.CREDITOR_USER, acme),
            "other_creditor": make_user(session, Role.CREDITOR_USER, other),
            "collector": make_user(session, Role.COLLECTOR),
        }
        session.commit()
    return world


def limit_documents_to(app: Flask, monkeypatch, limit: int) -> None:
    settings = app.extensions["portal.settings"]
    replaced = dataclasses.replace(settings, max_document_bytes=limit)
    monkeypatch.setitem(app.extensions, "portal.settings", replaced)


def start(client: FlaskClient, case, token: str, audience: str = "creditor", **details: Any) -> Any:
    body = {"filename": "scan.png", "kind": "invoice", **details}
    return client.post(
        f"/{audience}/cases/{case.id}/documents/direct", json=body, headers={"X-CSRFToken": token}
    )


def confirm(client: FlaskClient, url: str, token: str) -> Any:
    return client.post(url, headers={"X-CSRFToken": token})


def test_an_upload_goes_to_s3_encrypted_and_downloads_by_redirect(
    client: FlaskClient, session: Session, world, s3_client: Any, bucket: str
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    assert upload(client, case, samples.pdf(), "Forderung 2026.pdf").status_code == 302
    [document] = documents_of(session, case)
    assert KEY.match(document.storage_key)
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{document.storage_key}")
    assert head["ServerSideEncryption"] == "AES256"
    assert head["ContentLength"] == len(samples.pdf())

    response = client.get(f"/creditor/cases/{case.id}/documents/{document.id}")
    assert response.status_code == 302
    body, headers = fetch(response.headers["Location"])
    assert body == samples.pdf()
    assert "filename*=UTF-8''Forderung%202026.pdf" in headers["Content-Disposition"]
    with unscoped(session):
        audit = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "document.downloaded")
        ).one()
    assert audit.object_id == str(document.id)


def test_a_direct_upload_is_checked_and_kept(
    client: FlaskClient, session: Session, world, s3_client: Any, bucket: str
) -> None:
    case = world["case"]
    sign_in(client, world["collector"])
    token = csrf_token(client, f"/agency/cases/{case.id}")
    started = start(
        client, case, token, "agency", filename="Brief.png", kind="correspondence", size=100
    )
    assert started.status_code == 201, started.get_json()
    answer = started.get_json()
    [pending] = documents_of(session, case)
    assert pending.id == answer["document_id"]
    assert pending.status is DocumentStatus.PENDING
    uploaded_key = f"{PREFIX}/{pending.storage_key}"
    assert answer["upload"]["fields"]["key"] == uploaded_key
    assert answer["confirm"] == f"/agency/cases/{case.id}/documents/{pending.id}/confirm"
    assert client.get(f"/agency/cases/{case.id}/documents/{pending.id}").status_code == 404
    assert "Brief.png" not in client.get(f"/agency/cases/{case.id}").get_data(as_text=True)

    assert post_form(answer["upload"], samples.png()) in {200, 201, 204}
    confirmed = confirm(client, answer["confirm"], token)
    assert confirmed.status_code == 200, confirmed.get_json()
    [document] = documents_of(session, case)
    assert document.status is DocumentStatus.STORED
    assert (document.content_type, document.size_bytes) == ("image/png", len(samples.png()))
    assert document.sha256 == hashlib.sha256(samples.png()).hexdigest()
    assert confirmed.get_json()["sha256"] == document.sha256
    # The checked bytes live under a new key, encrypted; the browser's object is gone.
    assert bucket_keys(s3_client, bucket) == {f"{PREFIX}/{document.storage_key}"}
    assert f"{PREFIX}/{document.storage_key}" != uploaded_key
    head = s3_client.head_object(Bucket=bucket, Key=f"{PREFIX}/{document.storage_key}")
    assert head["ServerSideEncryption"] == "AES256"
    with unscoped(session):
        summaries = session.scalars(
            select(Activity.summary).where(
                Activity.case_id == case.id, Activity.kind == ActivityKind.DOCUMENT
            )
        ).all()
    assert summaries == ["Document added: Brief.png"]

    again = confirm(client, answer["confirm"], token)
    assert again.status_code == 200 and len(documents_of(session, case)) == 1
    sign_in(client, world["creditor"])
    download = client.get(f"/creditor/cases/{case.id}/documents/{document.id}")
    assert fetch(download.headers["Location"])[0] == samples.png()


def test_confirming_before_the_upload_arrived_keeps_it_pending(
    client: FlaskClient, session: Session, world
) -> None:
    case = world["case"]
    sign_in(client, world["creditor"])
    token = csrf_token(client, f"/creditor/cases/{case.id}")
    answer = start(client, case, token).get_json()
    early = confirm(client, answer["confirm"], token)
    assert early.status_code == 409
    assert "has not arrived" in early.get_json()["error"]
    [pending] = documents_of(session, case)
    assert pending.status is DocumentStatus.PENDING
    post_form(answer["upload"], samples.png())
    assert confirm(client, answer["confirm"], token).status_code == 200


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (samples.pdf(padding=5000), "larger than the 4 KB limit"),
        (samples.plain_zip(), "it looks like a ZIP archive"),
        (samples.windows_exe(), "it looks like a Windows program"),
        (b"", "is empty"),
    ],
)
def test_a_direct_upload_that_breaks_the_rules_is_deleted(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world,
    s3_client: Any,
    bucket: str,
    monkeypatch,
    data: bytes,
    message: str,
) -> None:
    """moto ignores the form's size range, as a misconfigured store might: confirm checks."""
    limit_documents_to(app, monkeypatch, 4096)
    case = world["case"]
    sign_in(client, world["creditor"])
    token = csrf_token(client, f"/creditor/cases/{case.id}")
    answer = start(client, case, token, filename="invoice.pdf").get_json()
    assert post_form(answer["upload"], data) in {200, 201, 204}
    assert bucket_keys(s3_client, bucket)
    refused = confirm(client, answer["confirm"], token)
    assert refused.status_code == 422
    assert message in refused.get_json()["error"]
    assert documents_of(session, case) == []
    assert bucket_keys(s3_client, bucket) == set()


def test_a_direct_upload_announced_too_big_is_not_started(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    limit_documents_to(app, monkeypatch, 4096)
    case = world["case"]
    sign_in(client, world["creditor"])
    token = csrf_token(client, f"/creditor/cases/{case.id}")
    refused = start(client, case, token, size=4097)
    assert refused.status_code == 422 and "4 KB limit" in refused.get_json()["error"]
    assert start(client, case, token, kind="receipt").status_code == 422
    assert start(client, case, token, filename="").status_code == 422
    assert documents_of(session, case) == []
    assert start(client, case, token, size=4096).status_code == 201


def test_another_tenants_direct_upload_cannot_be_confirmed(
    client: FlaskClient, session: Session, world, s3_client: Any, bucket: str
) -> None:
    theirs = world["other_case"]
    sign_in(client, world["other_creditor"])
    their_token = csrf_token(client, f"/creditor/cases/{theirs.id}")
    answer = start(client, theirs, their_token).get_json()
    post_form(answer["upload"], samples.windows_exe())
    keys = bucket_keys(s3_client, bucket)

    sign_in(client, world["creditor"])
    token = csrf_token(client, f"/creditor/cases/{world['case'].id}")
    assert confirm(client, answer["confirm"], token).status_code == 404
    wrong_case = f"/creditor/cases/{world['case'].id}/documents/{answer['document_id']}/confirm"
    assert confirm(client, wrong_case, token).status_code == 404
    [pending] = documents_of(session, theirs)
    assert pending.status is DocumentStatus.PENDING
    assert bucket_keys(s3_client, bucket) == keys
