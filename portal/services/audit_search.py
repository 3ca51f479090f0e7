"""Searching the audit log: who did what, to which client, from where, and when.

The filter is read from query values; a bad value is reported in words and left out of
the search (it is a filter, not a form). Each page of results is one query, with the
actor and the client joined in, however many entries it shows.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, User
from tenants.models import Tenant

PAGE_SIZE = 50
MAX_TEXT = 100
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2999, 12, 31)
ACTION = re.compile(r"^[a-z_]+(\.[a-z_]*)?$")
OBJECT_TYPE = re.compile(r"^[A-Za-z_]+$")
CSV_HEADER = [
    "When (UTC)", "Actor", "Action", "Client", "Object type", "Object id", "IP address", "Details",
]  # fmt: skip


@dataclass(frozen=True)
class AuditFilter:
    actor: str = ""  # an e-mail address or part of one
    action: str = ""  # ``tenant.created``, or a prefix ending in a dot: ``tenant.``
    tenant_id: int | None = None
    day_from: date | None = None
    day_to: date | None = None
    ip_address: str = ""
    object_type: str = ""
    object_id: str = ""
    page: int = 1

    def query_values(self) -> dict[str, str]:
        """The filter as query values again (for links to other pages and the CSV)."""
        values = {
            "actor": self.actor,
            "action": self.action,
            "client": str(self.tenant_id or ""),
            "from": self.day_from.isoformat() if self.day_from else "",
            "to": self.day_to.isoformat() if self.day_to else "",
            "ip": self.ip_address,
            "object_type": self.object_type,
            "object_id": self.object_id,
        }
        return {name: value for name, value in values.items() if value}


@dataclass(frozen=True)
class AuditRow:
    entry: AuditEntry
    actor_email: str | None
    tenant_name: str | None


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    page: int
    has_next: bool


@dataclass
class _Reading:
    args: Mapping[str, str]
    problems: list[str] = field(default_factory=list)

    def text(self, name: str, label: str) -> str:
        value = (self.args.get(name) or "").strip()
        if len(value) > MAX_TEXT:
            self.problems.append(f"The {label} is at most {MAX_TEXT} characters; it is left out.")
            return ""
        if any(ord(char) < 32 for char in value):
            self.problems.append(f"The {label} holds control characters; it is left out.")
            return ""
        return value

    def matching(self, name: str, label: str, pattern: re.Pattern[str], example: str) -> str:
        value = self.text(name, label)
        if value and not pattern.match(value):
            self.problems.append(f"“{value[:40]}” is not {label} (such as {example}).")
            return ""
        return value

    def day(self, name: str, which: str) -> date | None:
        value = self.text(name, f"{which} date")
        if not value:
            return None
        try:
            day = date.fromisoformat(value)
        except ValueError:
            self.problems.append(f"“{value[:20]}” is not a date (YYYY-MM-DD); no {which} date.")
            return None
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            self.problems.append(f"The {which} date is out of range; no {which} date.")
            return None
        return day

    def ip_address(self) -> str:
        value = self.text("ip", "IP address")
        if not value:
            return ""
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            self.problems.append(f"“{value[:45]}” is not an IP address.")
            return ""

    def tenant_id(self, tenant_ids: set[int]) -> int | None:
        value = self.text("client", "client")
        if not value:
            return None
        if not value.isdigit() or int(value) not in tenant_ids:
            self.problems.append("There is no such client; entries of every client are shown.")
            return None
        return int(value)

    def page(self) -> int:
        value = self.text("page", "page")
        if value.isdigit() and 0 < int(value) < 1_000_000:
            return int(value)
        if value:
            self.problems.append(f"“{value[:20]}” is not a page number; the first page is shown.")
        return 1


def read_filter(args: Mapping[str, str], tenant_ids: set[int]) -> tuple[AuditFilter, list[str]]:
    """The filter from query values, and what was wrong with them in words."""
    reading = _Reading(args)
    day_from, day_to = reading.day("from", "first"), reading.day("to", "last")
    if day_from and day_to and day_from > day_to:
        reading.problems.append("The first date is after the last; no dates are applied.")
        day_from = day_to = None
    found = AuditFilter(
        actor=reading.text("actor", "actor"),
        action=reading.matching("action", "an action", ACTION, "tenant.created or tenant."),
        tenant_id=reading.tenant_id(tenant_ids),
        day_from=day_from,
        day_to=day_to,
        ip_address=reading.ip_address(),
        object_type=reading.matching("object_type", "an object type", OBJECT_TYPE, "Case"),
        object_id=reading.text("object_id", "object id"),
        page=reading.page(),
    )
    return found, reading.problems


def _start_of(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _statement(found: AuditFilter) -> Select[Any]:
    """Entries with their actor's e-mail and client's name (None: system, agency-wide)."""
    statement = (
        select(AuditEntry, User.email, Tenant.name)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .outerjoin(Tenant, Tenant.id == AuditEntry.tenant_id)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
    )
    if found.actor:
        statement = statement.where(
            func.lower(User.email).contains(found.actor.lower(), autoescape=True)
        )
    if found.action.endswith("."):
        statement = statement.where(AuditEntry.action.startswith(found.action, autoescape=True))
    elif found.action:
        statement = statement.where(AuditEntry.action == found.action)
    if found.tenant_id is not None:
        statement = statement.where(AuditEntry.tenant_id == found.tenant_id)
    if found.day_from:
        statement = statement.where(AuditEntry.at >= _start_of(found.day_from))
    if found.day_to:
        statement = statement.where(AuditEntry.at < _start_of(found.day_to + timedelta(days=1)))
    if found.ip_address:
        statement = statement.where(AuditEntry.ip_address == found.ip_address)
    if found.object_type:
        statement = statement.where(AuditEntry.object_type == found.object_type)
    if found.object_id:
        statement = statement.where(AuditEntry.object_id == found.object_id)
    return statement


def search(session: Session, found: AuditFilter) -> AuditPage:
    """One page of matching entries, newest first (one query)."""
    statement = _statement(found).limit(PAGE_SIZE + 1).offset((found.page - 1) * PAGE_SIZE)
    rows = [AuditRow(entry, email, name) for entry, email, name in session.execute(statement)]
    return AuditPage(rows[:PAGE_SIZE], found.page, has_next=len(rows) > PAGE_SIZE)


def csv_rows(session: Session, found: AuditFilter) -> Iterator[list[object]]:
    """Every matching entry (no pages), read in batches, as the CSV's rows."""
    result = session.execute(_statement(found).execution_options(yield_per=500))
    for entry, email, name in result:
        yield [
            entry.at.strftime("%Y-%m-%d %H:%M:%S"),
            email or "",
            entry.action,
            name or "",
            entry.object_type or "",
            entry.object_id or "",
            entry.ip_address or "",
            json.dumps(entry.details, ensure_ascii=False, sort_keys=True, default=str),
        ]


def clients(session: Session) -> list[Tenant]:
    """The clients to choose from in the filter."""
    return list(session.scalars(select(Tenant).order_by(Tenant.name)))
