"""Sessions end: signing out ends every session of the user (a copied cookie too), and a
password change ends every other session while the one that made it continues."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Role, User
from portal.services.passwords import verify_password
from tenants.scoping import unscoped
from tests.factories import PASSWORD, make_tenant, make_user
from tests.integration.test_auth import csrf_token, log_in

CHANGE = "/account/password"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def user(session: Session) -> User:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        user = make_user(session, Role.CREDITOR_USER, tenant)
        session.commit()
    return user


def stored(session: Session, user: User) -> User:
    session.expire_all()
    return session.get_one(User, user.id)


def session_cookie(client: FlaskClient) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None
    return cookie.value


def change(client: FlaskClient, current: str, new: str, again: str | None = None):
    data = {
        "current_password": current,
        "password": new,
        "password_again": new if again is None else again,
        "csrf_token": csrf_token(client, CHANGE),
    }
    return client.post(CHANGE, data=data)


def test_after_signing_out_a_copy_of_the_cookie_is_refused(
    app: Flask, client: FlaskClient, user: User
) -> None:
    log_in(client, user.email)
    assert client.get("/creditor/").status_code == 200
    copied = session_cookie(client)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/creditor/")})
    thief = app.test_client()
    thief.set_cookie("session", copied)
    response = thief.get("/creditor/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_signing_out_ends_the_users_other_sessions(
    app: Flask, client: FlaskClient, user: User
) -> None:
    elsewhere = app.test_client()
    log_in(client, user.email)
    log_in(elsewhere, user.email)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/creditor/")})
    assert elsewhere.get("/creditor/").status_code == 302
    log_in(elsewhere, user.email)
    assert elsewhere.get("/creditor/").status_code == 200, "signing in again works"


def test_a_password_change_keeps_this_session_and_ends_the_others(
    app: Flask, client: FlaskClient, session: Session, user: User
) -> None:
    elsewhere = app.test_client()
    log_in(client, user.email)
    log_in(elsewhere, user.email)
    before = stored(session, user).session_version
    response = change(client, PASSWORD, NEW_PASSWORD)
    assert response.headers["Location"] == CHANGE
    assert "Your password is changed" in client.get(CHANGE).get_data(as_text=True)
    assert client.get("/creditor/").status_code == 200
    assert elsewhere.get("/creditor/").status_code == 302
    after = stored(session, user)
    assert after.session_version == before + 1
    assert verify_password(after.password_hash, NEW_PASSWORD)
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "auth.password_changed")
    ).one()
    assert entry.actor_id == user.id and entry.tenant_id == user.tenant_id


@pytest.mark.parametrize(
    ("current", "new", "again", "problem"),
    [
        ("not my password", NEW_PASSWORD, None, "Your current password is not right."),
        ("", NEW_PASSWORD, None, "This field is required."),
        (PASSWORD, "too short", None, "At least 12 characters."),
        (PASSWORD, NEW_PASSWORD, "something else entirely", "The two passwords differ."),
        (PASSWORD, "x" * 201, None, "At most 200 characters."),
        ("x" * 201, NEW_PASSWORD, None, "Field cannot be longer than 200 characters."),
    ],
)
def test_a_bad_password_change_changes_nothing(
    app: Flask,
    client: FlaskClient,
    session: Session,
    user: User,
    current: str,
    new: str,
    again: str | None,
    problem: str,
) -> None:
    elsewhere = app.test_client()
    log_in(client, user.email)
    log_in(elsewhere, user.email)
    before = stored(session, user)
    hash_before, version_before = before.password_hash, before.session_version
    response = change(client, current, new, again)
    assert response.status_code == 422
    assert problem in response.get_data(as_text=True)
    after = stored(session, user)
    assert after.password_hash == hash_before and after.session_version == version_before
    assert elsewhere.get("/creditor/").status_code == 200


def test_the_password_page_needs_a_signed_in_user(client: FlaskClient) -> None:
    response = client.get(CHANGE)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
