import io
import socket
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from portal.adapters.errors import DOCUMENT_STORAGE, ServiceUnavailable
from portal.adapters.storage import (
    DocumentNotFound,
    LocalStorage,
    ObjectInfo,
    S3Storage,
    StorageKeyError,
    content_disposition,
    read_in_chunks,
    storage_from_url,
)


def test_local_storage_keeps_and_returns_bytes(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("tenant/1/case/2/abc.pdf", io.BytesIO(b"%PDF-1.7 invoice"), "application/pdf")
    assert storage.get("tenant/1/case/2/abc.pdf") == b"%PDF-1.7 invoice"
    assert (tmp_path / "tenant/1/case/2/abc.pdf").is_file()
    assert not list(tmp_path.rglob("*.partial"))
    storage.delete("tenant/1/case/2/abc.pdf")
    with pytest.raises(DocumentNotFound):
        storage.get("tenant/1/case/2/abc.pdf")


@pytest.mark.parametrize(
    "key",
    [
        "../escape.pdf",
        "tenant/../../etc/passwd",
        "/etc/passwd",
        "tenant//x",
        "",
        ".hidden",
        "tenant/1\\..\\x",
        "tenant/1/ x.pdf",
        "a" * 501,
        "tenant/1/\x00.pdf",
    ],
)
def test_keys_that_could_escape_are_refused(tmp_path: Path, key: str) -> None:
    storage = LocalStorage(tmp_path / "store")
    with pytest.raises(StorageKeyError):
        storage.put(key, io.BytesIO(b"x"), "text/plain")
    with pytest.raises(StorageKeyError):
        storage.get(key)
    assert not (tmp_path / "escape.pdf").exists()


def test_storage_url_picks_the_backend(tmp_path: Path) -> None:
    storage = storage_from_url(tmp_path.as_uri())
    assert isinstance(storage, LocalStorage)
    assert storage.root == tmp_path.resolve()
    with pytest.raises(ValueError, match="not supported"):
        storage_from_url("ftp://files.example/docs")


def test_local_storage_streams_and_measures(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path)
    storage.put("tenant/1/case/2/abc", io.BytesIO(b"x" * 3000), "text/plain")
    assert storage.head("tenant/1/case/2/abc") == ObjectInfo(size=3000, content_type=None)
    with storage.open("tenant/1/case/2/abc") as stream:
        assert b"".join(read_in_chunks(stream, 1024)) == b"x" * 3000
    for missing in ("tenant/1/case/2/nothing", "tenant/1/case/2"):
        with pytest.raises(DocumentNotFound):
            storage.open(missing)
        with pytest.raises(DocumentNotFound):
            storage.head(missing)
    with pytest.raises(StorageKeyError):
        storage.open("../escape")


def test_local_storage_offers_no_links(tmp_path: Path) -> None:
    """The portal streams local files itself and offers no direct upload."""
    storage = LocalStorage(tmp_path)
    link = storage.download_url(
        "a/b", filename="a.pdf", content_type="application/pdf", expires_in=60
    )
    assert link is None
    assert storage.upload_form("a/b", max_bytes=10, expires_in=60) is None


def test_read_in_chunks_closes_the_stream() -> None:
    stream = io.BytesIO(b"abcdef")
    assert list(read_in_chunks(stream, 4)) == [b"abcd", b"ef"]
    assert stream.closed
    abandoned = io.BytesIO(b"abcdef")
    chunks = read_in_chunks(abandoned, 2)
    next(chunks)
    chunks.close()
    assert abandoned.closed


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("invoice.pdf", "attachment; filename=\"invoice.pdf\"; filename*=UTF-8''invoice.pdf"),
        (
            "Rechnung März 2026.pdf",
            'attachment; filename="Rechnung Marz 2026.pdf"; '
            "filename*=UTF-8''Rechnung%20M%C3%A4rz%202026.pdf",
        ),
        (
            'say "hi"\\;%.txt',
            'attachment; filename="say _hi____.txt"; '
            "filename*=UTF-8''say%20%22hi%22%5C%3B%25.txt",
        ),
        (
            "evil\r\nSet-Cookie: x=1",
            'attachment; filename="evil__Set-Cookie: x=1"; '
            "filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20x%3D1",
        ),
        (
            "日本語.pdf",
            'attachment; filename="document.pdf"; '
            "filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.pdf",
        ),
        ("请", "attachment; filename=\"document\"; filename*=UTF-8''%E8%AF%B7"),
        (
            "Vertrag \u2013 2025.docx",
            'attachment; filename="Vertrag 2025.docx"; '
            "filename*=UTF-8''Vertrag%20%E2%80%93%202025.docx",
        ),
    ],
)
def test_content_disposition_is_safe_for_any_name(filename: str, expected: str) -> None:
    header = content_disposition(filename)
    assert header == expected
    assert "\r" not in header and "\n" not in header and header.isascii()


def test_s3_urls_pick_s3_with_bucket_and_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-central-1")
    storage = storage_from_url("s3://portal-docs/prod/documents/", "http://127.0.0.1:9000")
    assert isinstance(storage, S3Storage)
    assert (storage.bucket, storage.prefix) == ("portal-docs", "prod/documents")
    assert storage.client.meta.endpoint_url == "http://127.0.0.1:9000"
    plain = storage_from_url("s3://portal-docs")
    assert isinstance(plain, S3Storage) and plain.prefix == ""
    with pytest.raises(ValueError, match="bucket"):
        storage_from_url("s3:///no-bucket")
    with pytest.raises(StorageKeyError):
        storage_from_url("s3://portal-docs/../up")


def _s3_at_closed_port(monkeypatch: pytest.MonkeyPatch) -> S3Storage:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return S3Storage("documents", endpoint_url=f"http://127.0.0.1:{port}")


def test_an_s3_endpoint_that_does_not_answer_is_unavailable_storage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = _s3_at_closed_port(monkeypatch)
    calls = {
        "put": lambda: storage.put("tenant/1/a", io.BytesIO(b"x"), "text/plain"),
        "get": lambda: storage.get("tenant/1/a"),
        "head": lambda: storage.head("tenant/1/a"),
        "delete": lambda: storage.delete("tenant/1/a"),
        "ping": storage.ping,
    }
    for name, call in calls.items():
        with pytest.raises(ServiceUnavailable, match="document storage") as raised:
            call()
        assert raised.value.service == DOCUMENT_STORAGE, name


def test_the_s3_client_gives_up_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    config = _s3_at_closed_port(monkeypatch).client.meta.config
    assert config.connect_timeout <= 5 and config.read_timeout <= 30
    assert config.retries["total_max_attempts"] <= 3


@pytest.mark.parametrize("code,status", [("SlowDown", 503), ("InternalError", 500)])
def test_the_stores_own_failures_are_unavailable_storage(code: str, status: int) -> None:
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    storage = S3Storage("documents", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("head_object", service_error_code=code, http_status_code=status)
        with pytest.raises(ServiceUnavailable):
            storage.head("tenant/1/a")


def test_answers_about_the_request_stay_what_they_are() -> None:
    client = boto3.client(
        "s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    storage = S3Storage("documents", client=client)
    with Stubber(client) as stub:
        stub.add_client_error("head_object", service_error_code="404", http_status_code=404)
        stub.add_client_error(
            "head_object", service_error_code="AccessDenied", http_status_code=403
        )
        with pytest.raises(DocumentNotFound):
            storage.head("tenant/1/a")
        with pytest.raises(ClientError):
            storage.head("tenant/1/a")
