"""Every route, as every role, against another tenant's objects: always refused.

Routes are discovered from the URL map, so a new route is walked without anyone
remembering to add it; a route whose URL names an object this walk does not know how
to supply fails the test until it is added to ``OBJECT_ARGUMENTS``.
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from portal.extensions import limiter
from portal.models import (
    Activity,
    Case,
    Checkout,
    CheckoutPurpose,
    Debtor,
    Delivery,
    Dispute,
    Document,
    DocumentKind,
    EnforcementAction,
    EnforcementKind,
    Frequency,
    ImportBatch,
    Instalment,
    Invitation,
    Invoice,
    Lawyer,
    LedgerEntry,
    LegalRequest,
    Notification,
    NotificationKind,
    Party,
    PasswordReset,
    PaymentPlan,
    PlanStatus,
    RemittanceStatement,
    Role,
    Settlement,
    SettlementStatus,
    User,
)
from portal.services import api_keys, payment_links
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user

# A 1x1 transparent PNG: the tenants' logos.
PNG_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
SECRET_DEBTOR = "Zeta Confidential Holdings"
SECRET_REFERENCE = "ZETA-SECRET-4711"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
# 401: the JSON API answers session-cookie requests without a bearer key (see test_api_isolation).
# 410: an invitation link that was used answers "gone".
REFUSED = {401, 403, 404, 405, 410}
ROLES = ("anonymous", "collector", "legal", "creditor_admin", "creditor_user")

# How to fill each URL argument with one of the *other* tenant's objects.
OBJECT_ARGUMENTS: dict[str, Callable[[dict], object]] = {
    # The other tenant's debtor link, revoked: a link that once worked opens nothing.
    "token": lambda objects: objects["token"],
    "case_id": lambda objects: objects["case"].id,
    "invoice_id": lambda objects: objects["invoice"].id,
    "document_id": lambda objects: objects["document"].id,
    "debtor_id": lambda objects: objects["debtor"].id,
    "activity_id": lambda objects: objects["activity"].id,
    "entry_id": lambda objects: objects["entry"].id,
    "tenant_id": lambda objects: objects["tenant"].id,
    "user_id": lambda objects: objects["user"].id,
    "batch_id": lambda objects: objects["batch"].id,
    "key_id": lambda objects: objects["api_key"].id,
    "dispute_id": lambda objects: objects["dispute"].id,
    "settlement_id": lambda objects: objects["settlement"].id,
    "plan_id": lambda objects: objects["plan"].id,
    "request_id": lambda objects: objects["legal_request"].id,
    "action_id": lambda objects: objects["enforcement_action"].id,
    "statement_id": lambda objects: objects["statement"].id,
    # Not a tenant's object: the agency's lawyers are shared (their admin is agency_admin only).
    "lawyer_id": lambda objects: objects["lawyer"].id,
    # A checkout on the simulated provider's page.
    "ref": lambda objects: objects["checkout"].provider_ref,
    # Not a tenant's object: a language the debtor's pages are not offered in (404).
    "code": lambda objects: "xx",
    "invitation_id": lambda objects: objects["invitation"].id,
    # The other tenant's invitation link, already used: it opens nothing (410).
    "invitation_token": lambda objects: objects["invitation_token"],
    "notification_id": lambda objects: objects["notification"].id,
    # Letter texts are per tenant: the tenant in the URL is what is refused.
    "letter_key": lambda objects: "reminder",
    "language": lambda objects: "en",
    # The other tenant's user's link to choose a new password, already used: it opens
    # nothing (410).
    "reset_token": lambda objects: objects["reset_token"],
}


def tenant_objects(session: Session, tenant, *, debtor_name: str, reference: str) -> dict:
    case = make_case(session, tenant, debtor_name=debtor_name, reference=reference)
    document = Document(
        tenant_id=tenant.id,
        case_id=case.id,
        kind=DocumentKind.INVOICE,
        filename=f"{reference}.pdf",
        content_type="application/pdf",
        size_bytes=10,
        sha256="0" * 64,
        storage_key=f"tenant/{tenant.id}/case/{case.id}/doc",
        shareable_with_debtor=True,
    )
    user = make_user(session, Role.CREDITOR_ADMIN, tenant)
    batch = ImportBatch(
        tenant_id=tenant.id,
        created_by_id=user.id,
        filename=f"{reference}.csv",
        storage_key=f"tenant/{tenant.id}/imports/{reference.lower()}.csv",
        headers=["creditor_reference", "debtor_name"],
        summary={"preview": [[reference, debtor_name]]},
    )
    dispute = Dispute(
        tenant_id=tenant.id,
        case_id=case.id,
        raised_by=Party.DEBTOR,
        reason="Goods never delivered",
        due_on=date(2026, 3, 1),
    )
    settlement = Settlement(
        tenant_id=tenant.id,
        case_id=case.id,
        amount_minor=50_000,
        outstanding_minor=125_000,
        status=SettlementStatus.AWAITING_CREDITOR,
    )
    plan = PaymentPlan(
        tenant_id=tenant.id,
        case_id=case.id,
        status=PlanStatus.AWAITING_FIRST_PAYMENT,
        frequency=Frequency.MONTHLY,
        total_minor=125_000,
        instalment_count=24,
        start_on=date(2026, 4, 1),
    )
    lawyer = Lawyer(name=f"Counsel of {tenant.slug}", firm="Law LLP", email="law@law.example")
    session.add_all([document, batch, dispute, settlement, plan, lawyer])
    session.flush()
    checkout = Checkout(
        tenant_id=tenant.id,
        case_id=case.id,
        provider="simulated",
        provider_ref=f"sim_cs_{reference.lower()}",
        purpose=CheckoutPurpose.FULL,
        amount_minor=125_000,
        currency=case.currency,
    )
    first = Instalment(
        tenant_id=tenant.id,
        plan_id=plan.id,
        case_id=case.id,
        number=1,
        due_on=date(2026, 3, 1),
        amount_minor=5_000,
    )
    legal_request = LegalRequest(
        tenant_id=tenant.id, case_id=case.id, lawyer_id=lawyer.id, court_fees_minor=10_000
    )
    action = EnforcementAction(tenant_id=tenant.id, case_id=case.id, kind=EnforcementKind.LIEN)
    statement = RemittanceStatement(
        tenant_id=tenant.id, sequence=1, number=f"{reference}-0001", currency=case.currency,
        period_start=date(2026, 3, 1), period_end=date(2026, 3, 31), collected_minor=0,
        commission_minor=0, costs_minor=0, net_minor=0,
    )  # fmt: skip
    session.add_all([checkout, first, legal_request, action, statement])
    session.flush()
    api_key = api_keys.create_key(session, tenant, f"{reference} ERP", created_by_id=user.id).key
    invitation_token = f"invitation-token-of-{reference.lower()}"
    invitation = Invitation(
        email=f"colleague@{tenant.slug}.example",
        name="Invited Colleague",
        role=Role.CREDITOR_USER,
        tenant_id=tenant.id,
        token_hash=hashlib.sha256(invitation_token.encode()).hexdigest(),
        invited_by_id=user.id,
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )
    notification = Notification(
        user_id=user.id, tenant_id=tenant.id, case_id=case.id, kind=NotificationKind.MESSAGE,
        title=f"New message on {reference}", link=f"/creditor/cases/{case.id}",
        delivery=Delivery.DIGEST,
    )  # fmt: skip
    reset_token = f"reset-token-of-{reference.lower()}"
    reset = PasswordReset(
        user_id=user.id,
        token_hash=hashlib.sha256(reset_token.encode()).hexdigest(),
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    tenant.logo_key = f"tenant/{tenant.id}/branding/logo.png"
    session.add_all([invitation, notification, reset])
    session.flush()
    return {
        "tenant": tenant,
        "case": case,
        "invoice": case.invoices[0],
        "document": document,
        "debtor": case.debtor,
        "activity": case.activities[0] if case.activities else None,
        "entry": case.ledger_entries[0],
        "user": user,
        "batch": batch,
        "api_key": api_key,
        "dispute": dispute,
        "settlement": settlement,
        "plan": plan,
        "checkout": checkout,
        "lawyer": lawyer,
        "legal_request": legal_request,
        "enforcement_action": action,
        "statement": statement,
        "invitation": invitation,
        "invitation_token": invitation_token,
        "notification": notification,
        "reset": reset,
        "reset_token": reset_token,
    }


@pytest.fixture
def world(app: Flask, session: Session) -> dict:
    with unscoped(session):
        ours, theirs = make_tenant(session, "ours"), make_tenant(session, "theirs")
        mine = tenant_objects(session, ours, debtor_name="Our Own Debtor", reference="OURS-1")
        other = tenant_objects(
            session, theirs, debtor_name=SECRET_DEBTOR, reference=SECRET_REFERENCE
        )
        session.refresh(mine["case"])
        session.refresh(other["case"])
        mine["token"] = payment_links.token_for(mine["case"])
        other["token"] = payment_links.token_for(other["case"])
        payment_links.revoke(other["case"])
        other["invitation"].accepted_at = datetime.now(UTC)
        other["reset"].used_at = datetime.now(UTC)
        mine["activity"], other["activity"] = (
            mine["case"].activities[0],
            other["case"].activities[0],
        )
        users = {
            "collector": make_user(session, Role.COLLECTOR, limited_to=[ours]),
            "legal": make_user(session, Role.LEGAL, limited_to=[ours]),
            "creditor_admin": make_user(session, Role.CREDITOR_ADMIN, ours),
            "creditor_user": make_user(session, Role.CREDITOR_USER, ours),
            # Sees every tenant: in the control walk only (its pages are its own).
            "agency_admin": make_user(session, Role.AGENCY_ADMIN),
        }
        session.commit()
    storage = app.extensions["portal.storage"]
    for objects in (mine, other):  # the document routes serve real bytes
        key = objects["document"].storage_key
        storage.put(key, io.BytesIO(b"%PDF-1.7\n%%EOF\n"), "application/pdf")
        logo = objects["tenant"].logo_key
        storage.put(logo, io.BytesIO(PNG_PIXEL), "image/png")
    return {"mine": mine, "theirs": other, "users": users}


def routes(app: Flask) -> list[Rule]:
    return [rule for rule in app.url_map.iter_rules() if rule.endpoint != "static"]


def url_for_rule(rule: Rule, objects: dict) -> str:
    unknown = set(rule.arguments) - set(OBJECT_ARGUMENTS)
    assert not unknown, f"{rule.rule}: add {sorted(unknown)} to OBJECT_ARGUMENTS"
    values = {name: OBJECT_ARGUMENTS[name](objects) for name in rule.arguments}
    return rule.build(values, append_unknown=False)[1]


def as_role(client: FlaskClient, world: dict, role: str) -> FlaskClient:
    with client.session_transaction() as http_session:
        http_session.clear()
    return client if role == "anonymous" else sign_in(client, world["users"][role])


def snapshot(session: Session, tenant_id: int) -> dict:
    with unscoped(session):
        counts = {
            model.__name__: session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            )
            for model in (Case, Debtor, Invoice, Document, Activity, LedgerEntry)
        }
        cases = session.execute(
            select(Case.id, Case.stage, Case.assigned_collector_id, Case.next_action_on)
            .where(Case.tenant_id == tenant_id)
            .order_by(Case.id)
        ).all()
        users = session.execute(
            select(User.id, User.email, User.role, User.active).where(User.tenant_id == tenant_id)
        ).all()
    return {"counts": counts, "cases": cases, "users": users}


def test_every_route_refuses_other_tenants_objects(
    app: Flask, client: FlaskClient, session: Session, world: dict, monkeypatch
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # reach the access checks
    theirs = world["theirs"]
    before = snapshot(session, theirs["tenant"].id)
    walked = 0
    for rule in routes(app):
        url = url_for_rule(rule, theirs)
        for method in sorted(set(METHODS) & rule.methods):
            for role in ROLES:
                limiter.reset()
                response = as_role(client, world, role).open(url, method=method, data={})
                body = response.get_data().decode("utf-8", "replace")  # logos are PNG
                where = f"{role} {method} {rule.rule}"
                assert SECRET_DEBTOR not in body and SECRET_REFERENCE not in body, where
                if rule.arguments:
                    if role == "anonymous" and response.status_code == 302:
                        assert response.headers["Location"].startswith("/login"), where
                    else:
                        assert response.status_code in REFUSED, f"{where}: {response.status_code}"
                else:
                    assert response.status_code < 500, f"{where}: {response.status_code}"
                walked += 1
    assert walked >= len(routes(app)) * len(ROLES)
    assert snapshot(session, theirs["tenant"].id) == before


def test_the_walk_reaches_the_views_with_own_objects(
    app: Flask, client: FlaskClient, world
) -> None:
    """Control: the same URLs with the user's own objects open, so refusals above are real."""
    for rule in routes(app):
        if not rule.arguments or "GET" not in rule.methods:
            continue
        if rule.endpoint.startswith("api."):  # bearer keys, not roles: test_api_isolation
            continue
        url = url_for_rule(rule, world["mine"])
        codes = {
            role: as_role(client, world, role).get(url).status_code
            for role in (*ROLES, "agency_admin")
        }
        assert 200 in codes.values(), f"{rule.rule} opened for nobody: {codes}"


NEIGHBOUR_DEBTOR = "Neighbour Of Ours Ltd"


# --- a debtor holding a link that works -------------------------------------------------------
# The walk above gives the link too from the other tenant (revoked). Here the debtor's own
# link works, and what else the URL names comes from another tenant, or from another case
# of the same creditor: always refused, never shown, nothing changed.


def link_routes(app: Flask) -> list[Rule]:
    """Routes opened by a payment link that also name another object."""
    return [rule for rule in routes(app) if "token" in rule.arguments and len(rule.arguments) > 1]


def walk_with_link(
    app: Flask, client: FlaskClient, token: str, objects: dict, secrets: tuple
) -> int:
    walked = 0
    for rule in link_routes(app):
        values = {name: OBJECT_ARGUMENTS[name](objects) for name in rule.arguments}
        url = rule.build({**values, "token": token}, append_unknown=False)[1]
        for method in sorted(set(METHODS) & rule.methods):
            limiter.reset()
            response = client.open(url, method=method, data={})
            body = response.get_data().decode("utf-8", "replace")
            assert response.status_code in REFUSED, f"{method} {url}: {response.status_code}"
            assert not any(secret in body for secret in secrets), f"{method} {url}"
            walked += 1
    return walked


def test_a_working_link_opens_no_other_tenants_objects(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    mine, theirs = world["mine"], world["theirs"]
    assert client.get(f"/pay/{mine['token']}").status_code == 200  # the link works
    before = snapshot(session, theirs["tenant"].id)

    walked = walk_with_link(app, client, mine["token"], theirs, (SECRET_DEBTOR, SECRET_REFERENCE))

    assert walked >= len(link_routes(app)) >= 1
    assert snapshot(session, theirs["tenant"].id) == before


def test_a_working_link_opens_no_other_case_of_the_same_creditor(
    app: Flask, client: FlaskClient, session: Session, world, monkeypatch
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)
    mine = world["mine"]
    with unscoped(session):
        neighbour = make_case(
            session, mine["tenant"], debtor_name=NEIGHBOUR_DEBTOR, reference="OURS-2"
        )
        document = Document(
            tenant_id=neighbour.tenant_id, case_id=neighbour.id, kind=DocumentKind.INVOICE,
            filename="neighbour-invoice.pdf", content_type="application/pdf", size_bytes=15,
            sha256="0" * 64,
            storage_key=f"tenant/{neighbour.tenant_id}/case/{neighbour.id}/neighbour",
            shareable_with_debtor=True,
        )  # fmt: skip
        session.add(document)
        session.commit()
        objects = {**mine, "case": neighbour, "document": document, "debtor": neighbour.debtor}
    app.extensions["portal.storage"].put(
        document.storage_key, io.BytesIO(b"%PDF-1.7\n%%EOF\n"), "application/pdf"
    )
    before = snapshot(session, mine["tenant"].id)

    walked = walk_with_link(app, client, mine["token"], objects, (NEIGHBOUR_DEBTOR, "OURS-2"))

    assert walked >= len(link_routes(app))
    assert snapshot(session, mine["tenant"].id) == before
