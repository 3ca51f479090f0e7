"""Calendar months in report queries.

Which month a day falls in is found in SQL by a CASE over the months' first days, worked
out in Python and bound as parameters: no SQL date function, so SQLite and PostgreSQL
group alike, and an index on the date column still serves the range.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import ColumnElement
from sqlalchemy import case as sql_case


def month_index(column: Any, starts: Sequence[date]) -> ColumnElement[int]:
    """SQL: the position in ``starts`` (first days, oldest first) of the month ``column``
    falls in; 0 for a day before the first (callers bound the range themselves)."""
    return sql_case(
        *[(column >= start, index) for index, start in reversed(list(enumerate(starts)))],
        else_=0,
    )
