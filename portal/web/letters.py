"""Letters a page sends the debtor, queued so the request does not wait for the PDF."""

from __future__ import annotations

from flask import current_app

from portal import jobs
from portal.db import utcnow


def confirm_settlement_by_letter(case_id: int) -> None:
    """Write to the debtor that the settlement stands (after the request has committed)."""
    queue = current_app.extensions["portal.jobs"]
    queue.enqueue(jobs.file_letter, case_id, "settlement_confirmation", utcnow().date().isoformat())
