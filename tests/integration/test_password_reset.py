"""A forgotten password: a link by e-mail, single use, valid for an hour. Asking tells
nobody whether an address has an account; a link that was used or has expired, or one
never sent, changes nothing."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import AuditEntry, OutboxMessage, PasswordReset, Role, User
from portal.services import password_resets
from portal.services.passwords import verify_password
from tenants.scoping import unscoped
from tests.factories import PASSWORD, make_tenant, make_user
from tests.integration.test_auth import csrf_token, log_in

FORGOT = "/password/forgot"
NEW_PASSWORD = "a brand new passphrase"
LINK = re.compile(r"https?://\S+(/password/reset/\S+)")


@pytest.fixture
def people(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        people = {
            "user": make_user(session, Role.CREDITOR_USER, tenant),
            "other": make_user(session, Role.CREDITOR_USER, tenant),
            "collector": make_user(session, Role.COLLECTOR),
        }
        session.commit()
    return people


def ask(client: FlaskClient, email: str):
    return client.post(FORGOT, data={"email": email, "csrf_token": csrf_token(client, FORGOT)})


def mails(session: Session) -> list[OutboxMessage]:
    with unscoped(session):
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def link_for(client: FlaskClient, session: Session, user: User) -> str:
    """Ask for a link as the page does; the path of the link in the e-mail."""
    assert ask(client, user.email).status_code == 200
    mail = mails(session)[-1]
    assert mail.recipient == user.email
    found = LINK.search(mail.body_text)
    assert found, mail.body_text
    return found.group(1)


def choose(client: FlaskClient, path: str, password: str, again: str | None = None):
    token = csrf_token(client, FORGOT)  # the session's token: the link's page may be closed
    data = {"password": password, "password_again": again or password, "csrf_token": token}
    return client.post(path, data=data)


def stored(session: Session, user: User) -> User:
    session.expire_all()
    return session.get_one(User, user.id)


def test_the_login_page_offers_the_way(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert 'href="/password/forgot"' in page and "Forgot your password?" in page


def test_a_known_address_gets_a_single_use_link(
    client: FlaskClient, session: Session, people
) -> None:
    user = people["user"]
    path = link_for(client, session, user)
    token = path.rsplit("/", 1)[1]
    reset = session.scalars(select(PasswordReset).where(PasswordReset.user_id == user.id)).one()
    assert reset.token_hash == hashlib.sha256(token.encode()).hexdigest() != token
    assert timedelta(minutes=59) < reset.expires_at - utcnow() <= timedelta(minutes=60)
    assert client.get(path).status_code == 200
    before = stored(session, user).session_version

    done = choose(client, path, NEW_PASSWORD)
    assert done.headers["Location"] == "/login"
    assert "Your new password is set" in client.get("/login").get_data(as_text=True)
    after = stored(session, user)
    assert verify_password(after.password_hash, NEW_PASSWORD)
    assert after.session_version == before + 1
    assert log_in(client, user.email, PASSWORD).status_code == 401
    assert log_in(client, user.email, NEW_PASSWORD).headers["Location"] == "/creditor/"
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert "auth.password_reset_requested" in actions and "auth.password_reset" in actions


def test_an_unknown_address_gets_the_same_answer_and_nothing_is_sent(
    client: FlaskClient, session: Session, people
) -> None:
    known = ask(client, people["user"].email)
    sent = len(mails(session))
    unknown = ask(client, "nobody@acme.example")
    assert unknown.status_code == known.status_code == 200
    assert answer(unknown.get_data(as_text=True), "nobody@acme.example") == answer(
        known.get_data(as_text=True), people["user"].email
    )
    assert len(mails(session)) == sent
    assert session.scalar(select(func.count()).select_from(PasswordReset)) == 1


def answer(page: str, email: str) -> str:
    """The page without what differs by itself: the address asked for, the CSRF token."""
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", page.replace(email, "ADDRESS"))


def test_a_deactivated_account_gets_no_link(client: FlaskClient, session: Session, people) -> None:
    people["user"].active = False
    session.commit()
    assert ask(client, people["user"].email).status_code == 200
    assert mails(session) == []


@pytest.mark.parametrize("bad", ["", "not-an-address", "a@b.example" + "x" * 300])
def test_bad_addresses_are_refused_and_nothing_is_sent(
    client: FlaskClient, session: Session, people, bad: str
) -> None:
    response = ask(client, bad)
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert mails(session) == []
    assert session.scalar(select(func.count()).select_from(PasswordReset)) == 0


def test_asking_is_rate_limited(client: FlaskClient, session: Session, people) -> None:
    token = csrf_token(client, FORGOT)
    codes = [
        client.post(FORGOT, data={"email": "x@example.com", "csrf_token": token}).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [200] * 10 and codes[10] == 429


@pytest.mark.parametrize(
    ("password", "again", "problem"),
    [
        ("too short", "too short", "At least 12 characters."),
        (NEW_PASSWORD, "another passphrase", "The two passwords differ."),
        ("x" * 201, "x" * 201, "At most 200 characters."),
        ("", "", "This field is required."),
    ],
)
def test_a_bad_new_password_changes_nothing(
    client: FlaskClient, session: Session, people, password: str, again: str, problem: str
) -> None:
    user = people["user"]
    path = link_for(client, session, user)
    before = stored(session, user).password_hash
    response = choose(client, path, password, again)
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    assert stored(session, user).password_hash == before
    assert client.get(path).status_code == 200, "the link still works"


def test_a_link_works_once_and_uses_up_the_others(
    client: FlaskClient, session: Session, people
) -> None:
    user = people["user"]
    first, second = link_for(client, session, user), link_for(client, session, user)
    assert choose(client, first, NEW_PASSWORD).status_code == 302
    for path in (first, second):
        again = choose(client, path, "yet another passphrase")
        assert again.status_code == 410
        assert "already used" in again.get_data(as_text=True)
    assert verify_password(stored(session, user).password_hash, NEW_PASSWORD)


def test_an_expired_link_changes_nothing(
    app: Flask, client: FlaskClient, session: Session, people
) -> None:
    user = people["user"]
    earlier = utcnow() - password_resets.VALID_FOR - timedelta(seconds=1)
    sent_then = password_resets.request_reset(
        session, app.extensions["portal.mailer"], user.email, base_url="http://x", now=earlier
    )
    session.commit()
    assert sent_then is not None
    path = LINK.search(mails(session)[-1].body_text).group(1)  # type: ignore[union-attr]
    assert client.get(path).status_code == 410
    response = choose(client, path, NEW_PASSWORD)
    assert response.status_code == 410
    assert "expired" in response.get_data(as_text=True)
    assert verify_password(stored(session, user).password_hash, PASSWORD)


def test_an_unknown_link_is_not_found(client: FlaskClient) -> None:
    assert client.get("/password/reset/no-such-link").status_code == 404
    assert choose(client, "/password/reset/no-such-link", NEW_PASSWORD).status_code == 404


def test_a_link_changes_only_its_own_users_password(
    client: FlaskClient, session: Session, people
) -> None:
    user, other = people["user"], people["other"]
    path = link_for(client, session, user)
    other_before = stored(session, other)
    hash_before, version_before = other_before.password_hash, other_before.session_version
    log_in(client, other.email)  # whoever opens the link, signed in or not
    assert choose(client, path, NEW_PASSWORD).status_code == 302
    assert stored(session, other).password_hash == hash_before
    assert stored(session, other).session_version == version_before
    assert verify_password(stored(session, user).password_hash, NEW_PASSWORD)


def test_the_link_ends_the_users_sessions(
    app: Flask, client: FlaskClient, session: Session, people
) -> None:
    user = people["collector"]
    elsewhere = app.test_client()
    log_in(elsewhere, user.email)
    assert elsewhere.get("/agency/").status_code == 200
    assert choose(client, link_for(client, session, user), NEW_PASSWORD).status_code == 302
    assert elsewhere.get("/agency/").status_code == 302


def test_the_mail_names_the_public_address(client: FlaskClient, session: Session, people) -> None:
    path = link_for(client, session, people["user"])
    mail = mails(session)[-1]
    base = client.application.extensions["portal.settings"].public_base_url
    assert f"{base.rstrip('/')}{path}" in mail.body_text
