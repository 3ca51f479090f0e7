"""What the document rules accept and refuse, judged by content, without a database."""

from __future__ import annotations

import hashlib
import io

import pytest

from portal.adapters.storage import CHUNK_BYTES
from portal.models import DocumentKind
from portal.services import documents
from portal.services.documents import DocumentRefused, checked_upload, detect_content_type
from tests import document_samples as samples


def detect(data: bytes, name: str = "upload") -> str:
    return detect_content_type(io.BytesIO(data), name)


@pytest.mark.parametrize(
    ("data", "name", "expected"),
    [
        (samples.pdf(), "invoice.pdf", documents.PDF),
        (samples.png(), "scan.png", documents.PNG),
        (samples.jpeg(), "photo.jpg", documents.JPEG),
        (samples.tiff(), "fax.tif", documents.TIFF),
        (samples.docx(), "contract.docx", documents.DOCX),
        (samples.xlsx(), "statement.xlsx", documents.XLSX),
        (samples.csv_text(), "invoices.csv", documents.CSV),
        (b"Called the debtor, no answer.\n", "note.txt", documents.TXT),
        ("Straße 1\r\nMünchen\n".encode("cp1252"), "address.txt", documents.TXT),
        ("\ufeffBOM first\n".encode(), "bom.txt", documents.TXT),
        (samples.eml(), "reply.eml", documents.EML),
    ],
)
def test_allowed_types_are_recognised_by_content(data: bytes, name: str, expected: str) -> None:
    assert detect(data, name) == expected


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (samples.pdf(), "invoice.exe"),
        (samples.docx(), "contract.bin"),
        (samples.png(), "scan"),
        (samples.eml(), "mail.txt"),
    ],
)
def test_the_name_does_not_decide_the_type(data: bytes, name: str) -> None:
    assert detect(data, name) == detect(data, "x")


@pytest.mark.parametrize(
    ("data", "name", "looks_like"),
    [
        (samples.windows_exe(), "invoice.pdf", "a Windows program"),
        (samples.elf(), "invoice.pdf", "a program"),
        (samples.plain_zip(), "invoice.pdf", "a ZIP archive"),
        (samples.docm(), "contract.docx", "a ZIP archive"),
        (b"#!/bin/sh\nrm -rf /\n", "notes.txt", "a script"),
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00", "logo.png", "a GIF image"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 64, "old.doc", "an old Office file"),
        (b"<!DOCTYPE html><script>alert(1)</script>", "page.txt", None),
        (b"  <svg onload='alert(1)'/>", "image.txt", None),
        ("UTF-16 text".encode("utf-16"), "wide.txt", None),
        (b"text with a \x00 NUL byte", "nul.txt", None),
        (b"\x01\x02\x03 binary", "data.csv", None),
        (bytes(range(256)) * 4, "random.bin", None),
    ],
)
def test_other_types_are_refused_saying_what_they_look_like(
    data: bytes, name: str, looks_like: str | None
) -> None:
    with pytest.raises(DocumentRefused) as refused:
        detect(data, name)
    message = str(refused.value)
    assert name in message and "PDF, PNG, JPEG, TIFF, DOCX, XLSX, CSV, TXT or EML" in message
    if looks_like:
        assert looks_like in message


def test_a_text_file_mixing_encodings_is_still_text_if_it_decodes() -> None:
    """Valid UTF-8 split across chunk boundaries stays UTF-8."""
    data = ("ä" * (CHUNK_BYTES // 2 + 3)).encode()
    assert detect(data, "long.txt") == documents.TXT


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size: int | None = -1) -> bytes:
        chunk = super().read(size)
        self.bytes_read += len(chunk)
        return chunk


def test_the_size_limit_holds_while_reading() -> None:
    """Past the limit reading stops: a huge upload is not read to its end."""
    limit = 2 * CHUNK_BYTES
    stream = CountingStream(samples.pdf(padding=10 * CHUNK_BYTES))
    with (
        pytest.raises(DocumentRefused, match="larger than the 2 MB limit"),
        checked_upload(stream, "big.pdf", limit),
    ):
        pass
    assert stream.bytes_read <= limit + CHUNK_BYTES


def test_exactly_the_limit_is_accepted_and_one_byte_more_is_not() -> None:
    data = samples.pdf(padding=1000)
    with checked_upload(io.BytesIO(data), "ok.pdf", len(data)) as checked:
        assert checked.size == len(data)
        assert checked.file.read() == data
    with (
        pytest.raises(DocumentRefused, match="larger than"),
        checked_upload(io.BytesIO(data + b"\n"), "big.pdf", len(data)),
    ):
        pass


def test_checked_upload_hashes_and_spools() -> None:
    data = samples.docx()
    with checked_upload(io.BytesIO(data), "c.docx", 10_000_000) as checked:
        assert checked.sha256 == hashlib.sha256(data).hexdigest()
        assert checked.content_type == documents.DOCX
        assert not isinstance(checked.file, io.BytesIO)  # a temporary file, not memory


def test_an_empty_file_is_refused() -> None:
    with (
        pytest.raises(DocumentRefused, match="empty"),
        checked_upload(io.BytesIO(b""), "empty.pdf", 1000),
    ):
        pass


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\me\\Rechnung März.pdf", "Rechnung März.pdf"),
        ("invoice\u202efdp.exe", "invoicefdp.exe"),
        ("bad\r\nname\x00.pdf", "badname.pdf"),
        ("  spaced.pdf  ", "spaced.pdf"),
        ("..", "document"),
        ("/", "document"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_display_names_lose_folders_and_control_characters(raw: str, expected: str) -> None:
    assert documents.display_name(raw) == expected


def test_kinds_are_checked() -> None:
    assert documents.parse_kind("invoice") is DocumentKind.INVOICE
    for bad in ("", None, "INVOICE", "receipt", "invoice "):
        with pytest.raises(DocumentRefused, match="kind of document"):
            documents.parse_kind(bad)


@pytest.mark.parametrize(
    ("size", "text"),
    [
        (0, "0 bytes"),
        (1, "1 byte"),
        (1023, "1023 bytes"),
        (1024, "1 KB"),
        (1536, "1.5 KB"),
        (25 * 1024 * 1024, "25 MB"),
        (250 * 1024 * 1024, "250 MB"),
        (3 * 1024**3, "3 GB"),
    ],
)
def test_human_sizes(size: int, text: str) -> None:
    assert documents.human_size(size) == text
