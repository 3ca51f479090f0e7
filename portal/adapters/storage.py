"""Where documents are kept: a local folder by default, S3 in production.

Keys are relative paths chosen by the portal (``tenant/<id>/case/<id>/<uuid>``);
a key that could escape its folder is refused before any backend sees it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol
from urllib.parse import unquote, urlparse

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class StorageKeyError(ValueError):
    """The key is not a plain relative path of safe segments."""


class DocumentNotFound(LookupError):
    pass


def check_key(key: str) -> str:
    if len(key) > 500 or not KEY_PATTERN.match(key) or ".." in key.split("/"):
        raise StorageKeyError(f"unsafe storage key: {key!r}")
    return key


class Storage(Protocol):
    def put(self, key: str, data: BinaryIO, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete(self, key: str) -> None: ...

    def ping(self) -> None: ...


class LocalStorage:
    """Documents as files under one folder (the embedded default)."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()

    def _path(self, key: str) -> Path:
        path = (self.root / check_key(key)).resolve()
        if not path.is_relative_to(self.root):
            raise StorageKeyError(f"unsafe storage key: {key!r}")
        return path

    def put(self, key: str, data: BinaryIO, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial")
        with partial.open("wb") as out:
            while chunk := data.read(1024 * 1024):
                out.write(chunk)
        partial.replace(path)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise DocumentNotFound(key)
        return path.read_bytes()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def ping(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)


def storage_from_url(url: str, endpoint_url: str | None = None) -> Storage:
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    raise ValueError(f"STORAGE_URL scheme {parsed.scheme!r} is not supported")
