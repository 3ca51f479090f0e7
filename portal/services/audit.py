"""Writing the audit log."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from portal.models import AuditEntry


def record(
    session: Session,
    action: str,
    *,
    actor_id: int | None = None,
    tenant_id: int | None = None,
    subject: object | None = None,
    ip_address: str | None = None,
    **details: Any,
) -> AuditEntry:
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        tenant_id=tenant_id,
        object_type=type(subject).__name__ if subject is not None else None,
        object_id=str(getattr(subject, "id", "")) or None if subject is not None else None,
        ip_address=ip_address,
        details=details,
    )
    session.add(entry)
    return entry
