"""The debtor pays from the page, with the simulated provider: in full, by plan, refused."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.extensions import limiter
from portal.models import (
    Case,
    Checkout,
    Closure,
    Document,
    EntryKind,
    InstalmentStatus,
    LedgerEntry,
    OutboxMessage,
    PaymentPlan,
    PlanStatus,
    Role,
    Stage,
)
from portal.services import payment_links
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user


@pytest.fixture
def case(session: Session) -> Case:
    limiter.reset()
    with unscoped(session):
        found = make_case(session, make_tenant(session, "acme"), debtor_name="Keller Bau GmbH",
                          amounts=(120_000,))  # fmt: skip
        session.commit()
    return found


def csrf(client: FlaskClient, path: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(path).get_data(as_text=True))
    assert found, f"no form on {path}"
    return found.group(1)


def link(case: Case) -> str:
    return f"/pay/{payment_links.token_for(case)}"


def count(session: Session, model: type, *where: object) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def pay_simulated(client: FlaskClient, checkout_url: str, outcome: str = "pay"):
    return client.post(
        checkout_url, data={"csrf_token": csrf(client, checkout_url), "outcome": outcome}
    )


def plan_form(start_days: int = 30, **fields: str) -> dict[str, str]:
    start = (utcnow().date() + timedelta(days=start_days)).isoformat()
    return {
        "instalments": "6",
        "frequency": "monthly",
        "start_on": start,
        "down_payment": "",
    } | fields


def test_paying_in_full_closes_the_case_and_leaves_a_receipt(
    client: FlaskClient, session: Session, case: Case
) -> None:
    page = client.get(link(case)).get_data(as_text=True)
    assert "Pay €1,200.00" in page
    started = client.post(
        f"{link(case)}/checkout", data={"csrf_token": csrf(client, link(case)), "purpose": "full"}
    )
    assert started.status_code == 303 and started.headers["Location"].startswith(
        "/pay/checkout/sim_cs_"
    )
    done = pay_simulated(client, started.headers["Location"])
    assert done.status_code == 303 and done.headers["Location"] == f"{link(case)}/paid"
    assert "nothing is outstanding" in client.get(done.headers["Location"]).get_data(as_text=True)
    with unscoped(session):
        session.expire_all()
        found = session.get(Case, case.id)
        assert (found.stage, found.closure) == (Stage.CLOSED, Closure.PAID)
        paid = (LedgerEntry.case_id == case.id, LedgerEntry.kind == EntryKind.PAYMENT)
        payment = session.scalars(select(LedgerEntry).where(*paid)).one()
        assert payment.amount_minor == -120_000 and payment.commission_minor == 18_000
        receipt = session.scalars(select(Document).where(Document.case_id == case.id)).one()
        assert receipt.shareable_with_debtor and receipt.filename.startswith("receipt-")
        mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == found.debtor.email)
        ).one()
        assert "Receipt" in mail.subject and "€1,200.00" in mail.body_text
    # The same checkout confirmed again books nothing more.
    pay_simulated(client, started.headers["Location"])
    assert count(session, LedgerEntry, LedgerEntry.kind == EntryKind.PAYMENT) == 1


def test_a_declined_card_books_nothing(client: FlaskClient, session: Session, case: Case) -> None:
    started = client.post(
        f"{link(case)}/checkout", data={"csrf_token": csrf(client, link(case)), "purpose": "full"}
    )
    declined = pay_simulated(client, started.headers["Location"], "decline")
    assert declined.status_code == 402 and "declined" in declined.get_data(as_text=True)
    assert count(session, LedgerEntry, LedgerEntry.kind == EntryKind.PAYMENT) == 0


def test_the_plan_page_shows_the_schedule_before_anything_is_agreed(
    client: FlaskClient, session: Session, case: Case
) -> None:
    query = "&".join(f"{k}={v}" for k, v in plan_form().items())
    page = client.get(f"{link(case)}/plan?{query}").get_data(as_text=True)
    assert page.count("€200.00") == 6 and "Agree to this plan" in page
    assert count(session, PaymentPlan) == 0


def test_a_plan_within_policy_starts_with_its_first_payment(
    client: FlaskClient, session: Session, case: Case
) -> None:
    plan_url = f"{link(case)}/plan"
    chosen = client.post(plan_url, data=plan_form() | {"csrf_token": csrf(client, plan_url)})
    assert chosen.status_code == 303 and chosen.headers["Location"].endswith("/plan/first-payment")
    review = chosen.headers["Location"]
    started = client.post(review, data={"csrf_token": csrf(client, review)})
    pay_simulated(client, started.headers["Location"])
    with unscoped(session):
        plan = session.scalars(select(PaymentPlan)).one()
        assert plan.status is PlanStatus.ACTIVE and plan.payment_method_ref
        assert [i.status for i in plan.instalments] == [InstalmentStatus.PAID] + [
            InstalmentStatus.SCHEDULED
        ] * 5
        assert session.get(Case, case.id).stage is not Stage.CLOSED
    page = client.get(link(case)).get_data(as_text=True)
    assert "Your payment plan" in page and "Pay off the rest (€1,000.00)" in page
    assert "Choose a payment plan" not in page  # one plan at a time


def test_a_plan_beyond_policy_waits_for_a_collector(
    client: FlaskClient, session: Session, case: Case
) -> None:
    plan_url = f"{link(case)}/plan"
    chosen = client.post(
        plan_url, data=plan_form(instalments="24") | {"csrf_token": csrf(client, plan_url)}
    )
    assert chosen.status_code == 303
    assert "needs our approval" in client.get(chosen.headers["Location"]).get_data(as_text=True)
    with unscoped(session):
        plan = session.scalars(select(PaymentPlan)).one()
        assert plan.status is PlanStatus.AWAITING_APPROVAL
        assert "24 instalments (the policy allows 12)" in plan.policy_exceptions
        collector = make_user(session, Role.COLLECTOR)
        session.commit()
    sign_in(client, collector)
    case_page = f"/agency/cases/{case.id}"
    assert "Beyond the policy: 24 instalments" in client.get(case_page).get_data(as_text=True)
    token = re.search(r'id="plan-csrf_token" name="plan-csrf_token" type="hidden" value="([^"]+)"',
                      client.get(case_page).get_data(as_text=True)).group(1)  # fmt: skip
    decided = client.post(f"{case_page}/plans/{plan.id}/decision",
                          data={"plan-csrf_token": token, "plan-decision": "approve"})  # fmt: skip
    assert decided.status_code == 302
    with unscoped(session):
        session.expire_all()
        assert session.get(PaymentPlan, plan.id).status is PlanStatus.AWAITING_FIRST_PAYMENT
        told = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == case.debtor.email)
        ).one()
        assert "payment plan is approved" in told.subject and link(case) in told.body_text


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"instalments": "1"}, "Not a valid choice"),
        ({"instalments": "abc"}, "Not a valid choice"),
        ({"frequency": "daily"}, "Not a valid choice"),
        ({"start_on": "yesterday"}, "Not a valid date value"),
        ({"down_payment": "lots"}, "The first payment is not an amount."),
        ({"down_payment": "1200.00"}, "The first payment must be less than the amount owed."),
    ],
)
def test_a_bad_plan_is_refused_and_changes_nothing(
    client: FlaskClient, session: Session, case: Case, fields: dict[str, str], message: str
) -> None:
    plan_url = f"{link(case)}/plan"
    refused = client.post(
        plan_url, data=plan_form(**fields) | {"csrf_token": csrf(client, plan_url)}
    )
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert count(session, PaymentPlan) == 0


def test_a_start_date_in_the_past_is_refused(
    client: FlaskClient, session: Session, case: Case
) -> None:
    plan_url = f"{link(case)}/plan"
    refused = client.post(
        plan_url, data=plan_form(start_days=-1) | {"csrf_token": csrf(client, plan_url)}
    )
    assert refused.status_code == 422 and "start on a day after today" in refused.get_data(
        as_text=True
    )
    assert count(session, PaymentPlan) == 0


@pytest.mark.parametrize(
    "purpose", ["", "everything", "settlement", "instalment", "rest", "plan_first"]
)
def test_paying_what_is_not_on_offer_is_refused(
    client: FlaskClient, session: Session, case: Case, purpose: str
) -> None:
    refused = client.post(
        f"{link(case)}/checkout", data={"csrf_token": csrf(client, link(case)), "purpose": purpose}
    )
    assert refused.status_code == 422
    assert count(session, Checkout) == 0


def test_a_form_without_its_token_is_refused(
    client: FlaskClient, session: Session, case: Case
) -> None:
    assert client.post(f"{link(case)}/checkout", data={"purpose": "full"}).status_code == 400
    assert client.post(f"{link(case)}/plan", data=plan_form()).status_code == 400
    assert count(session, Checkout) == 0 and count(session, PaymentPlan) == 0


def test_a_german_debtor_types_a_german_amount(
    client: FlaskClient, session: Session, case: Case
) -> None:
    with unscoped(session):
        session.get(Case, case.id).debtor.country = "DE"
        session.get(Case, case.id).debtor.language = "de"
        session.commit()
    query = "&".join(f"{k}={v}" for k, v in plan_form(down_payment="300,00").items())
    page = client.get(f"{link(case)}/plan?{query}").get_data(as_text=True)
    assert "300,00\xa0€" in page and "180,00\xa0€" in page  # the rest in five equal parts


def test_a_collector_issues_a_new_link_and_the_old_one_stops_working(
    client: FlaskClient, session: Session, case: Case
) -> None:
    old = link(case)
    with unscoped(session):
        collector = make_user(session, Role.COLLECTOR)
        session.commit()
    sign_in(client, collector)
    case_page = f"/agency/cases/{case.id}"
    assert old in client.get(case_page).get_data(as_text=True)
    assert client.post(f"{case_page}/payment-link").status_code == 400  # no form token
    assert client.get(old).status_code == 200
    issued = client.post(f"{case_page}/payment-link", data={"csrf_token": csrf(client, case_page)})
    assert issued.status_code == 302
    with unscoped(session):
        session.expire_all()
        new = link(session.get(Case, case.id))
    assert new != old
    assert client.get(old).status_code == 404 and client.get(new).status_code == 200


def test_what_goes_beyond_the_policy_is_said_in_the_debtors_language(
    client: FlaskClient, session: Session, case: Case
) -> None:
    with unscoped(session):
        session.get(Case, case.id).debtor.language = "de"
        session.commit()
    query = "&".join(f"{k}={v}" for k, v in plan_form(instalments="24").items())
    page = client.get(f"{link(case)}/plan?{query}").get_data(as_text=True)
    assert "24 Raten (wir können bis zu 12 vereinbaren)" in page
    assert "policy allows" not in page


def test_a_declined_plan_tells_the_debtor_why(
    client: FlaskClient, session: Session, case: Case
) -> None:
    plan_url = f"{link(case)}/plan"
    client.post(plan_url, data=plan_form(instalments="24") | {"csrf_token": csrf(client, plan_url)})
    with unscoped(session):
        plan = session.scalars(select(PaymentPlan)).one()
        collector = make_user(session, Role.COLLECTOR)
        session.commit()
    sign_in(client, collector)
    case_page = f"/agency/cases/{case.id}"
    token = re.search(
        r'id="plan-csrf_token" name="plan-csrf_token" type="hidden" value="([^"]+)"',
        client.get(case_page).get_data(as_text=True),
    ).group(1)
    data = {"plan-csrf_token": token, "plan-decision": "decline"}
    refused = client.post(f"{case_page}/plans/{plan.id}/decision", data=data)
    assert refused.status_code == 422  # a decline needs the reason the debtor will read
    reason = "We can agree at most twelve monthly instalments."
    declined = client.post(
        f"{case_page}/plans/{plan.id}/decision", data=data | {"plan-comment": reason}
    )
    assert declined.status_code == 302
    with unscoped(session):
        session.expire_all()
        assert session.get(PaymentPlan, plan.id).status is PlanStatus.DECLINED
        to_debtor = select(OutboxMessage).where(OutboxMessage.recipient == case.debtor.email)
        told = session.scalars(to_debtor).one()
        assert reason in told.body_text and "payment plan" in told.subject
    assert "Choose a payment plan" in client.get(link(case)).get_data(as_text=True)
