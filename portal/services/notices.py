"""Notices: what the portal tells each person, listed in the portal and sent by e-mail.

Every notice is listed in the portal (the bell in the header counts the unread ones).
Each person chooses, per kind of event, how they also hear of it (``Delivery``): an
e-mail at once, the daily digest, or no e-mail. A kind they never chose uses
``DEFAULT_DELIVERY``.

The mailer: ``notify`` sends the e-mails wanted at once with the mailer it is given or,
for code that has none at hand (the stage machine, booking a payment, the import jobs),
the portal's own, set once per process with ``configure`` when the app is built. In a
process where none was configured, a notice its recipient wants at once goes out with
their next daily digest instead, and is recorded so (``Delivery.DIGEST``): nothing is
lost and nothing is sent twice.

The daily digest (``send_daily_digests``) is idempotent per person and day: the
``NotificationDigest`` row is inserted before the e-mail is sent, and its unique
(user_id, day) decides between two runs racing each other.

Pages are named here by their paths (``creditor_case_path`` ...): a notice keeps a path
inside the portal, and its e-mail the full address under the portal's public URL.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, CursorResult, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, Mailer
from portal.db import utcnow
from portal.models import (
    CREDITOR_ROLES,
    Case,
    Delivery,
    Notification,
    NotificationDigest,
    NotificationKind,
    NotificationPreference,
    Role,
    User,
)
from portal.services import audit, letters

KIND_LABELS = {
    NotificationKind.MESSAGE: "A new message on a case",
    NotificationKind.DECISION_WAITING: "A decision waits for you: legal action, a settlement, "
    "evidence or information asked for",
    NotificationKind.PAYMENT_RECEIVED: "A payment received",
    NotificationKind.CASE_CLOSED: "A case closed",
    NotificationKind.DISPUTE_RAISED: "A dispute raised",
    NotificationKind.IMPORT_FINISHED: "A CSV import checked, placed or failed",
}
DELIVERY_LABELS = {
    Delivery.IMMEDIATE: "E-mail at once",
    Delivery.DIGEST: "Daily digest",
    Delivery.NONE: "No e-mail",
}
# What needs someone's answer comes at once; what is good to know, once a day.
DEFAULT_DELIVERY = {
    NotificationKind.MESSAGE: Delivery.DIGEST,
    NotificationKind.DECISION_WAITING: Delivery.IMMEDIATE,
    NotificationKind.PAYMENT_RECEIVED: Delivery.DIGEST,
    NotificationKind.CASE_CLOSED: Delivery.DIGEST,
    NotificationKind.DISPUTE_RAISED: Delivery.IMMEDIATE,
    NotificationKind.IMPORT_FINISHED: Delivery.DIGEST,
}
MAX_TITLE = 300
NOTICES_PATH = "/account/notifications"
PREFERENCES_PATH = "/account/preferences"


class NoticeNotFound(LookupError):
    """No such notice for this person (another person's notice is not found either)."""


def creditor_case_path(case_id: int) -> str:
    return f"/creditor/cases/{case_id}"


def agency_case_path(case_id: int) -> str:
    return f"/agency/cases/{case_id}"


def import_path(batch_id: int) -> str:
    return f"/creditor/imports/{batch_id}"


def portal_url(path: str) -> str:
    """The full address of a page, for e-mails (the path alone where none is configured)."""
    configured = letters.configured()
    return f"{configured.public_base_url.rstrip('/')}{path}" if configured else path


# --- who is told -------------------------------------------------------------------------


def recipients_for_tenant(
    session: Session,
    tenant_id: int,
    roles: Collection[Role] = CREDITOR_ROLES,
    *,
    except_id: int | None = None,
) -> list[User]:
    """The creditor's active users with one of ``roles`` (not the one who acted, if given)."""
    statement = select(User).where(
        User.tenant_id == tenant_id, User.role.in_(roles), User.active.is_(True)
    )
    if except_id is not None:
        statement = statement.where(User.id != except_id)
    return list(session.scalars(statement.order_by(User.id)))


def case_staff(session: Session, case: Case) -> list[User]:
    """The case's collector, or, when it has none (or they have left), every agency admin."""
    collector = case.assigned_collector
    if collector is not None and collector.active:
        return [collector]
    statement = (
        select(User).where(User.role == Role.AGENCY_ADMIN, User.active.is_(True)).order_by(User.id)
    )
    return list(session.scalars(statement))


# --- preferences -------------------------------------------------------------------------


def _chosen(session: Session, user: User) -> dict[NotificationKind, NotificationPreference]:
    rows = session.scalars(
        select(NotificationPreference).where(NotificationPreference.user_id == user.id)
    )
    return {row.kind: row for row in rows}


def _with_defaults(
    chosen: Mapping[NotificationKind, NotificationPreference],
) -> dict[NotificationKind, Delivery]:
    return {
        kind: chosen[kind].delivery if kind in chosen else default
        for kind, default in DEFAULT_DELIVERY.items()
    }


def preferences(session: Session, user: User) -> dict[NotificationKind, Delivery]:
    """How ``user`` hears of each kind of event: their choice, else the default."""
    return _with_defaults(_chosen(session, user))


def set_preferences(
    session: Session, user: User, choices: Mapping[NotificationKind, Delivery]
) -> dict[NotificationKind, Delivery]:
    """Keep the person's choices (audited when anything changed); returns what changed."""
    rows = _chosen(session, user)
    before = _with_defaults(rows)
    changed = {kind: delivery for kind, delivery in choices.items() if before[kind] != delivery}
    for kind, delivery in changed.items():
        if kind in rows:
            rows[kind].delivery = delivery
        else:
            session.add(NotificationPreference(user_id=user.id, kind=kind, delivery=delivery))
    if changed:
        audit.record(
            session, "user.notification_preferences_changed", actor_id=user.id,
            tenant_id=user.tenant_id, subject=user,
            changes={kind.value: {"from": before[kind].value, "to": delivery.value}
                     for kind, delivery in changed.items()},
        )  # fmt: skip
    session.flush()
    return changed


# --- telling people ----------------------------------------------------------------------


_portal_mailer: Mailer | None = None


def configure(mailer: Mailer | None) -> None:
    """The mailer for notices raised where no mailer is at hand (None: the digest)."""
    global _portal_mailer  # noqa: PLW0603 - one per process, like the letters' settings
    _portal_mailer = mailer


def notify(
    session: Session,
    mailer: Mailer | None,
    *,
    kind: NotificationKind,
    recipients: Iterable[User],
    title: str,
    body: str,
    link: str | None,
    tenant_id: int | None,
    case_id: int | None,
) -> list[Notification]:
    """One notice per active recipient who may see ``tenant_id``, each delivered as they
    chose; the e-mails wanted at once go out now when there is a mailer (see the module)."""
    people = _reachable(recipients, tenant_id)
    if not people:
        return []
    mailer = mailer or _portal_mailer
    wanted = _deliveries(session, people, kind)
    notices = [
        Notification(
            user_id=person.id, tenant_id=tenant_id, case_id=case_id, kind=kind,
            title=title[:MAX_TITLE], body=body, link=link,
            delivery=Delivery.DIGEST
            if mailer is None and wanted[person.id] is Delivery.IMMEDIATE
            else wanted[person.id],
        )
        for person in people
    ]  # fmt: skip
    session.add_all(notices)
    session.flush()
    if mailer is not None:
        for person, notice in zip(people, notices, strict=True):
            if notice.delivery is Delivery.IMMEDIATE:
                mailer.send(session, _immediate_mail(person, notice))
    return notices


def _reachable(recipients: Iterable[User], tenant_id: int | None) -> list[User]:
    """Each active person once, and only those whose tenants include the one concerned:
    a notice never reaches another creditor's people."""
    found: dict[int, User] = {}
    for person in recipients:
        if person.active and (tenant_id is None or person.tenant_scope().allows(tenant_id)):
            found.setdefault(person.id, person)
    return list(found.values())


def _deliveries(
    session: Session, people: list[User], kind: NotificationKind
) -> dict[int, Delivery]:
    statement = select(NotificationPreference.user_id, NotificationPreference.delivery).where(
        NotificationPreference.kind == kind,
        NotificationPreference.user_id.in_([person.id for person in people]),
    )
    chosen: dict[int, Delivery] = {row.user_id: row.delivery for row in session.execute(statement)}
    return {person.id: chosen.get(person.id, DEFAULT_DELIVERY[kind]) for person in people}


def _immediate_mail(person: User, notice: Notification) -> Mail:
    parts = [
        f"Dear {person.name},",
        notice.body,
        portal_url(notice.link) if notice.link else "",
        "You receive this e-mail at once because of your notification settings: "
        + portal_url(PREFERENCES_PATH),
    ]
    return Mail(
        recipient=person.email,
        subject=notice.title,
        body_text="\n\n".join(part for part in parts if part) + "\n",
        tenant_id=notice.tenant_id,
    )


# --- the list in the portal --------------------------------------------------------------


def unread_count(session: Session, user: User) -> int:
    statement = select(func.count(Notification.id)).where(
        Notification.user_id == user.id, Notification.read_at.is_(None)
    )
    return int(session.scalar(statement) or 0)


def recent(session: Session, user: User, limit: int = 50) -> list[Notification]:
    """The person's newest notices first."""
    statement = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    return list(session.scalars(statement))


def mark_read(session: Session, user: User, notification_id: int) -> Notification:
    """Mark one of the person's notices read; ``NoticeNotFound`` for any other."""
    notice = session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user.id
        )
    )
    if notice is None:
        raise NoticeNotFound(notification_id)
    if notice.read_at is None:
        notice.read_at = utcnow()
        session.flush()
    return notice


def mark_all_read(session: Session, user: User) -> int:
    """Mark every unread notice of the person read; how many there were."""
    statement = (
        update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    return cast(CursorResult[Any], session.execute(statement)).rowcount


# --- the daily digest --------------------------------------------------------------------


def send_daily_digests(session: Session, mailer: Mailer, day: date) -> int:
    """E-mail each active person one digest of their unread digest notices from ``day``
    and before that no digest carried yet; how many digests were sent.

    A job over every person, it commits person by person (like the dunning run), so a
    digest e-mailed is recorded even if the run stops later. Run again on the same day
    it sends nothing more: a person's digest for ``day`` exists once.
    """
    sent = 0
    for user_id in _awaiting_digest(session, day):
        if _send_digest(session, mailer, user_id, day):
            sent += 1
        session.commit()
    return sent


def _digest_notices(day: date) -> list[ColumnElement[bool]]:
    end_of_day = datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
    return [
        Notification.delivery == Delivery.DIGEST,
        Notification.digest_day.is_(None),
        Notification.read_at.is_(None),
        Notification.created_at < end_of_day,
    ]


def _awaiting_digest(session: Session, day: date) -> list[int]:
    statement = (
        select(Notification.user_id)
        .join(User, User.id == Notification.user_id)
        .where(User.active.is_(True), *_digest_notices(day))
        .distinct()
        .order_by(Notification.user_id)
    )
    return list(session.scalars(statement))


def _send_digest(session: Session, mailer: Mailer, user_id: int, day: date) -> bool:
    person = session.get(User, user_id)
    statement = select(Notification).where(Notification.user_id == user_id, *_digest_notices(day))
    notices = list(session.scalars(statement.order_by(Notification.id)))
    if person is None or not notices:
        return False
    try:
        # First the digest's row: a run racing this one waits on it, then finds it taken.
        with session.begin_nested():
            session.add(NotificationDigest(user_id=user_id, day=day, notices=len(notices)))
    except IntegrityError:
        return False
    for notice in notices:
        notice.digest_day = day
    session.flush()
    mailer.send(session, _digest_mail(person, notices))
    return True


def _digest_mail(person: User, notices: list[Notification]) -> Mail:
    lines = [f"Dear {person.name},", "", "Here is what happened in the portal:", ""]
    for notice in notices:
        lines.append(f"- {notice.title}")
        if notice.link:
            lines.append(f"  {portal_url(notice.link)}")
    lines += [
        "",
        f"Every notice is listed in the portal: {portal_url(NOTICES_PATH)}",
        "You receive this daily digest because of your notification settings: "
        + portal_url(PREFERENCES_PATH),
    ]
    return Mail(
        recipient=person.email,
        subject=f"Your daily digest: {len(notices)} notice(s) in the portal",
        body_text="\n".join(lines) + "\n",
        tenant_id=person.tenant_id,
    )
