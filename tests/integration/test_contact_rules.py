"""Contact guardrails: call caps, quiet hours in the debtor's time zone, opt-outs, cease contact.

Every check gets a fixed ``now``; nothing here reads the wall clock.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Role
from portal.services import case_work, contact_rules
from portal.services.contact_rules import Channel, ContactRefused, check_contact
from tenants.scoping import unscoped
from tests.factories import make_case, make_tenant, make_user

# 10:00 in Berlin (CET, UTC+1) on a winter weekday.
MORNING = datetime(2026, 2, 3, 9, 0, tzinfo=UTC)
# 21:30 in Berlin.
EVENING = datetime(2026, 2, 3, 20, 30, tzinfo=UTC)


@pytest.fixture
def case(session: Session):
    with unscoped(session):
        tenant = make_tenant(session, "rules")
        tenant.contact_max_calls, tenant.contact_window_days = 2, 7
        found = make_case(session, tenant)
        session.commit()
        yield found


@pytest.fixture
def collector(session: Session):
    with unscoped(session):
        user = make_user(session, Role.COLLECTOR)
        session.commit()
    return user


def call(session: Session, case, now: datetime) -> None:
    case_work.log_call(session, case, outcome=case_work.CallOutcome.NO_ANSWER, notes="",
                       actor_id=None, now=now)  # fmt: skip
    session.flush()


def test_every_channel_is_open_in_the_morning(session: Session, case) -> None:
    for channel in Channel:
        assert check_contact(session, case, channel, MORNING) is None


def test_quiet_hours_refuse_calls_and_emails_but_not_letters(session: Session, case) -> None:
    reason = check_contact(session, case, Channel.CALL, EVENING)
    assert reason is not None and "21:30" in reason and "08:00 and 20:00" in reason
    assert check_contact(session, case, Channel.EMAIL, EVENING) is not None
    assert check_contact(session, case, Channel.LETTER, EVENING) is None
    early = datetime(2026, 2, 3, 6, 59, tzinfo=UTC)  # 07:59 in Berlin
    assert check_contact(session, case, Channel.CALL, early) is not None
    assert check_contact(session, case, Channel.CALL, early + timedelta(minutes=1)) is None


def test_quiet_hours_follow_the_debtors_time_zone(session: Session, case) -> None:
    case.debtor.timezone = "America/New_York"
    assert check_contact(session, case, Channel.CALL, MORNING) is not None  # 04:00 there
    assert check_contact(session, case, Channel.CALL, EVENING) is None  # 15:30 there


def test_an_unknown_time_zone_falls_back_to_berlin(session: Session, case) -> None:
    case.debtor.timezone = "Mars/Olympus_Mons"
    assert check_contact(session, case, Channel.CALL, MORNING) is None
    assert check_contact(session, case, Channel.CALL, EVENING) is not None


def test_call_attempts_are_capped_in_the_rolling_window(session: Session, case) -> None:
    call(session, case, MORNING - timedelta(days=8))  # outside the 7-day window
    call(session, case, MORNING - timedelta(days=2))
    assert check_contact(session, case, Channel.CALL, MORNING) is None
    call(session, case, MORNING)
    reason = check_contact(session, case, Channel.CALL, MORNING + timedelta(hours=1))
    assert reason == "2 call attempts in the last 7 days: the limit is 2."
    with pytest.raises(ContactRefused, match="the limit is 2"):
        call(session, case, MORNING + timedelta(hours=1))
    assert check_contact(session, case, Channel.EMAIL, MORNING) is None  # calls only
    assert check_contact(session, case, Channel.CALL, MORNING + timedelta(days=6)) is None


@pytest.mark.parametrize(
    ("flag", "refused"),
    [("no_calls", Channel.CALL), ("no_emails", Channel.EMAIL), ("no_letters", Channel.LETTER)],
)
def test_an_opt_out_refuses_its_channel_only(session: Session, case, flag, refused) -> None:
    setattr(case.debtor, flag, True)
    for channel in Channel:
        reason = check_contact(session, case, channel, MORNING)
        if channel is refused:
            assert reason == f"The debtor opted out of {channel.label}."
        else:
            assert reason is None


def test_cease_contact_refuses_every_channel(session: Session, case) -> None:
    case.debtor.cease_contact = True
    for channel in Channel:
        assert check_contact(session, case, channel, MORNING) == (
            "The debtor asked us to stop all contact."
        )
    with pytest.raises(ContactRefused):
        contact_rules.require_contact(session, case, Channel.LETTER, MORNING)


def test_no_email_address_refuses_email(session: Session, case) -> None:
    case.debtor.email = None
    assert check_contact(session, case, Channel.EMAIL, MORNING) == (
        "We have no e-mail address for the debtor."
    )


def test_preferences_change_is_audited_once(session: Session, case, collector) -> None:
    actor = collector.id
    changed = contact_rules.set_preferences(
        session, case, actor_id=actor, no_calls=True, no_emails=False, cease_contact=False
    )
    assert changed == {"no_calls": True}
    assert contact_rules.set_preferences(session, case, actor_id=actor, no_calls=True) == {}
    session.flush()
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "debtor.contact_preferences_changed")
    ).all()
    assert [e.details["changes"] for e in entries] == [{"no_calls": True}]
    assert entries[0].actor_id == actor
