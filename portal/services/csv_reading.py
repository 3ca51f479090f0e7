"""Reading the CSV files creditors upload, as a stream: encoding, delimiter, header, rows.

Accounting systems export UTF-8 (with or without a byte order mark) or Windows-1252,
separated by commas or semicolons. The encoding is found by charset-normalizer on the
first bytes, the delimiter by which candidate splits the first lines most evenly; rows
are then read one at a time by the ``csv`` module over a decoding text stream, so a
file of any length costs the same memory.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import BinaryIO

from charset_normalizer import from_bytes

from portal.services.spreadsheet import safe_cell

SAMPLE_BYTES = 64 * 1024
DELIMITERS = (";", ",", "\t")
MAX_COLUMNS = 200
PREVIEW_ROWS = 5
ENCODING_LABELS = {"utf-8-sig": "UTF-8", "utf-8": "UTF-8", "cp1252": "Windows-1252"}


class CsvFileError(ValueError):
    """The file cannot be read as CSV; the message tells the uploader why."""


@dataclass(frozen=True)
class CsvFormat:
    encoding: str  # "utf-8-sig", "utf-8" or "cp1252"
    delimiter: str

    @property
    def decimal_separator(self) -> str:
        """Semicolon-separated files come from locales that write decimals with a comma."""
        return "," if self.delimiter == ";" else "."

    @property
    def encoding_label(self) -> str:
        return ENCODING_LABELS.get(self.encoding, self.encoding)


@dataclass(frozen=True)
class FileShape:
    """What a first pass over the file found: its format, header and size."""

    format: CsvFormat
    headers: list[str]
    rows: int  # data rows below the header, blank lines not counted
    preview: list[list[str]]  # the first few data rows


def _refuse_binary(head: bytes) -> None:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CsvFileError(
            'The file is saved as UTF-16 text. Save it as "CSV UTF-8" and upload it again.'
        )
    if head.startswith(b"PK\x03\x04"):
        raise CsvFileError(
            "This is an Excel workbook or another zip file, not CSV. "
            'Open it and save it as "CSV UTF-8", then upload that file.'
        )
    if head.startswith(b"%PDF"):
        raise CsvFileError("This is a PDF document, not a CSV file.")
    if b"\x00" in head:
        raise CsvFileError(
            "This is not a text file. Upload the CSV export of your accounting system."
        )


def detect_encoding(head: bytes) -> str:
    """``utf-8-sig``, ``utf-8`` or ``cp1252`` for the first bytes of a file; else refuse."""
    _refuse_binary(head)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    best = from_bytes(head, cp_isolation=["utf_8", "cp1252"]).best()
    if best is None:
        raise CsvFileError(
            "The file is neither UTF-8 nor Windows-1252 text. "
            "Upload the CSV export of your accounting system."
        )
    return "utf-8" if best.encoding in {"utf_8", "ascii"} else "cp1252"


def _sample_text(head: bytes, encoding: str) -> str:
    """The first bytes as text, leaving out a character or line cut off at the end."""
    text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    if len(head) == SAMPLE_BYTES and "\n" in text:
        text = text[: text.rindex("\n") + 1]
    return text


def detect_delimiter(sample: str) -> str:
    """The delimiter that splits the header widest and the next lines most evenly."""
    lines = sample.splitlines()[:20]

    def score(delimiter: str) -> tuple[bool, int, int]:
        rows = [row for row in csv.reader(lines, delimiter=delimiter) if row]
        if not rows:
            return (False, 0, 0)
        width = len(rows[0])
        even = sum(1 for row in rows[1:] if len(row) == width)
        return (width > 1, even, width)

    return max(DELIMITERS, key=score)


def sniff(head: bytes) -> CsvFormat:
    """Encoding and delimiter from the first ``SAMPLE_BYTES`` of a file."""
    if not head.strip():
        raise CsvFileError("The file is empty.")
    encoding = detect_encoding(head)
    return CsvFormat(encoding, detect_delimiter(_sample_text(head, encoding)))


def read_rows(stream: BinaryIO, fmt: CsvFormat) -> Generator[tuple[int, list[str]], None, None]:
    """Each non-blank row with the line it starts on, the header row first.

    Reads ``stream`` through a decoding text wrapper, one row at a time; the stream is
    left open. Raises ``CsvFileError`` for text that is not in ``fmt.encoding`` or a
    cell too long for the ``csv`` module.
    """
    text = io.TextIOWrapper(stream, encoding=fmt.encoding, newline="")
    reader = csv.reader(text, delimiter=fmt.delimiter)
    line = 1
    try:
        for cells in reader:
            if any(cell.strip() for cell in cells):
                yield line, cells
            line = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise CsvFileError(
            f"Near line {line} the file is not {fmt.encoding_label} text. Save it as "
            '"CSV UTF-8" and upload it again.'
        ) from error
    except csv.Error as error:
        raise CsvFileError(f"Line {line} cannot be read as CSV: {error}.") from error
    finally:
        if not stream.closed:
            text.detach()  # leave the caller's stream open


def clean_headers(cells: list[str]) -> list[str]:
    """The header row, trimmed; refuses duplicates and files of one column."""
    headers = [cell.strip().lstrip("\ufeff").strip() for cell in cells]
    while headers and not headers[-1]:
        headers.pop()  # a trailing delimiter leaves empty columns at the end
    if len(headers) < 2:
        raise CsvFileError(
            "The first line has only one column. Columns must be separated by commas or "
            "semicolons, and the first line must name them."
        )
    if len(headers) > MAX_COLUMNS:
        raise CsvFileError(f"The file has more than {MAX_COLUMNS} columns.")
    seen: set[str] = set()
    for header in headers:
        if header and header.lower() in seen:
            raise CsvFileError(
                f"Two columns are both called {header!r}. Rename one and upload the file again."
            )
        seen.add(header.lower())
    return headers


def inspect(stream: BinaryIO, *, max_rows: int) -> FileShape:
    """Read the whole file once: its format, header, row count and first rows.

    Everything that makes the file unusable as a whole is found here, before it is
    stored: not text, no header, no rows, too many rows, broken encoding further down.
    A file whose first bytes are plain ASCII but that turns out not to be UTF-8 further
    down is read again as Windows-1252.
    """
    head = stream.read(SAMPLE_BYTES)
    fmt = sniff(head)
    stream.seek(0)
    try:
        return _count(stream, fmt, max_rows)
    except CsvFileError as error:
        ascii_start = fmt.encoding == "utf-8" and head.isascii()
        if not (ascii_start and isinstance(error.__cause__, UnicodeDecodeError)):
            raise
    stream.seek(0)
    return _count(stream, replace(fmt, encoding="cp1252"), max_rows)


def _count(stream: BinaryIO, fmt: CsvFormat, max_rows: int) -> FileShape:
    rows = read_rows(stream, fmt)
    first = next(rows, None)
    if first is None:
        raise CsvFileError("The file is empty.")
    headers = clean_headers(first[1])
    preview: list[list[str]] = []
    count = 0
    for _line, cells in rows:
        count += 1
        if count > max_rows:
            raise CsvFileError(
                f"The file has more than {max_rows:,} rows. Split it into smaller files."
            )
        if len(preview) < PREVIEW_ROWS:
            preview.append([cell[:200] for cell in cells[: len(headers)]])
    if count == 0:
        raise CsvFileError("The file has a header line but no rows below it.")
    return FileShape(fmt, headers, count, preview)


def write_rows(rows: Iterable[list[str]], delimiter: str = ",") -> Iterator[str]:
    """CSV text, one line at a time, every cell made safe to open in a spreadsheet."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    for row in rows:
        writer.writerow([safe_cell(cell) for cell in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
