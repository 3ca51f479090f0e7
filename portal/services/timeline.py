"""Writing the case timeline."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Activity, ActivityKind, Case


def log_activity(
    session: Session,
    case: Case,
    kind: ActivityKind,
    summary: str,
    *,
    actor_id: int | None = None,
    outcome: str | None = None,
    body: str | None = None,
    visible_to_creditor: bool = True,
    occurred_at: datetime | None = None,
    **details: Any,
) -> Activity:
    activity = Activity(
        occurred_at=occurred_at or utcnow(),
        tenant_id=case.tenant_id,
        case_id=case.id,
        kind=kind,
        summary=summary,
        actor_id=actor_id,
        outcome=outcome,
        body=body,
        visible_to_creditor=visible_to_creditor,
        details=details,
    )
    session.add(activity)
    return activity
