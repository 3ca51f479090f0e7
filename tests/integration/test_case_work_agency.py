"""The collector on a case: contact, notes, stage moves, promises, disputes, settlements.

The tenant's contact hours are opened to the whole day here, so page tests do not depend
on the wall clock; quiet hours are tested with a fixed clock (and in test_contact_rules).
"""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.agency import case_work as case_work_views
from portal.models import (
    Activity,
    ActivityKind,
    AuditEntry,
    Case,
    CaseMessage,
    Closure,
    Dispute,
    DisputeStatus,
    EntryKind,
    HoldReason,
    LedgerEntry,
    OutboxMessage,
    PromiseStatus,
    PromiseToPay,
    Role,
    Settlement,
    SettlementStatus,
    Stage,
    Tenant,
)
from portal.services import direct_payments, ledger, promises, settlements, stages
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user

TODAY = datetime.now(UTC).date()


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="[\w-]*csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


@pytest.fixture
def world(session: Session):
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        tenant.contact_hours_start, tenant.contact_hours_end = 0, 24
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        other = make_case(session, make_tenant(session, "zeta"), debtor_name="Zeta Secret AG")
        people = {
            "creditor": make_user(session, Role.CREDITOR_ADMIN, tenant),
            "collector": make_user(session, Role.COLLECTOR, limited_to=[tenant]),
            "admin": make_user(session, Role.AGENCY_ADMIN),
        }
        session.commit()
    return {"tenant": tenant, "case": case, "other": other, **people}


def load(session: Session, model, object_id):
    session.expire_all()
    set_scope(session, TenantScope.every_tenant())
    return session.get(model, object_id)


def every(session: Session, model, *where):
    session.expire_all()
    with unscoped(session):
        return session.scalars(select(model).where(*where).order_by(model.id)).all()


def post(client: FlaskClient, world, action: str, prefix: str, **fields: str):
    case_id = world["case"].id
    page = f"/agency/cases/{case_id}"
    data = {f"{prefix}-csrf_token": csrf(client, page)}
    data.update({f"{prefix}-{name}": value for name, value in fields.items()})
    return client.post(f"{page}/{action}", data=data)


def activities(session: Session, case: Case, kind: ActivityKind) -> list[Activity]:
    return every(session, Activity, Activity.case_id == case.id, Activity.kind == kind)


@pytest.fixture
def collector(client: FlaskClient, world) -> FlaskClient:
    return sign_in(client, world["collector"])


# --- contact and notes -------------------------------------------------------------------


def test_a_call_is_logged_on_the_timeline(collector: FlaskClient, session: Session, world) -> None:
    response = post(collector, world, "calls", "call", outcome="left_message",
                    notes="Voicemail, asked for a call back", visible="y")  # fmt: skip
    assert response.status_code == 302
    [logged] = activities(session, world["case"], ActivityKind.CALL)
    assert logged.outcome == "Left a message" and logged.body == "Voicemail, asked for a call back"
    assert logged.actor_id == world["collector"].id and logged.visible_to_creditor
    page = collector.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert "Call: left a message" in page and "1 of 7 calls in 7 days" in page


def test_an_email_goes_to_the_debtor_through_the_mailer(
    collector: FlaskClient, session: Session, world
) -> None:
    response = post(collector, world, "emails", "email", subject="Your account 4711",
                    body="Please call us about the open invoice.", visible="y")  # fmt: skip
    assert response.status_code == 302
    [mail] = every(session, OutboxMessage)
    assert (
        mail.recipient == load(session, Case, world["case"].id).debtor.email
        and mail.subject == "Your account 4711"
    )
    [logged] = activities(session, world["case"], ActivityKind.EMAIL)
    assert logged.summary == "E-mail to the debtor: Your account 4711"
    assert logged.details["outbox_id"] == mail.id


def test_a_letter_and_an_internal_note(
    client: FlaskClient, collector: FlaskClient, session: Session, world
) -> None:
    post(
        collector, world, "letters", "letter", text="Final demand before legal action", visible="y"
    )
    post(collector, world, "notes", "note", text="Debtor sounded like they will pay Friday")
    [letter] = activities(session, world["case"], ActivityKind.LETTER)
    assert letter.body == "Final demand before legal action" and letter.visible_to_creditor
    [note] = activities(session, world["case"], ActivityKind.NOTE)
    assert note.visible_to_creditor is False  # internal unless ticked
    sign_in(client, world["creditor"])
    page = client.get(f"/creditor/cases/{world['case'].id}").get_data(as_text=True)
    assert "Letter sent: Final demand" in page and "pay Friday" not in page


@pytest.mark.parametrize(
    ("action", "prefix", "fields"),
    [
        ("notes", "note", {"text": "   "}),
        ("letters", "letter", {"text": ""}),
        ("emails", "email", {"subject": "", "body": "Hello"}),
        ("emails", "email", {"subject": "Hi", "body": ""}),
        ("calls", "call", {"outcome": "shouted"}),
    ],
)
def test_empty_or_bad_entries_are_refused(
    collector: FlaskClient, session: Session, world, action, prefix, fields
) -> None:
    before = len(every(session, Activity, Activity.case_id == world["case"].id))
    response = post(collector, world, action, prefix, **fields)
    assert response.status_code == 422
    assert len(every(session, Activity, Activity.case_id == world["case"].id)) == before
    assert every(session, OutboxMessage) == []


@pytest.mark.parametrize(
    ("action", "prefix", "fields"),
    [
        ("notes", "note", {"text": "Called\x00 twice"}),
        ("emails", "email", {"subject": "Your\x00 account", "body": "Hello"}),
        ("calls", "call", {"outcome": "spoke", "notes": "\x00"}),
    ],
)
def test_a_nul_byte_is_refused_before_anything_is_stored(
    collector: FlaskClient, session: Session, world, action, prefix, fields
) -> None:
    """No keyboard types one and PostgreSQL cannot store one: refused, not a server error."""
    before = len(every(session, Activity, Activity.case_id == world["case"].id))
    response = post(collector, world, action, prefix, **fields)
    assert response.status_code == 400
    assert len(every(session, Activity, Activity.case_id == world["case"].id)) == before
    assert every(session, OutboxMessage) == []


def test_a_nul_byte_in_a_search_is_refused(collector: FlaskClient, world) -> None:
    assert collector.get("/agency/?q=Keller%00").status_code == 400


def test_cease_contact_refuses_and_the_page_says_why(
    collector: FlaskClient, session: Session, world
) -> None:
    response = post(collector, world, "contact-preferences", "contact", cease_contact="y")
    assert response.status_code == 302
    assert load(session, Case, world["case"].id).debtor.cease_contact is True
    [audit] = every(session, AuditEntry, AuditEntry.action == "debtor.contact_preferences_changed")
    assert audit.details["changes"] == {"cease_contact": True}
    page = collector.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert "The debtor asked us to stop all contact." in page
    assert "<fieldset disabled>" in page
    for action, prefix, fields in (
        ("calls", "call", {"outcome": "spoke"}),
        ("emails", "email", {"subject": "Hi", "body": "Hello"}),
        ("letters", "letter", {"text": "Dear debtor"}),
    ):
        refused = post(collector, world, action, prefix, **fields)
        assert refused.status_code == 422
        assert "The debtor asked us to stop all contact." in refused.get_data(as_text=True)
    assert activities(session, world["case"], ActivityKind.CALL) == []
    assert every(session, OutboxMessage) == []
    post(collector, world, "notes", "note", text="Notes are still fine")  # not contact
    assert len(activities(session, world["case"], ActivityKind.NOTE)) == 2


def test_an_opt_out_refuses_its_channel(collector: FlaskClient, session: Session, world) -> None:
    post(collector, world, "contact-preferences", "contact", no_emails="y")
    refused = post(collector, world, "emails", "email", subject="Hi", body="Hello")
    assert refused.status_code == 422
    assert "The debtor opted out of e-mails." in refused.get_data(as_text=True)
    assert post(collector, world, "calls", "call", outcome="spoke").status_code == 302


def test_the_call_cap_refuses_the_next_call(
    collector: FlaskClient, session: Session, world
) -> None:
    with unscoped(session):
        load(session, Tenant, world["tenant"].id).contact_max_calls = 1
        session.commit()
    assert post(collector, world, "calls", "call", outcome="no_answer").status_code == 302
    refused = post(collector, world, "calls", "call", outcome="no_answer")
    assert refused.status_code == 422
    assert "the limit is 1" in refused.get_data(as_text=True)
    assert len(activities(session, world["case"], ActivityKind.CALL)) == 1


def test_quiet_hours_refuse_a_call(
    collector: FlaskClient, session: Session, world, monkeypatch
) -> None:
    with unscoped(session):
        tenant = load(session, Tenant, world["tenant"].id)
        tenant.contact_hours_start, tenant.contact_hours_end = 8, 20
        session.commit()
    night = datetime(2026, 2, 3, 22, 15, tzinfo=UTC)  # 23:15 in Berlin
    monkeypatch.setattr(case_work_views, "utcnow", lambda: night)
    refused = post(collector, world, "calls", "call", outcome="spoke")
    assert refused.status_code == 422
    assert "It is 23:15 for the debtor" in refused.get_data(as_text=True)
    assert activities(session, world["case"], ActivityKind.CALL) == []


def test_another_tenants_case_is_not_found(collector: FlaskClient, session: Session, world) -> None:
    token = csrf(collector, f"/agency/cases/{world['case'].id}")
    response = collector.post(
        f"/agency/cases/{world['other'].id}/notes",
        data={"note-csrf_token": token, "note-text": "Hello"},
    )
    assert response.status_code == 404
    assert activities(session, world["other"], ActivityKind.NOTE) == []


# --- stage moves -------------------------------------------------------------------------


def test_stage_buttons_move_the_case(collector: FlaskClient, session: Session, world) -> None:
    page = collector.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    assert 'value="send_reminder"' in page and 'value="reopen"' not in page
    assert post(collector, world, "stage", "stage", step="send_reminder").status_code == 302
    assert load(session, Case, world["case"].id).stage is Stage.REMINDER


def test_a_move_that_needs_a_reason_is_refused_without_one(
    collector: FlaskClient, session: Session, world
) -> None:
    refused = post(
        collector, world, "stage", "stage", step="hold", why="", hold_reason="insolvency"
    )
    assert refused.status_code == 422
    assert "needs a reason" in refused.get_data(as_text=True)
    refused = post(collector, world, "stage", "stage", step="hold", why="Filed", hold_reason="")
    assert "Choose why the case goes on hold." in refused.get_data(as_text=True)
    assert load(session, Case, world["case"].id).stage is Stage.PLACED
    moved = post(collector, world, "stage", "stage", step="hold", why="Filed for insolvency",
                 hold_reason="insolvency")  # fmt: skip
    assert moved.status_code == 302
    found = load(session, Case, world["case"].id)
    assert found.stage is Stage.ON_HOLD and found.hold_reason is HoldReason.INSOLVENCY


def test_a_step_the_role_cannot_take_is_refused(
    collector: FlaskClient, session: Session, world
) -> None:
    refused = post(collector, world, "stage", "stage", step="reopen", why="x")
    assert refused.status_code == 422
    refused = post(collector, world, "stage", "stage", step="fly_to_the_moon")
    assert "There is no step" in refused.get_data(as_text=True)


# --- promises to pay ---------------------------------------------------------------------


def test_a_promise_is_recorded(collector: FlaskClient, session: Session, world) -> None:
    due = (TODAY + timedelta(days=7)).isoformat()
    assert (
        post(collector, world, "promises", "promise", amount="300.00", due_on=due).status_code
        == 302
    )
    [promise] = every(session, PromiseToPay)
    assert promise.amount_minor == 30_000 and promise.status is PromiseStatus.OPEN
    assert promise.paid_before_minor == 0
    assert activities(session, world["case"], ActivityKind.PROMISE)


@pytest.mark.parametrize(
    ("amount", "due_on", "message"),
    [
        ("0", "+7", "more than zero"),
        ("abc", "+7", "is not an amount"),
        ("2000.00", "+7", "outstanding"),
        ("100.001", "+7", "decimals"),
        ("100", "-1", "past"),
        ("100", "not-a-date", "Not a valid date"),
    ],
)
def test_bad_promises_are_refused(
    collector: FlaskClient, session: Session, world, amount, due_on, message
) -> None:
    if due_on[0] in "+-":
        due_on = (TODAY + timedelta(days=int(due_on))).isoformat()
    refused = post(collector, world, "promises", "promise", amount=amount, due_on=due_on)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert every(session, PromiseToPay) == []


def pay(session: Session, case: Case, amount: int, key: str, actor_id: int) -> None:
    case = load(session, Case, case.id)
    with unscoped(session):
        direct_payments.report(
            session, case, amount_minor=amount, paid_on=TODAY, note="",
            actor_id=actor_id, idempotency_key=key * 16, today=TODAY,
        )  # fmt: skip
        session.commit()


def test_payments_keep_a_promise(session: Session, world) -> None:
    case, creditor = world["case"], world["creditor"]
    with unscoped(session):
        pay(session, case, 10_000, "a", creditor.id)  # before the promise: does not count
        promise = promises.make_promise(session, case, amount_minor=30_000,
                                        due_on=TODAY + timedelta(days=3), actor_id=None,
                                        today=TODAY)  # fmt: skip
        session.commit()
        assert promise.paid_before_minor == 10_000
    pay(session, case, 20_000, "b", creditor.id)
    assert load(session, PromiseToPay, promise.id).status is PromiseStatus.OPEN
    pay(session, case, 10_000, "c", creditor.id)
    assert load(session, PromiseToPay, promise.id).status is PromiseStatus.KEPT


def test_broken_promises_are_marked_once_and_raise_priority(session: Session, world) -> None:
    case = world["case"]
    with unscoped(session):
        case.priority = 90
        late = promises.make_promise(session, case, amount_minor=5_000, due_on=TODAY,
                                     actor_id=None, today=TODAY)  # fmt: skip
        later = promises.make_promise(session, case, amount_minor=5_000,
                                      due_on=TODAY + timedelta(days=5), actor_id=None,
                                      today=TODAY)  # fmt: skip
        assert promises.mark_broken_promises(session, TODAY) == []  # due today: still time
        tomorrow = TODAY + timedelta(days=1)
        assert promises.mark_broken_promises(session, tomorrow) == [late]
        assert promises.mark_broken_promises(session, tomorrow) == []  # idempotent
        session.commit()
    assert load(session, PromiseToPay, late.id).status is PromiseStatus.BROKEN
    assert load(session, PromiseToPay, later.id).status is PromiseStatus.OPEN
    assert load(session, Case, case.id).priority == 100  # 90 + 20, capped
    broken = [a for a in activities(session, case, ActivityKind.PROMISE) if a.outcome == "Broken"]
    assert len(broken) == 1


# --- disputes ----------------------------------------------------------------------------


def open_dispute(collector: FlaskClient, world) -> None:
    response = post(collector, world, "disputes", "dispute", raised_by="debtor",
                    reason="The goods arrived damaged")  # fmt: skip
    assert response.status_code == 302


def test_a_dispute_puts_the_case_on_hold_with_a_due_date(
    collector: FlaskClient, session: Session, world
) -> None:
    post(collector, world, "stage", "stage", step="send_reminder")
    open_dispute(collector, world)
    [dispute] = every(session, Dispute)
    assert dispute.due_on == TODAY + timedelta(days=world["tenant"].dispute_days)
    case = load(session, Case, world["case"].id)
    assert case.stage is Stage.ON_HOLD and case.hold_reason is HoldReason.DISPUTE
    refused = post(collector, world, "disputes", "dispute", raised_by="debtor", reason="Again")
    assert refused.status_code == 422 and "already has an open dispute" in refused.get_data(
        as_text=True
    )
    assert post(collector, world, "disputes", "dispute", reason=" ").status_code == 422


def test_evidence_from_each_party_and_the_request_to_the_creditor(
    client: FlaskClient, collector: FlaskClient, session: Session, world
) -> None:
    open_dispute(collector, world)
    [dispute] = every(session, Dispute)
    case_id = world["case"].id
    page = f"/agency/cases/{case_id}"
    response = collector.post(
        f"{page}/disputes/{dispute.id}/evidence",
        data={
            "evidence-csrf_token": csrf(collector, page),
            "evidence-party": "agency",
            "evidence-statement": "Photos from the debtor's call",
            "evidence-document": (io.BytesIO(b"%PDF-1.7\n%%EOF\n"), "photos.pdf"),
        },
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    requested = post(collector, world, f"disputes/{dispute.id}/request-evidence", "request",
                     body="Please send the signed delivery note.")  # fmt: skip
    assert requested.status_code == 302
    [message] = every(session, CaseMessage)
    assert message.requests_information is True

    creditor_page = f"/creditor/cases/{case_id}"
    sign_in(client, world["creditor"])
    shown = client.get(creditor_page).get_data(as_text=True)
    assert "The goods arrived damaged" in shown and "Add your evidence" in shown
    empty = client.post(
        f"{creditor_page}/disputes/{dispute.id}/evidence",
        data={"evidence-csrf_token": csrf(client, creditor_page), "evidence-statement": ""},
    )
    assert empty.status_code == 422
    added = client.post(
        f"{creditor_page}/disputes/{dispute.id}/evidence",
        data={"evidence-csrf_token": csrf(client, creditor_page),
              "evidence-statement": "Delivery note signed by the debtor"},
    )  # fmt: skip
    assert added.status_code == 302
    evidence = load(session, Dispute, dispute.id).evidence
    assert [(e.party.value, e.document_id is not None) for e in evidence] == [
        ("agency", True),
        ("creditor", False),
    ]


def test_a_rejected_dispute_resumes_the_case(
    collector: FlaskClient, session: Session, world
) -> None:
    post(collector, world, "stage", "stage", step="send_reminder")
    open_dispute(collector, world)
    [dispute] = every(session, Dispute)
    action = f"disputes/{dispute.id}/resolve"
    assert (
        post(collector, world, action, "resolve", resolution="reject", comment="").status_code
        == 422
    )
    done = post(collector, world, action, "resolve", resolution="reject",
                comment="Delivery note signed")  # fmt: skip
    assert done.status_code == 302
    assert load(session, Dispute, dispute.id).status is DisputeStatus.REJECTED
    assert load(session, Case, world["case"].id).stage is Stage.REMINDER


def test_an_upheld_dispute_adjusts_the_claim(
    collector: FlaskClient, session: Session, world
) -> None:
    open_dispute(collector, world)
    [dispute] = every(session, Dispute)
    action = f"disputes/{dispute.id}/resolve"
    for amount in ("", "0", "1000.00", "abc"):
        refused = post(collector, world, action, "resolve", resolution="adjust", amount=amount,
                       comment="Part of the goods damaged")  # fmt: skip
        assert refused.status_code == 422, amount
    done = post(collector, world, action, "resolve", resolution="adjust", amount="250.00",
                comment="Part of the goods damaged")  # fmt: skip
    assert done.status_code == 302
    [adjustment] = every(session, LedgerEntry, LedgerEntry.kind == EntryKind.ADJUSTMENT)
    assert adjustment.amount_minor == -25_000
    case = load(session, Case, world["case"].id)
    assert case.stage is Stage.PLACED
    assert ledger.balance(session, case).outstanding == 75_000


def test_an_upheld_dispute_can_withdraw_the_case(
    collector: FlaskClient, session: Session, world
) -> None:
    open_dispute(collector, world)
    [dispute] = every(session, Dispute)
    done = post(collector, world, f"disputes/{dispute.id}/resolve", "resolve",
                resolution="withdraw", comment="Never ordered")  # fmt: skip
    assert done.status_code == 302
    case = load(session, Case, world["case"].id)
    assert case.stage is Stage.CLOSED and case.closure is Closure.WITHDRAWN


def test_a_dispute_of_another_case_is_not_found(
    collector: FlaskClient, session: Session, world
) -> None:
    with unscoped(session):
        sibling = make_case(session, world["tenant"])
        dispute = Dispute(tenant_id=sibling.tenant_id, case_id=sibling.id, raised_by="debtor",
                          reason="x", due_on=TODAY)  # fmt: skip
        session.add(dispute)
        session.commit()
    response = post(collector, world, f"disputes/{dispute.id}/resolve", "resolve",
                    resolution="reject", comment="x")  # fmt: skip
    assert response.status_code == 404


# --- settlements -------------------------------------------------------------------------


def test_a_settlement_within_authority_is_proposed(
    collector: FlaskClient, session: Session, world
) -> None:
    assert post(collector, world, "settlements", "settlement", amount="800.00").status_code == 302
    [settlement] = every(session, Settlement)
    assert settlement.status is SettlementStatus.PROPOSED  # 80 % of 1,000.00
    assert settlement.outstanding_minor == 100_000
    refused = post(collector, world, "settlements", "settlement", amount="700.00")
    assert refused.status_code == 422 and "already pending" in refused.get_data(as_text=True)


@pytest.mark.parametrize("amount", ["0", "1000.00", "1500", "x"])
def test_bad_settlements_are_refused(
    collector: FlaskClient, session: Session, world, amount
) -> None:
    assert post(collector, world, "settlements", "settlement", amount=amount).status_code == 422
    assert every(session, Settlement) == []


def decide(client: FlaskClient, case_id: int, settlement_id: int, decision: str, comment: str):
    page = f"/creditor/cases/{case_id}"
    return client.post(
        f"{page}/settlements/{settlement_id}/decision",
        data={"decision-csrf_token": csrf(client, page), "decision-comment": comment,
              "decision": decision},
    )  # fmt: skip


def test_the_creditor_approves_a_settlement_below_authority_and_payment_closes_the_case(
    client: FlaskClient, collector: FlaskClient, session: Session, world
) -> None:
    post(collector, world, "settlements", "settlement", amount="600.00", note="Cash offer")
    [settlement] = every(session, Settlement)
    assert settlement.status is SettlementStatus.AWAITING_CREDITOR
    case_id = world["case"].id
    sign_in(client, world["creditor"])
    assert "Approve the settlement" in client.get(f"/creditor/cases/{case_id}").get_data(
        as_text=True
    )
    assert decide(client, case_id, settlement.id, "approve", "Fine by us").status_code == 302
    decided = load(session, Settlement, settlement.id)
    assert decided.status is SettlementStatus.ACCEPTED
    assert decided.decided_by_id == world["creditor"].id
    assert decide(client, case_id, settlement.id, "decline", "Too late").status_code == 422
    timeline = [a.summary for a in activities(session, world["case"], ActivityKind.NOTE)]
    assert "Creditor approved the settlement of €600.00" in timeline

    pay(session, world["case"], 60_000, "p", world["creditor"].id)
    case = load(session, Case, case_id)
    assert case.stage is Stage.CLOSED and case.closure is Closure.SETTLED
    assert ledger.balance(session, case).outstanding == 0
    assert load(session, Settlement, settlement.id).status is SettlementStatus.PAID


def test_declining_needs_a_comment(
    client: FlaskClient, collector: FlaskClient, session: Session, world
) -> None:
    post(collector, world, "settlements", "settlement", amount="500.00")
    [settlement] = every(session, Settlement)
    sign_in(client, world["creditor"])
    case_id = world["case"].id
    refused = decide(client, case_id, settlement.id, "decline", "")
    assert refused.status_code == 422 and "Say why" in refused.get_data(as_text=True)
    assert decide(client, case_id, settlement.id, "decline", "Too low").status_code == 302
    assert load(session, Settlement, settlement.id).status is SettlementStatus.DECLINED


def test_a_partial_payment_does_not_settle(session: Session, world) -> None:
    case = world["case"]
    with unscoped(session):
        settlement = settlements.propose(session, case, amount_minor=90_000, note="",
                                         actor_id=None)  # fmt: skip
        session.commit()
    pay(session, case, 50_000, "q", world["creditor"].id)
    assert load(session, Case, case.id).stage is Stage.PLACED
    assert load(session, Settlement, settlement.id).status is SettlementStatus.PROPOSED


def test_the_case_page_shows_the_work_forms(collector: FlaskClient, world) -> None:
    page = collector.get(f"/agency/cases/{world['case'].id}").get_data(as_text=True)
    for text in ("Log a call", "Send an e-mail", "Record a letter", "Add a note",
                 "Promises to pay", "Record a dispute", "Propose the settlement"):  # fmt: skip
        assert text in page


@pytest.mark.parametrize("step", sorted(stages.GUIDED_STEPS))
def test_legal_steps_are_refused_as_bare_moves(
    client: FlaskClient, session: Session, step: str
) -> None:
    with unscoped(session):
        admin = make_user(session, Role.AGENCY_ADMIN)
        case = make_case(session, make_tenant(session, "acme"))
        case.stage = Stage.NEGOTIATION
        session.commit()
    sign_in(client, admin)
    path = f"/agency/cases/{case.id}"
    page = client.get(path).get_data(as_text=True)
    csrf = re.search(
        r'id="stage-csrf_token" name="stage-csrf_token" type="hidden" value="([^"]+)"', page
    )
    data = {"stage-csrf_token": csrf.group(1), "stage-step": step, "stage-why": "because"}
    answer = client.post(f"{path}/stage", data=data)
    assert answer.status_code == 422 and "its own form" in answer.get_data(as_text=True)
    with unscoped(session):
        session.expire_all()
        assert session.get(Case, case.id).stage is Stage.NEGOTIATION
