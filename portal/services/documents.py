"""Documents on a case: checking what is uploaded, keeping it in storage, handing it out.

Rules every document follows, whichever way it arrives:

- its type is judged by its content, never by its name: PDF, PNG, JPEG and TIFF by their
  magic bytes, DOCX and XLSX by the parts inside the zip, CSV, TXT and EML by being text
  (and EML by its header block); anything else is refused, with what it looked like;
- the size limit holds while the bytes are read: an upload is spooled to a temporary
  file in chunks while it is hashed, and reading stops as soon as it is over the limit,
  so nothing large is ever whole in memory and a refused upload stores nothing;
- the storage key is generated (``tenant/<id>/case/<id>/<uuid>``); the name the uploader
  gave is only display text, cleaned of paths and control characters.

A browser may also upload straight to S3 with a presigned form. The document then waits
as ``PENDING`` until ``confirm_direct_upload`` has read the object back and checked it
like any other upload; what breaks a rule is deleted, object and row.

The bytes are stored before the row is written, so a row never names a missing file.
When the row cannot be kept after all (the database fails before the commit), the
caller deletes the stored bytes with ``discard_stored``, best effort: an object left
behind is only an orphan, never a document without its file. A confirmed direct
upload's original object is deleted only after the commit (``Confirmation.superseded``).

No Flask here: views pass the storage, the session and the limits.
"""

from __future__ import annotations

import codecs
import hashlib
import logging
import re
import tempfile
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, BinaryIO, cast

from sqlalchemy.orm import Session

from portal.adapters.storage import CHUNK_BYTES, DocumentNotFound, Storage, UploadForm
from portal.models import ActivityKind, Case, Document, DocumentKind, DocumentStatus
from portal.services import audit
from portal.services.timeline import log_activity

log = logging.getLogger(__name__)

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
TIFF = "image/tiff"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV = "text/csv"
TXT = "text/plain"
EML = "message/rfc822"
ALLOWED_TYPES = {
    PDF: "PDF",
    PNG: "PNG",
    JPEG: "JPEG",
    TIFF: "TIFF",
    DOCX: "DOCX",
    XLSX: "XLSX",
    CSV: "CSV",
    TXT: "TXT",
    EML: "EML",
}
*_FIRST_LABELS, _LAST_LABEL = ALLOWED_TYPES.values()
ACCEPTED_TEXT = f"{', '.join(_FIRST_LABELS)} or {_LAST_LABEL}"  # "PDF, PNG, ... or EML"

# Short-lived links: a presigned download is followed at once, a direct upload soon after.
DOWNLOAD_LINK_SECONDS = 60
DIRECT_UPLOAD_SECONDS = 15 * 60
MAX_FILENAME_LENGTH = 255

_ALLOWED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", PDF),
    (b"\x89PNG\r\n\x1a\n", PNG),
    (b"\xff\xd8\xff", JPEG),
    (b"II*\x00", TIFF),
    (b"MM\x00*", TIFF),
    (b"II+\x00", TIFF),  # BigTIFF
    (b"MM\x00+", TIFF),
)
# What a refused file most likely is, to say so in the message.
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "a Windows program"),
    (b"\x7fELF", "a program"),
    (b"\xcf\xfa\xed\xfe", "a program"),
    (b"\xce\xfa\xed\xfe", "a program"),
    (b"\xca\xfe\xba\xbe", "a program"),
    (b"#!", "a script"),
    (b"PK\x03\x04", "a ZIP archive"),
    (b"PK\x05\x06", "a ZIP archive"),
    (b"Rar!", "a RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"\x1f\x8b", "a compressed archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Office file (save it as DOCX, XLSX or PDF)"),
    (b"GIF8", "a GIF image"),
)
_MARKUP_STARTS = (b"<!doctype", b"<html", b"<svg", b"<script", b"<?xml")
# Text may hold tabs, line breaks and form feeds; other control bytes mean binary data.
_CONTROL_BYTES = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f]")
_HEADER_LINE = re.compile(r"^[\x21-\x39\x3b-\x7e]+:")
_MAIL_HEADERS = frozenset(
    {"from", "to", "subject", "date", "message-id", "received", "mime-version", "return-path"}
)
_OFFICE_MAIN_PARTS = (
    (DOCX, b"wordprocessingml.document.main+xml", "word/"),
    (XLSX, b"spreadsheetml.sheet.main+xml", "xl/"),
)
_MAX_CONTENT_TYPES_XML = 1024 * 1024
_SNIFF_BYTES = 64 * 1024


class DocumentRefused(ValueError):
    """The upload breaks a rule; the message says which, in words for the uploader."""


class DirectUploadUnavailable(RuntimeError):
    """The storage backend cannot take uploads straight from the browser."""


class UploadNotArrived(LookupError):
    """A direct upload is confirmed before its object is in storage."""


@dataclass(frozen=True)
class CheckedFile:
    """An upload spooled to a temporary file, measured, hashed and typed."""

    file: BinaryIO
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class Confirmation:
    """How a direct upload's check ended: ``document`` is None when it was refused."""

    document: Document | None
    problem: str | None = None
    # The uploaded object the checked copy replaces: delete it once the commit is done.
    superseded: str | None = None


def human_size(size: int) -> str:
    """``2.4 MB``, ``25 MB``, ``812 bytes``: sizes as people read them (1 KB = 1024 bytes)."""
    if size < 1024:
        return "1 byte" if size == 1 else f"{size} bytes"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.0f} {unit}" if value >= 100 or value.is_integer() else f"{value:.1f} {unit}"


def display_name(raw: str | None) -> str:
    """The uploader's file name as display text: no folders, no control characters."""
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]
    # Categories C*: controls, and format characters such as right-to-left overrides
    # that would make "invoice<U+202E>fdp.exe" read as "invoiceexe.pdf".
    name = "".join(char for char in name if not unicodedata.category(char).startswith("C"))
    name = name.strip()
    if name in {"", ".", ".."}:
        return "document"
    if len(name) > MAX_FILENAME_LENGTH:
        stem, dot, extension = name.rpartition(".")
        if dot and stem and len(extension) <= 16:
            name = stem[: MAX_FILENAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            name = name[:MAX_FILENAME_LENGTH]
    return name


def parse_kind(value: str | None) -> DocumentKind:
    try:
        return DocumentKind(value or "")
    except ValueError:
        choices = ", ".join(kind.value for kind in DocumentKind)
        raise DocumentRefused(f"Choose what kind of document this is ({choices}).") from None


def _too_big(name: str, max_bytes: int) -> DocumentRefused:
    return DocumentRefused(f"“{name}” is larger than the {human_size(max_bytes)} limit.")


def _office_type(file: IO[bytes]) -> str | None:
    """DOCX or XLSX when the zip holds that format's main part, else None."""
    try:
        with zipfile.ZipFile(file) as archive:
            names = archive.namelist()
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                return None  # macros: a .docm or .xlsm under another name
            with archive.open("[Content_Types].xml") as part:
                content_types = part.read(_MAX_CONTENT_TYPES_XML)
    except (KeyError, zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError):
        return None  # no [Content_Types].xml, or not a readable zip
    except (RuntimeError, NotImplementedError, ValueError):
        return None  # encrypted or oddly compressed: not a document the portal can vouch for
    for content_type, main_part, folder in _OFFICE_MAIN_PARTS:
        if main_part in content_types and any(name.startswith(folder) for name in names):
            return content_type
    return None


def _text_type(file: IO[bytes], name: str) -> str | None:
    """CSV, EML or TXT when the whole file is text (UTF-8 or Windows-1252), else None."""
    utf8 = codecs.getincrementaldecoder("utf-8")("strict")
    utf8_ok = cp1252_ok = True
    head = b""
    while chunk := file.read(CHUNK_BYTES):
        if _CONTROL_BYTES.search(chunk):
            return None
        if len(head) < _SNIFF_BYTES:
            head += chunk[: _SNIFF_BYTES - len(head)]
        utf8_ok = utf8_ok and _decodes(chunk, utf8.decode)
        # Windows-1252 is a single-byte code: each chunk decodes, or not, on its own.
        cp1252_ok = cp1252_ok and _decodes(chunk, codecs.getdecoder("cp1252"))
        if not (utf8_ok or cp1252_ok):
            return None
    utf8_ok = utf8_ok and _decodes(b"", lambda data: utf8.decode(data, final=True))
    if not (utf8_ok or cp1252_ok):
        return None
    text = head.decode("utf-8" if utf8_ok else "cp1252", errors="ignore").lstrip("\ufeff")
    if text.lstrip().lower().encode().startswith(_MARKUP_STARTS):
        return None  # web pages and markup are refused: a browser might run them
    if _looks_like_mail(text):
        return EML
    return CSV if name.lower().endswith(".csv") else TXT


def _decodes(data: bytes, decode: Callable[[bytes], object]) -> bool:
    try:
        decode(data)
    except UnicodeDecodeError:
        return False
    return True


def _looks_like_mail(text: str) -> bool:
    """An RFC 5322 header block first: ``Name: value`` lines up to a blank line."""
    names: set[str] = set()
    for line in text.splitlines():
        if not line.strip():
            break
        if line[0] in " \t" and names:
            continue  # a folded header goes on
        if not _HEADER_LINE.match(line):
            return False
        names.add(line.split(":", 1)[0].lower())
    return len(names & _MAIL_HEADERS) >= 2


def detect_content_type(file: IO[bytes], name: str) -> str:
    """The type of a seekable file by its content; ``DocumentRefused`` when not allowed."""
    file.seek(0)
    head = file.read(16)
    file.seek(0)
    for magic, content_type in _ALLOWED_MAGIC:
        if head.startswith(magic):
            return content_type
    if head.startswith(b"PK\x03\x04") and (office := _office_type(file)):
        return office
    file.seek(0)
    if not head.startswith(b"#!") and (text := _text_type(file, name)):
        return text
    file.seek(0)
    what = next((label for magic, label in _REFUSED_MAGIC if head.startswith(magic)), None)
    looks_like = f" (it looks like {what})" if what else ""
    raise DocumentRefused(
        f"“{name}” is not a file type the portal accepts{looks_like}. "
        f"Upload a {ACCEPTED_TEXT} file."
    )


@contextmanager
def checked_upload(stream: IO[bytes], name: str, max_bytes: int) -> Iterator[CheckedFile]:
    """Spool ``stream`` to a temporary file, refusing it as soon as it is too big.

    The temporary file is gone when the block ends.
    """
    with tempfile.TemporaryFile() as spool:
        digest = hashlib.sha256()
        size = 0
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
            if size > max_bytes:
                raise _too_big(name, max_bytes)
            digest.update(chunk)
            spool.write(chunk)
        if size == 0:
            raise DocumentRefused(f"“{name}” is empty.")
        content_type = detect_content_type(spool, name)
        spool.seek(0)
        yield CheckedFile(cast(BinaryIO, spool), size, digest.hexdigest(), content_type)


def discard_stored(storage: Storage, key: str) -> None:
    """Delete stored bytes no row will name, best effort: failing to is logged, not raised
    (the error that made them unwanted is the one to report)."""
    try:
        storage.delete(key)
    except Exception:
        log.exception("could not delete the unwanted object %s from storage", key)


def new_storage_key(case: Case) -> str:
    """Where a document of ``case`` goes: generated, never the uploader's file name."""
    return f"tenant/{case.tenant_id}/case/{case.id}/{uuid.uuid4().hex}"


def _log_added(session: Session, document: Document, case: Case) -> None:
    log_activity(
        session,
        case,
        ActivityKind.DOCUMENT,
        f"Document added: {document.filename}",
        actor_id=document.uploaded_by_id,
        document_id=document.id,
    )


def add_document(
    session: Session,
    storage: Storage,
    case: Case,
    *,
    filename: str | None,
    stream: IO[bytes] | None,
    kind: str | None,
    shareable_with_debtor: bool,
    uploaded_by_id: int | None,
    max_bytes: int,
    message_id: int | None = None,
) -> Document:
    """Check an upload and keep it; ``DocumentRefused`` leaves storage and database as they were."""
    if stream is None or not filename:
        raise DocumentRefused("Choose a file to upload.")
    name = display_name(filename)
    document_kind = parse_kind(kind)
    key = new_storage_key(case)
    with checked_upload(stream, name, max_bytes) as checked:
        storage.put(key, checked.file, checked.content_type)
    try:
        document = Document(
            tenant_id=case.tenant_id,
            case_id=case.id,
            status=DocumentStatus.STORED,
            kind=document_kind,
            filename=name,
            content_type=checked.content_type,
            size_bytes=checked.size,
            sha256=checked.sha256,
            storage_key=key,
            shareable_with_debtor=shareable_with_debtor,
            uploaded_by_id=uploaded_by_id,
            message_id=message_id,
        )
        session.add(document)
        session.flush()
        _log_added(session, document, case)
        session.flush()
    except BaseException:
        discard_stored(storage, key)  # no row, no object
        raise
    return document


def start_direct_upload(
    session: Session,
    storage: Storage,
    case: Case,
    *,
    filename: str | None,
    kind: str | None,
    shareable_with_debtor: bool,
    declared_size: int | None,
    uploaded_by_id: int | None,
    max_bytes: int,
) -> tuple[Document, UploadForm]:
    """A pending document and the presigned form the browser uploads it with."""
    if not filename:
        raise DocumentRefused("Give the name of the file to upload.")
    name = display_name(filename)
    document_kind = parse_kind(kind)
    if declared_size is not None and declared_size <= 0:
        raise DocumentRefused(f"“{name}” is empty.")
    if declared_size is not None and declared_size > max_bytes:
        raise _too_big(name, max_bytes)
    key = new_storage_key(case)
    form = storage.upload_form(key, max_bytes=max_bytes, expires_in=DIRECT_UPLOAD_SECONDS)
    if form is None:
        raise DirectUploadUnavailable(
            "Direct uploads need S3 storage, and this portal keeps documents in a local "
            "folder: upload the file with the form on the case page instead."
        )
    document = Document(
        tenant_id=case.tenant_id,
        case_id=case.id,
        status=DocumentStatus.PENDING,
        kind=document_kind,
        filename=name,
        content_type="application/octet-stream",
        size_bytes=0,
        sha256="",
        storage_key=key,
        shareable_with_debtor=shareable_with_debtor,
        uploaded_by_id=uploaded_by_id,
    )
    session.add(document)
    session.flush()
    return document, form


def _discard(session: Session, storage: Storage, document: Document, problem: str) -> Confirmation:
    storage.delete(document.storage_key)
    session.delete(document)
    session.flush()
    return Confirmation(None, problem)


def confirm_direct_upload(
    session: Session, storage: Storage, document: Document, *, max_bytes: int
) -> Confirmation:
    """Check a direct upload like any other; keep it (``STORED``) or delete object and row.

    The checked bytes are written to a new key and the uploaded object deleted: the
    presigned form stays valid for a while, and a second post to the old key must not
    replace a file the portal has already checked. Refusals are flushed, not committed:
    the caller commits them like any other change. ``UploadNotArrived`` changes nothing.
    """
    if document.status is DocumentStatus.STORED:
        return Confirmation(document)
    name = document.filename
    try:
        info = storage.head(document.storage_key)
    except DocumentNotFound:
        raise UploadNotArrived(f"“{name}” has not arrived in storage yet.") from None
    if info.size > max_bytes:
        return _discard(session, storage, document, str(_too_big(name, max_bytes)))
    if info.size == 0:
        return _discard(session, storage, document, f"“{name}” is empty.")
    case = document.case
    key = new_storage_key(case)
    try:
        with (
            storage.open(document.storage_key) as stream,
            checked_upload(stream, name, max_bytes) as checked,
        ):
            storage.put(key, checked.file, checked.content_type)
    except DocumentRefused as refusal:
        return _discard(session, storage, document, str(refusal))
    except DocumentNotFound:
        raise UploadNotArrived(f"“{name}” has not arrived in storage yet.") from None
    uploaded_key = document.storage_key
    try:
        document.storage_key = key
        document.status = DocumentStatus.STORED
        document.content_type = checked.content_type
        document.size_bytes = checked.size
        document.sha256 = checked.sha256
        _log_added(session, document, case)
        session.flush()
    except BaseException:
        discard_stored(storage, key)
        raise
    return Confirmation(document, superseded=uploaded_key)


def download(
    session: Session,
    storage: Storage,
    document: Document,
    *,
    actor_id: int | None,
    ip_address: str | None,
) -> str | BinaryIO:
    """A presigned link to send the browser to, or, where storage has none, an open
    stream for the portal to serve; audited either way.

    ``DocumentNotFound`` for a pending upload or an object missing from storage.
    """
    if document.status is not DocumentStatus.STORED:
        raise DocumentNotFound(document.storage_key)
    url = storage.download_url(
        document.storage_key,
        filename=document.filename,
        content_type=document.content_type,
        expires_in=DOWNLOAD_LINK_SECONDS,
    )
    found = url or storage.open(document.storage_key)
    audit.record(
        session,
        "document.downloaded",
        actor_id=actor_id,
        tenant_id=document.tenant_id,
        subject=document,
        ip_address=ip_address,
        case_id=document.case_id,
        filename=document.filename,
    )
    return found
