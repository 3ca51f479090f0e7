"""Records that are written once and never changed: the timeline, the ledger, the audit log.

Corrections are new rows (a reversal, an adjustment), so history stays what a creditor
or a court was shown.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session


class AppendOnlyError(RuntimeError):
    """An append-only record was changed or deleted."""


class AppendOnly:
    """Mixin: rows of this model may be inserted, never updated or deleted."""


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, _context: Any, _instances: Any) -> None:
    for obj in session.deleted:
        if isinstance(obj, AppendOnly):
            raise AppendOnlyError(f"{type(obj).__name__} rows are never deleted")
    for obj in session.dirty:
        if isinstance(obj, AppendOnly) and session.is_modified(obj, include_collections=False):
            raise AppendOnlyError(f"{type(obj).__name__} rows are never changed")
