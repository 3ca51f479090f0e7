"""Small files of each type the portal accepts or refuses, made in memory for tests."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib

OFFICE_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
DOCX_MAIN = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
XLSX_MAIN = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
DOCM_MAIN = "application/vnd.ms-word.document.macroEnabled.main+xml"


def pdf(padding: int = 0) -> bytes:
    body = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n" + b"%" * padding
    return body + b"\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def jpeg() -> bytes:
    return b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"


def tiff() -> bytes:
    return b"II*\x00\x08\x00\x00\x00" + b"\x00" * 16


def _zip(parts: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in parts.items():
            archive.writestr(name, data)
    return out.getvalue()


def _content_types(main_part: str, main_type: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="{OFFICE_TYPES}">'
        f'<Override PartName="/{main_part}" ContentType="{main_type}"/></Types>'
    ).encode()


def docx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _content_types("word/document.xml", DOCX_MAIN),
            "_rels/.rels": b"<Relationships/>",
            "word/document.xml": b"<w:document/>",
        }
    )


def xlsx() -> bytes:
    return _zip(
        {
            "[Content_Types].xml": _content_types("xl/workbook.xml", XLSX_MAIN),
            "_rels/.rels": b"<Relationships/>",
            "xl/workbook.xml": b"<workbook/>",
        }
    )


def docm() -> bytes:
    """A Word file with macros, which the portal refuses."""
    return _zip(
        {
            "[Content_Types].xml": _content_types("word/document.xml", DOCM_MAIN),
            "word/document.xml": b"<w:document/>",
            "word/vbaProject.bin": b"\xd0\xcf\x11\xe0macros",
        }
    )


def plain_zip() -> bytes:
    return _zip({"invoice.pdf": pdf(), "readme.txt": b"hello"})


def csv_text() -> bytes:
    return "invoice,amount\nINV-1,125.00\nINV-2,€ 9,50\n".encode()


def eml() -> bytes:
    return (
        b"From: Accounts <accounts@debtor.example>\r\n"
        b"To: collections@agency.example\r\n"
        b"Subject: Re: invoice INV-1\r\n"
        b"Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n"
        b"Message-ID: <1@debtor.example>\r\n"
        b"\r\n"
        b"We will pay next week.\r\n"
    )


def windows_exe() -> bytes:
    return (
        b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
    )


def elf() -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 56
