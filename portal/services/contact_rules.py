"""Contact guardrails: whether the agency may call, e-mail or write to a debtor now.

One place decides, for the collector's forms and for the dunning run alike:

- ``cease_contact`` on the debtor refuses every channel;
- the per-channel opt-outs (``no_calls``, ``no_emails``, ``no_letters``) refuse theirs;
- calls are capped per case: at most ``tenant.contact_max_calls`` call attempts (every
  logged call, whatever its outcome) in the last ``tenant.contact_window_days`` days;
- calls and e-mails only reach the debtor between ``tenant.contact_hours_start`` and
  ``tenant.contact_hours_end`` o'clock in the debtor's time zone. Letters have no hours:
  the post delivers them in the day.

``now`` is always passed in (an aware datetime), so callers and tests decide the clock.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import Activity, ActivityKind, Case, Stage
from portal.services import audit
from portal.services.timeline import log_activity

FALLBACK_TIMEZONE = "Europe/Berlin"  # the Debtor model's default


class Channel(enum.StrEnum):
    CALL = "call"
    EMAIL = "email"
    LETTER = "letter"

    @property
    def label(self) -> str:
        return {"call": "calls", "email": "e-mails", "letter": "letters"}[self.value]


class ContactRefused(ValueError):
    """Contact on this channel breaks a guardrail now; the message says which."""


def debtor_zone(case: Case) -> ZoneInfo:
    """The debtor's time zone; an unknown name falls back to the model's default."""
    try:
        return ZoneInfo(case.debtor.timezone or FALLBACK_TIMEZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(FALLBACK_TIMEZONE)


def calls_in_window(session: Session, case: Case, now: datetime) -> int:
    """Call attempts logged on the case in the tenant's rolling window up to ``now``."""
    since = now - timedelta(days=case.tenant.contact_window_days)
    statement = select(func.count(Activity.id)).where(
        Activity.case_id == case.id,
        Activity.kind == ActivityKind.CALL,
        Activity.occurred_at > since,
        Activity.occurred_at <= now,
    )
    return int(session.scalar(statement) or 0)


def check_contact(session: Session, case: Case, channel: Channel, now: datetime) -> str | None:
    """Why contacting the debtor on ``channel`` at ``now`` is refused, or None when allowed."""
    return _standing_refusal(case, channel) or _timing_refusal(session, case, channel, now)


def _standing_refusal(case: Case, channel: Channel) -> str | None:
    """What refuses the channel whatever the time: closure, cease-contact, opt-outs."""
    debtor = case.debtor
    if case.stage is Stage.CLOSED:
        return "The case is closed: no more contact with the debtor."
    if debtor.cease_contact:
        return "The debtor asked us to stop all contact."
    opted_out = {
        Channel.CALL: debtor.no_calls,
        Channel.EMAIL: debtor.no_emails,
        Channel.LETTER: debtor.no_letters,
    }[channel]
    if opted_out:
        return f"The debtor opted out of {channel.label}."
    if channel is Channel.EMAIL and not debtor.email:
        return "We have no e-mail address for the debtor."
    return None


def _timing_refusal(session: Session, case: Case, channel: Channel, now: datetime) -> str | None:
    """Quiet hours (calls, e-mails) and the cap on call attempts."""
    tenant = case.tenant
    if channel in (Channel.CALL, Channel.EMAIL):
        local = now.astimezone(debtor_zone(case))
        start, end = tenant.contact_hours_start, tenant.contact_hours_end
        if not start <= local.hour < end:
            return (
                f"It is {local:%H:%M} for the debtor ({local.tzname()}): "
                f"{channel.label} only between {start:02d}:00 and {end:02d}:00."
            )
    if channel is Channel.CALL:
        made = calls_in_window(session, case, now)
        if made >= tenant.contact_max_calls:
            return (
                f"{made} call attempts in the last {tenant.contact_window_days} days: "
                f"the limit is {tenant.contact_max_calls}."
            )
    return None


def require_contact(session: Session, case: Case, channel: Channel, now: datetime) -> None:
    """Raise ``ContactRefused`` when ``check_contact`` refuses."""
    reason = check_contact(session, case, channel, now)
    if reason is not None:
        raise ContactRefused(reason)


def refusals(session: Session, case: Case, now: datetime) -> dict[str, str | None]:
    """``check_contact`` for every channel, keyed by channel value (for pages)."""
    return {channel.value: check_contact(session, case, channel, now) for channel in Channel}


PREFERENCES = ("no_calls", "no_emails", "no_letters", "cease_contact")


def set_preferences(
    session: Session, case: Case, *, actor_id: int | None, **wanted: bool
) -> dict[str, bool]:
    """Set the debtor's opt-outs and cease-contact flag; returns and audits what changed."""
    unknown = set(wanted) - set(PREFERENCES)
    if unknown:
        raise ValueError(f"not contact preferences: {sorted(unknown)}")
    debtor = case.debtor
    changed = {
        name: bool(value) for name, value in wanted.items() if getattr(debtor, name) != bool(value)
    }
    for name, value in changed.items():
        setattr(debtor, name, value)
    if changed:
        audit.record(
            session,
            "debtor.contact_preferences_changed",
            actor_id=actor_id,
            tenant_id=case.tenant_id,
            subject=debtor,
            case_id=case.id,
            changes=changed,
        )
        said = ", ".join(
            f"{name.replace('_', ' ')} {'on' if on else 'off'}" for name, on in changed.items()
        )
        log_activity(session, case, ActivityKind.NOTE, f"Contact preferences: {said}",
                     actor_id=actor_id, visible_to_creditor=False)  # fmt: skip
    return changed
