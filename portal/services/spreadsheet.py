"""CSV files people open in spreadsheets: written so that no cell runs as a formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> str:
    """A cell that a spreadsheet shows as text: formula-like text gets a leading quote.
    Numbers stay numbers (a refund's ``-114.00`` is not a formula)."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unquote_cell(value: str) -> str:
    """Undo ``safe_cell`` on a file that comes back: ``'=1`` is ``=1`` again."""
    if value.startswith("'") and value[1:].startswith(FORMULA_STARTS):
        return value[1:]
    return value


def csv_lines(header: list[str], rows: Iterable[Iterable[object]]) -> Iterator[str]:
    """The CSV text line by line (UTF-8 with a BOM first, so spreadsheets read accents)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    yield "\ufeff" + buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([safe_cell(value) for value in row])
        yield buffer.getvalue()
