"""Notices: each person hears of each kind of event as they chose, in the portal always;
the daily digest goes once per person and day, even when two runs race; every event
tells the right people, and never another creditor's."""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.orm import Session

from portal.adapters.mail import Mail, OutboxMailer
from portal.db import utcnow
from portal.models import (
    AuditEntry,
    Closure,
    Delivery,
    ImportBatch,
    ImportStatus,
    Lawyer,
    Notification,
    NotificationDigest,
    NotificationKind,
    OutboxMessage,
    Party,
    Role,
    Stage,
    User,
)
from portal.services import (
    direct_payments,
    disputes,
    imports,
    legal_requests,
    messages,
    notices,
    notifications,
    payments,
    settlements,
    stages,
)
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.factories import make_case, make_tenant, make_user

MAILER = OutboxMailer()
TODAY = utcnow().date()
INBOX = "collections@agency.example"


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        acme, zeta = make_tenant(session, "acme"), make_tenant(session, "zeta")
        case = make_case(session, acme, debtor_name="Keller Bau GmbH", reference="ACME-1")
        people = {
            "admin": make_user(session, Role.CREDITOR_ADMIN, acme),
            "colleague": make_user(session, Role.CREDITOR_USER, acme),
            "gone": make_user(session, Role.CREDITOR_USER, acme),
            "stranger": make_user(session, Role.CREDITOR_ADMIN, zeta),
            "zeta_collector": make_user(session, Role.COLLECTOR, limited_to=[zeta]),
            "collector": make_user(session, Role.COLLECTOR),
            "boss": make_user(session, Role.AGENCY_ADMIN),
        }
        people["gone"].active = False
        session.commit()
    set_scope(session, TenantScope.every_tenant())  # the agency's own view, as jobs have
    return {"acme": acme, "zeta": zeta, "case": case, **people}


def notices_of(session: Session, user: User) -> list[Notification]:
    with unscoped(session):
        statement = select(Notification).where(Notification.user_id == user.id)
        return list(session.scalars(statement.order_by(Notification.id)))


def mails_to(session: Session, user: User) -> list[OutboxMessage]:
    with unscoped(session):
        statement = select(OutboxMessage).where(OutboxMessage.recipient == user.email)
        return list(session.scalars(statement.order_by(OutboxMessage.id)))


def tell(session: Session, world: dict, kind: NotificationKind, *people: User, mailer=MAILER):
    return notices.notify(
        session, mailer, kind=kind, recipients=list(people), title=f"{kind.value} on ACME-1",
        body="Something happened on the case.",
        link=notices.creditor_case_path(world["case"].id), tenant_id=world["acme"].id,
        case_id=world["case"].id,
    )  # fmt: skip


# --- preferences and delivery ----------------------------------------------------------


def test_what_needs_an_answer_comes_at_once_by_default(session: Session, world) -> None:
    chosen = notices.preferences(session, world["colleague"])
    assert set(chosen) == set(NotificationKind)
    assert chosen[NotificationKind.DECISION_WAITING] is Delivery.IMMEDIATE
    assert chosen[NotificationKind.DISPUTE_RAISED] is Delivery.IMMEDIATE
    assert chosen[NotificationKind.PAYMENT_RECEIVED] is Delivery.DIGEST


def test_each_person_hears_of_each_kind_as_they_chose(session: Session, world) -> None:
    admin, colleague = world["admin"], world["colleague"]
    notices.set_preferences(session, admin, {
        NotificationKind.MESSAGE: Delivery.IMMEDIATE,
        NotificationKind.DECISION_WAITING: Delivery.NONE,
    })  # fmt: skip
    notices.set_preferences(session, colleague, {
        NotificationKind.MESSAGE: Delivery.DIGEST,
        NotificationKind.DECISION_WAITING: Delivery.IMMEDIATE,
    })  # fmt: skip
    for kind in (NotificationKind.MESSAGE, NotificationKind.DECISION_WAITING):
        tell(session, world, kind, admin, colleague)

    [to_admin] = mails_to(session, admin)
    assert to_admin.subject == "message on ACME-1"
    assert "Something happened on the case." in to_admin.body_text
    assert f"/creditor/cases/{world['case'].id}" in to_admin.body_text
    assert [mail.subject for mail in mails_to(session, colleague)] == ["decision_waiting on ACME-1"]
    # "No e-mail" is still listed in the portal, unread.
    assert [n.delivery for n in notices_of(session, admin)] == [Delivery.IMMEDIATE, Delivery.NONE]
    assert notices.unread_count(session, admin) == 2


def test_without_a_mailer_a_notice_wanted_at_once_comes_with_the_digest(
    session: Session, world, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(notices, "_portal_mailer", None)  # a process that configured none
    colleague = world["colleague"]
    notices.set_preferences(session, colleague, {NotificationKind.CASE_CLOSED: Delivery.IMMEDIATE})
    [notice] = tell(session, world, NotificationKind.CASE_CLOSED, colleague, mailer=None)
    assert notice.delivery is Delivery.DIGEST and mails_to(session, colleague) == []
    assert notices.send_daily_digests(session, MAILER, TODAY) == 1
    [digest] = mails_to(session, colleague)
    assert "case_closed on ACME-1" in digest.body_text


def test_inactive_people_and_other_creditors_people_are_never_told(session: Session, world) -> None:
    everyone = [world[name] for name in ("admin", "gone", "stranger", "zeta_collector", "boss")]
    told = tell(session, world, NotificationKind.DECISION_WAITING, *everyone, world["admin"])
    assert sorted(n.user_id for n in told) == sorted([world["admin"].id, world["boss"].id])
    for name in ("gone", "stranger", "zeta_collector"):
        assert notices_of(session, world[name]) == [] and mails_to(session, world[name]) == []


def test_changed_preferences_are_kept_and_audited(session: Session, world) -> None:
    admin = world["admin"]
    changed = notices.set_preferences(session, admin, {
        NotificationKind.PAYMENT_RECEIVED: Delivery.NONE,
        NotificationKind.DECISION_WAITING: Delivery.IMMEDIATE,
    })  # fmt: skip
    assert changed == {NotificationKind.PAYMENT_RECEIVED: Delivery.NONE}
    assert notices.preferences(session, admin)[NotificationKind.PAYMENT_RECEIVED] is Delivery.NONE
    action = AuditEntry.action == "user.notification_preferences_changed"
    [entry] = session.scalars(select(AuditEntry).where(action)).all()
    assert entry.actor_id == admin.id and entry.tenant_id == world["acme"].id
    assert entry.details["changes"]["payment_received"]["to"] == "none"
    again = notices.set_preferences(
        session, admin, {NotificationKind.PAYMENT_RECEIVED: Delivery.NONE}
    )
    assert again == {} and len(session.scalars(select(AuditEntry).where(action)).all()) == 1


def test_only_the_recipient_marks_a_notice_read(session: Session, world) -> None:
    admin, colleague = world["admin"], world["colleague"]
    mine, theirs = tell(session, world, NotificationKind.MESSAGE, admin, colleague)
    with pytest.raises(notices.NoticeNotFound):
        notices.mark_read(session, admin, theirs.id)
    assert notices.mark_read(session, admin, mine.id).read_at is not None
    tell(session, world, NotificationKind.MESSAGE, admin)
    assert notices.mark_all_read(session, colleague) == 1
    assert (notices.unread_count(session, admin), notices.unread_count(session, colleague)) == (
        1,
        0,
    )
    assert [n.id for n in notices.recent(session, admin)] == sorted(
        (n.id for n in notices_of(session, admin)), reverse=True
    )


# --- the daily digest ------------------------------------------------------------------


def test_the_digest_goes_once_per_person_and_day(session: Session, world) -> None:
    admin, colleague = world["admin"], world["colleague"]
    for person in (admin, colleague):
        notices.set_preferences(session, person, {NotificationKind.MESSAGE: Delivery.DIGEST})
    tell(session, world, NotificationKind.MESSAGE, admin, colleague)
    tell(session, world, NotificationKind.MESSAGE, admin)

    assert notices.send_daily_digests(session, MAILER, TODAY) == 2
    [to_admin] = mails_to(session, admin)
    assert to_admin.body_text.count("- message on ACME-1") == 2
    assert len(mails_to(session, colleague)) == 1
    assert all(n.digest_day == TODAY for n in notices_of(session, admin))

    tell(session, world, NotificationKind.MESSAGE, admin)  # later the same day
    assert notices.send_daily_digests(session, MAILER, TODAY) == 0
    assert len(mails_to(session, admin)) == 1
    assert notices.send_daily_digests(session, MAILER, TODAY + timedelta(days=1)) == 1
    assert mails_to(session, admin)[-1].body_text.count("- message on ACME-1") == 1
    assert session.scalar(select(func.count()).select_from(NotificationDigest)) == 3


def test_read_later_and_inactive_peoples_notices_are_not_in_the_digest(
    session: Session, world
) -> None:
    admin, colleague = world["admin"], world["colleague"]
    [read] = tell(session, world, NotificationKind.PAYMENT_RECEIVED, admin)
    [later] = tell(session, world, NotificationKind.PAYMENT_RECEIVED, admin)
    notices.mark_read(session, admin, read.id)
    with unscoped(session):
        tomorrow = utcnow() + timedelta(days=1)
        session.execute(update(Notification).where(Notification.id == later.id)
                        .values(created_at=tomorrow))  # fmt: skip
    tell(session, world, NotificationKind.PAYMENT_RECEIVED, colleague)
    colleague.active = False
    session.flush()
    assert notices.send_daily_digests(session, MAILER, TODAY) == 0
    assert mails_to(session, admin) == [] and mails_to(session, colleague) == []
    assert notices.send_daily_digests(session, MAILER, TODAY + timedelta(days=1)) == 1


def test_the_digest_command_sends_once_a_day(app: Flask, session: Session, world) -> None:
    tell(session, world, NotificationKind.PAYMENT_RECEIVED, world["admin"])
    session.commit()
    runner = app.test_cli_runner()
    day = TODAY.isoformat()
    first = runner.invoke(args=["notifications", "digest", "--date", day])
    second = runner.invoke(args=["notifications", "digest", "--date", day])
    assert first.exit_code == 0 and first.output.strip() == f"{day}: 1 digest(s) sent"
    assert second.exit_code == 0 and second.output.strip() == f"{day}: 0 digest(s) sent"
    assert len(mails_to(session, world["admin"])) == 1
    assert runner.invoke(args=["notifications", "digest", "--date", "14/05/2026"]).exit_code == 2


@pytest.fixture
def postgres_race_engine(request: pytest.FixtureRequest, database_url: str) -> Iterator[Engine]:
    if not database_url.startswith("postgresql"):
        pytest.skip("two transactions racing on one row need PostgreSQL's row locks")
    yield request.getfixturevalue("race_engine")


def test_a_racing_second_run_sends_nothing(postgres_race_engine: Engine) -> None:
    """The first run holds the person's digest row uncommitted while it e-mails; a second
    run that started meanwhile waits on that row, then finds it taken."""
    engine = postgres_race_engine
    with Session(engine, expire_on_commit=False) as setup, unscoped(setup):
        person = make_user(setup, Role.COLLECTOR)
        notices.set_preferences(setup, person, {NotificationKind.MESSAGE: Delivery.DIGEST})
        notices.notify(setup, None, kind=NotificationKind.MESSAGE, recipients=[person],
                       title="Message on RACE-1", body="", link=None, tenant_id=None,
                       case_id=None)  # fmt: skip
        setup.commit()
    second: list[int] = []
    errors: list[BaseException] = []

    def second_run() -> None:
        try:
            with Session(engine) as own:
                second.append(notices.send_daily_digests(own, OutboxMailer(), TODAY))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    racer = threading.Thread(target=second_run)

    class HoldingMailer(OutboxMailer):
        def send(self, session: Session, mail: Mail) -> OutboxMessage:
            racer.start()
            assert waits_on_a_lock(engine), "the second run never reached the digest row"
            return super().send(session, mail)

    with Session(engine) as first:
        assert notices.send_daily_digests(first, HoldingMailer(), TODAY) == 1
    racer.join(timeout=30)
    assert errors == [] and second == [0]
    with Session(engine) as check:
        sent = select(func.count()).where(OutboxMessage.recipient == person.email)
        assert check.scalar(sent) == 1
        digests = select(func.count()).where(NotificationDigest.user_id == person.id)
        assert check.scalar(digests) == 1


WAITING = text(
    "SELECT count(*) FROM pg_stat_activity "
    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
)


def waits_on_a_lock(engine: Engine, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    with engine.connect() as watcher:
        while time.monotonic() < deadline:
            if watcher.scalar(WAITING):
                return True
            watcher.rollback()
            time.sleep(0.05)
    return False


# --- the events ------------------------------------------------------------------------


def kinds_of(session: Session, user: User) -> list[NotificationKind]:
    return [notice.kind for notice in notices_of(session, user)]


def only_acme_told(session: Session, world) -> None:
    for name in ("gone", "stranger", "zeta_collector"):
        assert notices_of(session, world[name]) == [], name


def test_an_agency_message_tells_the_creditors_people(session: Session, world) -> None:
    case = world["case"]
    messages.post(session, MAILER, case, author=world["collector"], body="Please send the "
                  "delivery note.", requests_information=True, agency_inbox=INBOX)  # fmt: skip
    messages.post(session, MAILER, case, author=world["collector"], body="Thank you.",
                  agency_inbox=INBOX)  # fmt: skip
    for name in ("admin", "colleague"):
        assert kinds_of(session, world[name]) == [
            NotificationKind.DECISION_WAITING, NotificationKind.MESSAGE,
        ], name  # fmt: skip
        assert notices_of(session, world[name])[0].link == f"/creditor/cases/{case.id}"
    assert [mail.subject for mail in mails_to(session, world["admin"])] == [
        "Agency requested information: Keller Bau GmbH, " + case.agency_reference
    ]
    assert notices_of(session, world["collector"]) == []
    only_acme_told(session, world)


def test_a_creditor_message_tells_the_collector_else_the_agency_admins(
    session: Session, world
) -> None:
    case = world["case"]
    messages.post(session, MAILER, case, author=world["admin"], body="Any news?",
                  agency_inbox=INBOX)  # fmt: skip
    assert kinds_of(session, world["boss"]) == [NotificationKind.MESSAGE]
    assert notices_of(session, world["boss"])[0].link == f"/agency/cases/{case.id}"
    with unscoped(session):
        inbox = session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == INBOX))
        assert len(inbox.all()) == 1
    case.assigned_collector_id = world["collector"].id
    session.flush()
    session.expire(case, ["assigned_collector"])
    messages.post(session, MAILER, case, author=world["admin"], body="Hello?", agency_inbox=INBOX)
    assert kinds_of(session, world["collector"]) == [NotificationKind.MESSAGE]
    assert len(notices_of(session, world["boss"])) == 1
    assert notices_of(session, world["colleague"]) == []


def test_legal_action_proposed_asks_the_creditor_to_decide(session: Session, world) -> None:
    case = world["case"]
    case.stage = Stage.NEGOTIATION
    lawyer = Lawyer(name="Dr. Anna Weber", firm="Weber & Partner", email="weber@law.example",
                    jurisdictions=["DE"], languages=["de"], fee_terms="RVG")  # fmt: skip
    session.add(lawyer)
    session.flush()
    legal_requests.propose(
        session, case, lawyer=lawyer, estimate=legal_requests.Estimate(45_000, 80_000, 0),
        note="", actor_id=world["collector"].id, role=Role.COLLECTOR, mailer=MAILER,
    )  # fmt: skip
    for name in ("admin", "colleague"):
        assert kinds_of(session, world[name]) == [NotificationKind.DECISION_WAITING]
        [mail] = mails_to(session, world[name])
        assert "Dr. Anna Weber" in mail.body_text and "ACME-1" in mail.subject
    only_acme_told(session, world)


def test_a_settlement_below_the_agencys_authority_asks_the_creditor(
    session: Session, world
) -> None:
    case = world["case"]
    settlements.propose(session, case, amount_minor=1_000, note="", actor_id=None)
    assert kinds_of(session, world["admin"]) == [NotificationKind.DECISION_WAITING]
    only_acme_told(session, world)
    other = make_case(session, world["acme"], reference="ACME-2")
    settlements.propose(session, other, amount_minor=124_000, note="", actor_id=None)
    assert len(notices_of(session, world["admin"])) == 1  # within authority: nothing to decide


def test_a_payment_tells_the_creditors_people_but_not_who_reported_it(
    session: Session, world
) -> None:
    case = world["case"]
    payments.record_payment(session, case, amount_minor=25_000, event_key="test:pay-1",
                            paid_on=TODAY, description="Bank transfer")  # fmt: skip
    for name in ("admin", "colleague"):
        assert kinds_of(session, world[name]) == [NotificationKind.PAYMENT_RECEIVED]
    assert "Keller Bau GmbH" in notices_of(session, world["admin"])[0].title
    direct_payments.report(session, case, amount_minor=5_000, paid_on=TODAY, note="",
                           actor_id=world["admin"].id, idempotency_key="k1",
                           today=TODAY)  # fmt: skip
    assert len(notices_of(session, world["admin"])) == 1
    assert len(notices_of(session, world["colleague"])) == 2
    only_acme_told(session, world)


def test_closing_a_case_tells_the_creditor_but_not_who_closed_it(session: Session, world) -> None:
    stages.withdraw(session, world["case"], actor_id=world["admin"].id, reason="Paid us directly")
    assert notices_of(session, world["admin"]) == []
    [closed] = notices_of(session, world["colleague"])
    assert closed.kind is NotificationKind.CASE_CLOSED and "withdrawn" in closed.title
    other = make_case(session, world["acme"], reference="ACME-3")
    stages.close(session, other, Closure.UNCOLLECTIBLE, actor_id=None, why="Insolvent")
    assert kinds_of(session, world["admin"]) == [NotificationKind.CASE_CLOSED]
    only_acme_told(session, world)


def test_a_debtors_dispute_tells_the_collector_and_the_creditor(session: Session, world) -> None:
    case = world["case"]
    case.assigned_collector_id = world["collector"].id
    session.flush()
    dispute = disputes.open_dispute(session, case, raised_by=Party.DEBTOR, reason="Never "
                                    "delivered", actor_id=None, role=None, today=TODAY)  # fmt: skip
    notifications.debtor_disputed(session, MAILER, dispute)
    [staff] = notices_of(session, world["collector"])
    assert staff.kind is NotificationKind.DISPUTE_RAISED
    assert staff.link == f"/agency/cases/{case.id}"
    for name in ("admin", "colleague"):
        [told] = notices_of(session, world[name])
        assert told.kind is NotificationKind.DISPUTE_RAISED and "Never delivered" in told.body
        assert (
            told.link == f"/creditor/cases/{case.id}" and len(mails_to(session, world[name])) == 1
        )
    assert notices_of(session, world["boss"]) == []
    only_acme_told(session, world)


IMPORT_HEADER = ["creditor_reference", "debtor_kind", "debtor_name", "email", "postal_code",
                 "invoice_number", "issue_date", "due_date", "amount"]  # fmt: skip


def import_file(*references: str) -> io.BytesIO:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(IMPORT_HEADER)
    issued, due = TODAY - timedelta(days=90), TODAY - timedelta(days=60)
    for reference in references:
        writer.writerow([reference, "business", f"Debtor {reference}", "ap@debtor.example",
                         "10115", f"INV-{reference}", issued.strftime("%d/%m/%Y"),
                         due.strftime("%d/%m/%Y"), "100.00"])  # fmt: skip
    return io.BytesIO(buffer.getvalue().encode())


def test_an_import_tells_who_started_it_when_checked_placed_or_failed(
    app: Flask, session: Session, world
) -> None:
    store = app.extensions["portal.storage"]
    colleague = world["colleague"]

    def started(*references: str) -> ImportBatch:
        batch = imports.start_import(session, store, tenant=world["acme"], user_id=colleague.id,
                                     upload=import_file(*references), filename="march.csv",
                                     date_format="dmy")  # fmt: skip
        assert imports.begin_validation(session, batch)
        session.commit()
        return batch

    batch = started("IMP-1", "IMP-2")
    imports.run_validation(session, store, batch.id)
    assert imports.begin_placing(session, batch)
    session.commit()
    imports.run_placement(session, store, batch.id, colleague.id)
    broken = started("IMP-3")
    store.delete(broken.storage_key)
    imports.run_validation(session, store, broken.id)

    session.expire_all()
    set_scope(session, TenantScope.every_tenant())
    assert session.get(ImportBatch, broken.id).status is ImportStatus.FAILED
    told = notices_of(session, colleague)
    assert [n.kind for n in told] == [NotificationKind.IMPORT_FINISHED] * 3
    assert [n.title for n in told] == [
        "Import checked: march.csv", "Import placed: march.csv", "Import failed: march.csv",
    ]  # fmt: skip
    assert told[0].link == f"/creditor/imports/{batch.id}"
    assert notices_of(session, world["admin"]) == []
    only_acme_told(session, world)
