"""Invitations: the e-mailed link opens a page to choose a password, works once, and a
link that was used, withdrawn, has expired or was never sent creates nothing."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from portal.adapters.mail import OutboxMailer
from portal.db import utcnow
from portal.models import AuditEntry, Invitation, OutboxMessage, Role, Tenant, User
from portal.services import invitations
from tenants.scoping import unscoped
from tests.factories import make_tenant, make_user
from tests.race_support import race

PASSWORD = "a long enough passphrase"
LINK = re.compile(r"https?://\S+/invitations/\S+")


def invite(
    session: Session,
    *,
    email: str = "new.colleague@acme.example",
    role: Role = Role.CREDITOR_USER,
    tenant: Tenant | None = None,
    limited_to: list[int] | None = None,
    invited_by: User | None = None,
) -> tuple[Invitation, str]:
    """An invitation sent the way the pages send it, and the link in its e-mail."""
    with unscoped(session):
        if role in (Role.CREDITOR_ADMIN, Role.CREDITOR_USER) and tenant is None:
            tenant = make_tenant(session)
        inviter = invited_by or make_user(session, Role.AGENCY_ADMIN)
        sent = invitations.invite(
            session, OutboxMailer(), email=email, name="Nora New", role=role, tenant=tenant,
            limited_to_tenant_ids=limited_to or [], invited_by=inviter,
            base_url="https://portal.example",
        )  # fmt: skip
        session.commit()
    return sent, link_in_mail_to(session, email)


def link_in_mail_to(session: Session, email: str) -> str:
    """The path of the invitation link in the latest e-mail to this address."""
    with unscoped(session):
        mail = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.recipient == email)
            .order_by(OutboxMessage.id.desc())
        ).first()
    assert mail is not None, f"no e-mail to {email}"
    found = LINK.search(mail.body_text)
    assert found, mail.body_text
    return urlsplit(found.group(0)).path


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def accept_form(client: FlaskClient, path: str, **changes: str) -> dict[str, str]:
    token = csrf_token(client.get(path).get_data(as_text=True))
    return {
        "csrf_token": token, "name": "Nora New", "password": PASSWORD, "password_again": PASSWORD,
    } | changes  # fmt: skip


def users_with(session: Session, email: str) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(User).where(User.email == email))


def test_the_link_in_the_mail_opens_the_page_and_creates_the_account(
    client: FlaskClient, session: Session
) -> None:
    sent, path = invite(session, role=Role.CREDITOR_ADMIN)
    with unscoped(session):
        tenant_name = session.get_one(Tenant, sent.tenant_id).name
        inviter_name = session.get_one(User, sent.invited_by_id).name
    token = path.rsplit("/", 1)[1]
    assert sent.token_hash == hashlib.sha256(token.encode()).hexdigest() != token

    page = client.get(path)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert tenant_name in body and inviter_name in body and "creditor admin" in body

    accepted = client.post(path, data=accept_form(client, path, name="Nora N. New"))
    assert accepted.status_code == 302 and accepted.headers["Location"] == "/creditor/"
    assert client.get("/creditor/").status_code == 200  # signed in as the new account
    with unscoped(session):
        session.expire_all()
        user = session.scalars(select(User).where(User.email == sent.email)).one()
        assert (user.name, user.role, user.tenant_id) == (
            "Nora N. New",
            Role.CREDITOR_ADMIN,
            sent.tenant_id,
        )
        invitation = session.get_one(Invitation, sent.id)
        assert invitation.accepted_user_id == user.id and invitation.accepted_at is not None
        actions = set(session.scalars(select(AuditEntry.action)))
    assert {"invitation.sent", "invitation.accepted", "user.created"} <= actions


def test_a_staff_member_invited_for_some_clients_is_limited_to_them(
    client: FlaskClient, session: Session
) -> None:
    with unscoped(session):
        ours, other = make_tenant(session), make_tenant(session)
    sent, path = invite(
        session, email="col@agency.example", role=Role.COLLECTOR, limited_to=[ours.id]
    )
    accepted = client.post(path, data=accept_form(client, path))
    assert accepted.headers["Location"] == "/agency/"
    with unscoped(session):
        session.expire_all()
        user = session.scalars(select(User).where(User.email == sent.email)).one()
        assert user.limited_to_tenants and user.tenant_scope().allows(ours.id)
        assert not user.tenant_scope().allows(other.id)


def test_a_used_link_opens_nothing_the_second_time(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    sent, path = invite(session)
    assert client.post(path, data=accept_form(client, path)).status_code == 302
    other_browser = app.test_client()
    form = accept_form(other_browser, "/login") | {"name": "Someone Else"}
    again = other_browser.post(path, data=form)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    assert other_browser.get(path).status_code == 410
    assert users_with(session, sent.email) == 1


def test_an_expired_link_creates_nothing(client: FlaskClient, session: Session) -> None:
    sent, path = invite(session)
    form = accept_form(client, path)
    with unscoped(session):
        session.get_one(Invitation, sent.id).expires_at = utcnow() - timedelta(minutes=1)
        session.commit()
    page = client.get(path)
    assert page.status_code == 410 and "expired" in page.get_data(as_text=True)
    assert client.post(path, data=form).status_code == 410
    assert users_with(session, sent.email) == 0


def test_a_withdrawn_link_creates_nothing(client: FlaskClient, session: Session) -> None:
    sent, path = invite(session)
    form = accept_form(client, path)
    with unscoped(session):
        invitation = session.get_one(Invitation, sent.id)
        assert invitations.revoke(session, invitation, actor_id=sent.invited_by_id, now=utcnow())
        session.commit()
    page = client.get(path)
    assert page.status_code == 410 and "withdrawn" in page.get_data(as_text=True)
    assert client.post(path, data=form).status_code == 410
    assert users_with(session, sent.email) == 0


def test_an_unknown_link_is_not_found(client: FlaskClient, session: Session) -> None:
    invite(session)
    assert client.get("/invitations/no-such-token").status_code == 404
    refused = client.post("/invitations/no-such-token", data=accept_form(client, "/login"))
    assert refused.status_code == 404


def test_a_new_invitation_to_the_same_address_withdraws_the_open_one(
    client: FlaskClient, session: Session
) -> None:
    first, first_path = invite(session)
    with unscoped(session):
        tenant = session.get_one(Tenant, first.tenant_id)
    _, second_path = invite(session, tenant=tenant)
    assert first_path != second_path
    assert client.get(first_path).status_code == 410
    assert client.get(second_path).status_code == 200
    with unscoped(session):
        session.expire_all()
        assert session.get_one(Invitation, first.id).revoked_at is not None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"password": "short", "password_again": "short"}, "At least 12 characters"),
        ({"password_again": "something else entirely"}, "The two passwords differ"),
        ({"name": ""}, "This field is required"),
        ({"name": "x" * 201}, "200 characters"),
    ],
)
def test_a_bad_form_creates_nothing_and_keeps_the_link_open(
    client: FlaskClient, session: Session, changes: dict[str, str], message: str
) -> None:
    sent, path = invite(session)
    refused = client.post(path, data=accept_form(client, path, **changes))
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert users_with(session, sent.email) == 0
    assert client.get(path).status_code == 200


@pytest.mark.parametrize(
    ("email", "role", "limited", "message"),
    [
        ("not-an-address", Role.COLLECTOR, False, "not a valid e-mail address"),
        ("taken@agency.example", Role.COLLECTOR, False, "already has an account"),
        ("new@agency.example", Role.AGENCY_ADMIN, True, "not limited to clients"),
        ("new@agency.example", Role.CREDITOR_USER, False, "invited to that client"),
    ],
)
def test_invitations_that_cannot_work_are_refused(
    session: Session, email: str, role: Role, limited: bool, message: str
) -> None:
    with unscoped(session):
        admin = make_user(session, Role.AGENCY_ADMIN)
        make_user(session, Role.LEGAL, email="taken@agency.example")
        limits = [make_tenant(session).id] if limited else []
        with pytest.raises(invitations.InvitationError, match=message):
            invitations.invite(
                session, OutboxMailer(), email=email, name="Someone", role=role, tenant=None,
                limited_to_tenant_ids=limits, invited_by=admin, base_url="https://portal.example",
            )  # fmt: skip


def test_two_accepts_racing_with_one_link_create_one_user(race_engine: Engine) -> None:
    """Each in its own connection and transaction, released together by a barrier."""
    email = f"racer-{utcnow().timestamp()}@acme.example"
    with Session(race_engine, expire_on_commit=False) as setup, unscoped(setup):
        tenant = make_tenant(setup)
        admin = make_user(setup, Role.CREDITOR_ADMIN, tenant)
        invitations.invite(
            setup, OutboxMailer(), email=email, name="Racer", role=Role.CREDITOR_USER,
            tenant=tenant, limited_to_tenant_ids=[], invited_by=admin, base_url="https://p.example",
        )  # fmt: skip
        setup.commit()
        token = link_in_mail_to(setup, email).rsplit("/", 1)[1]
    created: list[int] = []
    closed: list[invitations.InvitationClosed] = []

    def accept(own: Session) -> None:
        try:
            user = invitations.accept(own, token, name="Racer", password=PASSWORD, now=utcnow())
            own.flush()
            created.append(user.id)
        except invitations.InvitationClosed as refusal:
            own.rollback()
            closed.append(refusal)

    errors = race(race_engine, accept, accept)
    assert errors == []
    assert (len(created), len(closed)) == (1, 1)
    with Session(race_engine) as check:
        assert check.scalar(select(func.count()).select_from(User).where(User.email == email)) == 1
        invitation = check.scalars(select(Invitation).where(Invitation.email == email)).one()
        assert invitation.accepted_user_id == created[0]
