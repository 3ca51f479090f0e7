"""Background jobs: each opens its own transaction (the services they call only flush)."""

from __future__ import annotations

from datetime import date

from portal import db
from portal.models import Case
from portal.services import letters
from tenants.scoping import unscoped


def file_letter(case_id: int, key: str, day: str) -> None:
    """Render a dunning letter to PDF and keep it on its case (once, however often run)."""
    # A job of the agency's own, for whichever tenant the case belongs to.
    with unscoped(db.session):
        case = db.session.get(Case, case_id)
        if case is not None:
            letters.file_letter(db.session, case, key, date.fromisoformat(day))
        db.session.commit()
