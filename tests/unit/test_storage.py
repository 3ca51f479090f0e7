import io
from pathlib import Path

import pytest

from portal.adapters.storage import (
    DocumentNotFound,
    LocalStorage,
    StorageKeyError,
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
