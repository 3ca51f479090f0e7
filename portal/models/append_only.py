"""Records that are written once and never changed: the timeline, the ledger, the audit log.

Corrections are new rows (a reversal, an adjustment), so history stays what a creditor
or a court was shown.

One exception, narrow on purpose: once a debtor's retention period has passed, their
personal data is erased, and the timeline's free text (notes, call outcomes, e-mail and
letter texts) and the ledger's descriptions (a dispute upheld, a legal cost) can hold
it. Inside ``erasing_personal_data(session)`` the columns named in ``ERASABLE_COLUMNS``
may be overwritten; every other column still refuses a change, and no row may be
deleted.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event, inspect
from sqlalchemy.orm import Session

ERASING = "append_only.erasing_personal_data"
# Per table, the columns that may hold personal data in free text (the ``details`` of a
# timeline entry may name an e-mail recipient).
ERASABLE_COLUMNS: dict[str, frozenset[str]] = {
    "activities": frozenset({"summary", "outcome", "body", "details"}),
    "ledger_entries": frozenset({"description"}),
}


class AppendOnlyError(RuntimeError):
    """An append-only record was changed or deleted."""


class AppendOnly:
    """Mixin: rows of this model may be inserted, never updated or deleted."""


@contextmanager
def erasing_personal_data(session: Session) -> Iterator[None]:
    """Allow overwriting the erasable columns of append-only rows while the block runs
    (flush inside it); nothing else about append-only rows changes."""
    session.info[ERASING] = True
    try:
        yield
    finally:
        session.info.pop(ERASING, None)


def _only_erasable_changed(obj: Any) -> bool:
    erasable = ERASABLE_COLUMNS.get(getattr(obj, "__tablename__", ""), frozenset())
    state = inspect(obj)
    changed = {attr.key for attr in state.attrs if attr.history.has_changes()}
    return changed <= erasable


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, AppendOnly):
            raise AppendOnlyError(f"{type(obj).__name__} rows are never deleted")
    erasing = bool(session.info.get(ERASING))
    for obj in session.dirty:
        if not isinstance(obj, AppendOnly) or not session.is_modified(
            obj, include_collections=False
        ):
            continue
        if erasing and _only_erasable_changed(obj):
            continue
        raise AppendOnlyError(f"{type(obj).__name__} rows are never changed")
