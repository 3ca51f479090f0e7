"""Where documents are kept: a local folder by default, S3 in production.

Keys are relative paths chosen by the portal (``tenant/<id>/case/<id>/<uuid>``);
a key that could escape its folder is refused before any backend sees it.

An S3 endpoint that is stopped, unreachable or slow raises ``ServiceUnavailable``
within seconds (short timeouts, two retries), never a library error or a hang that
outlasts the web server's 30 s request timeout.

Besides keeping bytes, a backend may hand out short-lived links so that browsers talk
to it directly: ``download_url`` and ``upload_form`` return ``None`` where the backend
cannot (the local folder), and the portal then streams the file itself or offers no
direct upload.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Protocol, cast
from urllib.parse import quote, unquote, urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
    ResponseStreamingError,
)

from portal.adapters.errors import DOCUMENT_STORAGE, ServiceUnavailable

KEY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
CHUNK_BYTES = 1024 * 1024
# S3 encrypts every object the portal writes with its own keys (SSE-S3).
SERVER_SIDE_ENCRYPTION = "AES256"
# RFC 5987 attr-char, besides the letters, digits and "_.-~" that quote() always keeps.
_ATTR_CHARS = "!#$&+^`|"
_NOT_TOKEN_SAFE = re.compile(r'[\x00-\x1f\x7f"\\%;]')
# Seconds, and retries after the first attempt. A call gives up after three attempts
# and the backoff between them (at most 3 s): an endpoint that accepts and then says
# nothing in about 18 s, one that does not even accept in about 9 s, and the two at once
# in 24 s at most, inside the web server's 30 s request timeout.
S3_CONNECT_TIMEOUT = 2.0
S3_READ_TIMEOUT = 5.0
S3_RETRIES = 2
_UNREACHABLE = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
    ResponseStreamingError,
)


class StorageKeyError(ValueError):
    """The key is not a plain relative path of safe segments."""


class DocumentNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ObjectInfo:
    """What the backend knows of a stored object without reading it."""

    size: int
    content_type: str | None


@dataclass(frozen=True)
class UploadForm:
    """A presigned form: the browser POSTs ``fields`` and then the file to ``url``."""

    url: str
    fields: dict[str, str] = field(default_factory=dict)


def check_key(key: str) -> str:
    if len(key) > 500 or not KEY_PATTERN.match(key) or ".." in key.split("/"):
        raise StorageKeyError(f"unsafe storage key: {key!r}")
    return key


def content_disposition(filename: str, disposition: str = "attachment") -> str:
    """A Content-Disposition header value carrying any file name safely (RFC 6266).

    ``filename`` holds an ASCII stand-in for old clients, ``filename*`` the exact name
    percent-encoded as UTF-8 (RFC 5987); quotes, backslashes and control characters
    never reach the header.
    """
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    ascii_name = " ".join(_NOT_TOKEN_SAFE.sub("_", ascii_name).split())
    if not ascii_name or ascii_name.startswith("."):
        ascii_name = "document" + ascii_name  # nothing left of the name but its extension
    encoded = quote(filename, safe=_ATTR_CHARS)
    return f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{encoded}"


def read_in_chunks(stream: BinaryIO, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    """Yield ``stream`` piece by piece and close it at the end (or when abandoned)."""
    try:
        while chunk := stream.read(size):
            yield chunk
    finally:
        stream.close()


class Storage(Protocol):
    def put(self, key: str, data: BinaryIO, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def open(self, key: str) -> BinaryIO:
        """The object as a stream to read in chunks; the caller closes it."""
        ...

    def head(self, key: str) -> ObjectInfo:
        """Size and type of a stored object; ``DocumentNotFound`` when there is none."""
        ...

    def delete(self, key: str) -> None: ...

    def ping(self) -> None:
        """A cheap call that raises unless the store can be used (for the readiness check)."""
        ...

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        """A short-lived link that downloads the object, or None: stream it yourself."""
        ...

    def upload_form(self, key: str, *, max_bytes: int, expires_in: int) -> UploadForm | None:
        """A short-lived form for a browser to upload to ``key`` directly, or None."""
        ...


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
            while chunk := data.read(CHUNK_BYTES):
                out.write(chunk)
        partial.replace(path)

    def get(self, key: str) -> bytes:
        path = self._path(key)
        if not path.is_file():
            raise DocumentNotFound(key)
        return path.read_bytes()

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return path.open("rb")
        except (FileNotFoundError, IsADirectoryError) as error:
            raise DocumentNotFound(key) from error

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        if not path.is_file():
            raise DocumentNotFound(key)
        return ObjectInfo(size=path.stat().st_size, content_type=None)

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def ping(self) -> None:
        """Raise unless documents can be written: a nameless file is made and dropped."""
        self.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=self.root):
            pass

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        return None

    def upload_form(self, key: str, *, max_bytes: int, expires_in: int) -> UploadForm | None:
        return None


def _is_missing(error: ClientError) -> bool:
    code = str(error.response.get("Error", {}).get("Code", ""))
    return code in {"404", "NoSuchKey", "NotFound"}


@contextmanager
def _answering() -> Iterator[None]:
    """Connection failures, timeouts and the store's own 5xx answers (SlowDown,
    ServiceUnavailable, InternalError) become ``ServiceUnavailable``."""
    try:
        yield
    except _UNREACHABLE as error:
        raise ServiceUnavailable(DOCUMENT_STORAGE, type(error).__name__) from error
    except ClientError as error:
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if status >= 500:
            code = str(error.response.get("Error", {}).get("Code", status))
            raise ServiceUnavailable(DOCUMENT_STORAGE, code) from error
        raise


class S3Storage:
    """Documents as objects in one S3 bucket, under an optional key prefix.

    Every object is written with server-side encryption. ``endpoint_url`` points the
    client at an S3-compatible store (MinIO, a test server); such stores are addressed
    path-style, since their host names rarely resolve per bucket. The timeouts (seconds)
    and retries apply to each call to the store; ``client`` replaces the one built here.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        client: Any = None,
        connect_timeout: float = S3_CONNECT_TIMEOUT,
        read_timeout: float = S3_READ_TIMEOUT,
        retries: int = S3_RETRIES,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        if self.prefix:
            check_key(self.prefix)
        if client is None:
            config = Config(
                signature_version="s3v4",
                s3={"addressing_style": "path" if endpoint_url else "auto"},
                connect_timeout=connect_timeout,
                read_timeout=read_timeout,
                retries={"total_max_attempts": retries + 1, "mode": "standard"},
            )
            client = boto3.client("s3", endpoint_url=endpoint_url, config=config)
        self.client = client

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: BinaryIO, content_type: str) -> None:
        # upload_fileobj reads in parts (multipart above 8 MB): the file is never whole in memory.
        with _answering():
            self.client.upload_fileobj(
                data,
                self.bucket,
                self._key(key),
                ExtraArgs={
                    "ContentType": content_type,
                    "ServerSideEncryption": SERVER_SIDE_ENCRYPTION,
                },
            )

    def get(self, key: str) -> bytes:
        with self.open(key) as body, _answering():
            return body.read()

    def open(self, key: str) -> BinaryIO:
        try:
            with _answering():
                response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _is_missing(error):
                raise DocumentNotFound(key) from error
            raise
        return cast(BinaryIO, response["Body"])

    def head(self, key: str) -> ObjectInfo:
        try:
            with _answering():
                response = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as error:
            if _is_missing(error):
                raise DocumentNotFound(key) from error
            raise
        return ObjectInfo(
            size=int(response["ContentLength"]), content_type=response.get("ContentType")
        )

    def delete(self, key: str) -> None:
        with _answering():
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def ping(self) -> None:
        """The bucket is there and these credentials may use it (no object is read)."""
        with _answering():
            self.client.head_bucket(Bucket=self.bucket)

    def download_url(
        self, key: str, *, filename: str, content_type: str, expires_in: int
    ) -> str | None:
        # The response headers are part of the signature: the link cannot be re-purposed.
        url = self.client.generate_presigned_url(
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": self._key(key),
                "ResponseContentDisposition": content_disposition(filename),
                "ResponseContentType": content_type,
            },
            ExpiresIn=expires_in,
        )
        return str(url)

    def upload_form(self, key: str, *, max_bytes: int, expires_in: int) -> UploadForm | None:
        # S3 itself refuses a body outside content-length-range; the portal checks again
        # when the upload is confirmed, for stores that do not enforce the policy.
        encryption = {"x-amz-server-side-encryption": SERVER_SIDE_ENCRYPTION}
        presigned = self.client.generate_presigned_post(
            self.bucket,
            self._key(key),
            Fields=dict(encryption),
            Conditions=[encryption, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_in,
        )
        return UploadForm(
            url=str(presigned["url"]),
            fields={str(name): str(value) for name, value in presigned["fields"].items()},
        )


def storage_from_url(url: str, endpoint_url: str | None = None) -> Storage:
    """``file:///path`` for a local folder, ``s3://bucket/optional/prefix`` for S3."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return LocalStorage(Path(unquote(parsed.path)))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError("STORAGE_URL s3://bucket/prefix needs a bucket name")
        return S3Storage(parsed.netloc, unquote(parsed.path), endpoint_url=endpoint_url)
    raise ValueError(f"STORAGE_URL scheme {parsed.scheme!r} is not supported")
