"""Reading uploaded CSV files: encodings, delimiters, whole-file checks, safe output."""

import codecs
import io
from decimal import Decimal

import pytest

from portal.services.csv_reading import (
    CsvFileError,
    CsvFormat,
    detect_delimiter,
    inspect,
    read_rows,
    write_rows,
)
from portal.services.spreadsheet import safe_cell, unquote_cell

TEXT = "Kunde;Betrag;Straße\nMüller GmbH;1.234,56;Hauptstraße 5\nCafé;12,00;Am Markt\n"


@pytest.mark.parametrize(
    ("content", "encoding"),
    [
        (codecs.BOM_UTF8 + TEXT.encode(), "utf-8-sig"),
        (TEXT.encode(), "utf-8"),
        (TEXT.encode("cp1252"), "cp1252"),
    ],
)
def test_encodings_are_detected_and_read(content: bytes, encoding: str) -> None:
    shape = inspect(io.BytesIO(content), max_rows=10)
    assert shape.format == CsvFormat(encoding, ";")
    assert shape.headers == ["Kunde", "Betrag", "Straße"]
    assert shape.rows == 2
    assert shape.preview[0] == ["Müller GmbH", "1.234,56", "Hauptstraße 5"]


def test_plain_ascii_is_read_as_utf8() -> None:
    shape = inspect(io.BytesIO(b"name,amount\r\nKeller,1\r\n"), max_rows=10)
    assert shape.format == CsvFormat("utf-8", ",")


def test_ascii_start_with_windows_1252_further_down_is_read_again() -> None:
    ascii_rows = "".join(f"R{n};Plain;1\n" for n in range(8000))  # well past the sample
    content = ("ref;name;amount\n" + ascii_rows + "R9;Müller;2\n").encode("cp1252")
    shape = inspect(io.BytesIO(content), max_rows=10_000)
    assert shape.format.encoding == "cp1252"
    rows = list(read_rows(io.BytesIO(content), shape.format))
    assert rows[-1] == (8002, ["R9", "Müller", "2"])


def test_utf8_broken_further_down_is_refused() -> None:
    """UTF-8 accents at the start and a Windows-1252 one later: a mixed file."""
    filler = b"".join(b"R%d;plain\n" % n for n in range(8000))
    content = "ref;name\nR0;Müller\n".encode() + filler + b"R9;M\xfcller\n"
    with pytest.raises(CsvFileError, match="not UTF-8 text"):
        inspect(io.BytesIO(content), max_rows=10_000)


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2,5;3\n", ";"),
        ('"Name, first";Amount\n"Keller, Jan";1,5\n', ";"),
        ("a\tb\n1\t2\n", "\t"),
        ('name,amount\n"Keller; Bau",1\n', ","),
    ],
)
def test_delimiter_is_the_one_that_splits_evenly(sample: str, delimiter: str) -> None:
    assert detect_delimiter(sample) == delimiter


def test_rows_carry_the_line_they_start_on() -> None:
    content = b'a,b\r\n\r\n1,"two\r\nlines"\r\n, \r\n3,4\r\n'
    rows = list(read_rows(io.BytesIO(content), CsvFormat("utf-8", ",")))
    assert rows == [(1, ["a", "b"]), (3, ["1", "two\r\nlines"]), (6, ["3", "4"])]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \n", "empty"),
        (b"a,b\n", "no rows below it"),
        (b"a,b\n , \n", "no rows below it"),
        (b"\x00\x01\x02binary", "not a text file"),
        (b"PK\x03\x04rest", "Excel workbook"),
        (b"%PDF-1.7\n\x00", "PDF"),
        (codecs.BOM_UTF16_LE + "a,b\n".encode("utf-16-le"), "UTF-16"),
        (bytes(range(128, 256)) * 40, "neither UTF-8 nor Windows-1252"),
        (b"only\n1\n", "only one column"),
        (b"a,A\n1,2\n", "both called"),
        (b"a,b\n" + b"1,2\n" * 4, "more than 3 rows"),
        (("a," * 250 + "b\n1,2\n").encode(), "more than 200 columns"),
    ],
)
def test_unusable_files_are_refused_with_a_reason(content: bytes, message: str) -> None:
    with pytest.raises(CsvFileError, match=message):
        inspect(io.BytesIO(content), max_rows=3)


def test_trailing_empty_headers_are_dropped() -> None:
    shape = inspect(io.BytesIO(b"a;b;;\n1;2;;\n"), max_rows=3)
    assert shape.headers == ["a", "b"]


def test_a_huge_cell_is_refused() -> None:
    content = b'a,b\n1,"' + b"x" * 200_000 + b'"\n'
    with pytest.raises(CsvFileError, match="Line 2 cannot be read"):
        inspect(io.BytesIO(content), max_rows=3)


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ("=1+1", "'=1+1"),
        ("+49 30 1234", "'+49 30 1234"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("Keller", "Keller"),
        ("", ""),
    ],
)
def test_cells_are_made_safe_for_spreadsheets_and_back(cell: str, safe: str) -> None:
    assert safe_cell(cell) == safe
    assert unquote_cell(safe) == cell


@pytest.mark.parametrize(
    ("value", "cell"), [(Decimal("-114.00"), "-114.00"), (-5, "-5"), (0, "0"), (True, "True")]
)
def test_numbers_stay_numbers_a_refund_is_not_a_formula(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_written_rows_are_csv_with_safe_cells() -> None:
    text = "".join(write_rows([["a", "b"], ["=cmd", "x;y"]], delimiter=";"))
    assert text == 'a;b\r\n\'=cmd;"x;y"\r\n'
