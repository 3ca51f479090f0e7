"""The second factor: a code from an authenticator app (or a recovery code) after the
password; setting it up; who must have one (staff by the portal's setting, a client's
users when their client requires it); and each person's own security page."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.account.security import SETUP_IN_PROGRESS as ACCOUNT_SETUP
from portal.auth.second_factor import SETUP_IN_PROGRESS
from portal.auth.views import PENDING_SINCE
from portal.config import Settings
from portal.db import utcnow
from portal.models import AuditEntry, RecoveryCode, Role, Tenant, User
from portal.services import second_factor, users
from tenants.scoping import unscoped
from tests.factories import PASSWORD, make_tenant, make_user
from tests.integration.test_auth import csrf_token, log_in

ModelT = TypeVar("ModelT", User, Tenant)
CODE_PAGE = "/login/second-factor"
ENROL_PAGE = "/login/enrol"


@pytest.fixture
def staff_must(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Staff must sign in with a second factor (the production default)."""
    settings = dataclasses.replace(app.extensions["portal.settings"], second_factor_for_staff=True)
    monkeypatch.setitem(app.extensions, "portal.settings", settings)


@pytest.fixture
def people(session: Session) -> dict:
    with unscoped(session):
        acme, globex = make_tenant(session, "acme"), make_tenant(session, "globex")
        people = {
            "acme": acme,
            "globex": globex,
            "admin": make_user(session, Role.CREDITOR_ADMIN, acme),
            "colleague": make_user(session, Role.CREDITOR_USER, acme),
            "globex_user": make_user(session, Role.CREDITOR_USER, globex),
            "collector": make_user(session, Role.COLLECTOR),
        }
        session.commit()
    return people


def set_up_app(session: Session, user: User) -> tuple[pyotp.TOTP, list[str]]:
    """Give the user a confirmed authenticator secret and recovery codes."""
    user.totp_secret, user.totp_enabled_at = pyotp.random_base32(), utcnow()
    codes = second_factor.renew_recovery_codes(session, user, utcnow())
    session.commit()
    return pyotp.TOTP(user.totp_secret), codes


def reloaded(session: Session, thing: ModelT) -> ModelT:
    """The row as the database holds it now (the request's session has ended)."""
    session.expire_all()
    with unscoped(session):
        return session.get_one(type(thing), thing.id)  # type: ignore[attr-defined]


def give_code(client: FlaskClient, code: str):
    return client.post(CODE_PAGE, data={"code": code, "csrf_token": csrf_token(client, CODE_PAGE)})


def sign_in_with_second_factor(client: FlaskClient, user: User) -> FlaskClient:
    """A session as the sign-in with the second factor leaves it."""
    with client.session_transaction() as http_session:
        http_session.clear()
        http_session["_user_id"] = str(user.id)
        http_session["_fresh"] = True
        users.stamp_session(http_session, user)
        users.note_second_factor(http_session)
    return client


def actions(session: Session, user: User) -> list[str]:
    statement = (
        select(AuditEntry.action)
        .where(
            (AuditEntry.actor_id == user.id)
            | ((AuditEntry.object_type == "User") & (AuditEntry.object_id == str(user.id)))
        )
        .order_by(AuditEntry.id)
    )
    return list(session.scalars(statement))


def signed_in(client: FlaskClient, home: str) -> bool:
    return client.get(home).status_code == 200


# --- signing in with a code -------------------------------------------------------------


def test_the_password_alone_signs_nobody_in_and_the_code_completes_it(
    client: FlaskClient, session: Session, people
) -> None:
    user = people["colleague"]
    totp, _ = set_up_app(session, user)
    response = log_in(client, user.email, query="?next=/creditor/cases")
    assert response.headers["Location"] == CODE_PAGE
    assert not signed_in(client, "/creditor/")
    page = client.get(CODE_PAGE).get_data(as_text=True)
    assert "authenticator app" in page and "recovery codes" in page
    done = give_code(client, totp.now())
    assert done.status_code == 302
    assert done.headers["Location"] == "/creditor/cases"
    assert signed_in(client, "/creditor/")
    login = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "auth.login", AuditEntry.actor_id == user.id)
    ).one()
    assert login.details["second_factor"] == "authenticator"


def test_a_wrong_code_is_refused_and_audited(client: FlaskClient, session: Session, people) -> None:
    user = people["colleague"]
    totp, _ = set_up_app(session, user)
    log_in(client, user.email)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    response = give_code(client, wrong)
    assert response.status_code == 422
    assert "That code is not right" in response.get_data(as_text=True)
    assert not signed_in(client, "/creditor/")
    assert "auth.second_factor_failed" in actions(session, user)
    assert "auth.login" not in actions(session, user)
    assert give_code(client, totp.now()).status_code == 302, "the sign-in still waits"


@pytest.mark.parametrize("bad", ["", "x" * 33])
def test_an_empty_or_overlong_code_is_refused(
    client: FlaskClient, session: Session, people, bad: str
) -> None:
    user = people["colleague"]
    set_up_app(session, user)
    log_in(client, user.email)
    assert give_code(client, bad).status_code == 422
    assert not signed_in(client, "/creditor/")


def test_a_code_signs_in_once(client: FlaskClient, session: Session, people) -> None:
    user = people["colleague"]
    totp, _ = set_up_app(session, user)
    code = totp.now()
    log_in(client, user.email)
    assert give_code(client, code).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/creditor/")})
    log_in(client, user.email)
    replayed = give_code(client, code)
    assert replayed.status_code == 422
    assert not signed_in(client, "/creditor/")


def test_a_recovery_code_signs_in_once(client: FlaskClient, session: Session, people) -> None:
    user = people["colleague"]
    _, codes = set_up_app(session, user)
    log_in(client, user.email)
    first = give_code(client, codes[0].upper())  # as someone might type it
    assert first.status_code == 302
    assert "recovery code: 9 left" in client.get("/creditor/").get_data(as_text=True)
    assert "auth.recovery_code_used" in actions(session, user)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/creditor/")})
    log_in(client, user.email)
    assert give_code(client, codes[0]).status_code == 422
    assert not signed_in(client, "/creditor/")
    assert give_code(client, codes[1]).status_code == 302


def test_a_pending_sign_in_expires_after_five_minutes(
    client: FlaskClient, session: Session, people
) -> None:
    user = people["colleague"]
    totp, _ = set_up_app(session, user)
    log_in(client, user.email)
    token = csrf_token(client, CODE_PAGE)
    with client.session_transaction() as http_session:
        http_session[PENDING_SINCE] = (utcnow() - timedelta(minutes=5, seconds=1)).timestamp()
    response = client.post(CODE_PAGE, data={"code": totp.now(), "csrf_token": token})
    assert response.headers["Location"] == "/login"
    assert "took too long" in client.get("/login").get_data(as_text=True)
    assert not signed_in(client, "/creditor/")
    assert client.get(CODE_PAGE).headers["Location"] == "/login"


def test_the_code_step_is_rate_limited(client: FlaskClient, session: Session, people) -> None:
    user = people["colleague"]
    set_up_app(session, user)
    log_in(client, user.email)
    token = csrf_token(client, CODE_PAGE)
    codes = [
        client.post(CODE_PAGE, data={"code": "000000", "csrf_token": token}).status_code
        for _ in range(11)
    ]
    assert codes[-1] == 429


def test_without_a_pending_sign_in_the_steps_send_to_the_login(client: FlaskClient) -> None:
    assert client.get(CODE_PAGE).headers["Location"] == "/login"
    assert client.get(ENROL_PAGE).headers["Location"] == "/login"


# --- who must have one ------------------------------------------------------------------


def test_the_setting_is_on_in_production_and_cannot_be_off_there(tmp_path: Path) -> None:
    assert not Settings.from_env({}, tmp_path).second_factor_for_staff
    assert Settings.from_env({"PORTAL_ENV": "production"}, tmp_path).second_factor_for_staff
    off = Settings.from_env(
        {"PORTAL_ENV": "production", "SECOND_FACTOR_FOR_STAFF": "off"}, tmp_path
    )
    assert any("SECOND_FACTOR_FOR_STAFF" in problem for problem in off.problems())
    on = Settings.from_env({"SECOND_FACTOR_FOR_STAFF": "on"}, tmp_path)
    assert on.second_factor_for_staff
    assert not any("SECOND_FACTOR_FOR_STAFF" in problem for problem in on.problems())


@pytest.mark.usefixtures("staff_must")
def test_staff_without_a_second_factor_reach_nothing_but_its_set_up(
    client: FlaskClient, session: Session, people
) -> None:
    collector = people["collector"]
    assert log_in(client, collector.email).headers["Location"] == ENROL_PAGE
    for path in ("/agency/", "/account/security", "/account/password", CODE_PAGE):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith(("/login", ENROL_PAGE)), path
    assert client.get(ENROL_PAGE).status_code == 200
    # A session that did not give the second factor is signed out at once.
    sign_in_with_second_factor(client, collector)
    with client.session_transaction() as http_session:
        http_session.pop(users.SECOND_FACTOR_GIVEN)
    assert client.get("/agency/").status_code == 302


@pytest.mark.usefixtures("staff_must")
def test_setting_up_with_a_wrong_first_code_stores_nothing(
    client: FlaskClient, session: Session, people
) -> None:
    collector = people["collector"]
    log_in(client, collector.email)
    page = client.get(ENROL_PAGE).get_data(as_text=True)
    assert 'src="data:image/svg+xml' in page
    with client.session_transaction() as http_session:
        secret = http_session[SETUP_IN_PROGRESS]
    assert secret[:4] in page, "the key is shown as text too"
    totp = pyotp.TOTP(secret)
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    token = csrf_token(client, ENROL_PAGE)
    for bad in (wrong, "", "12345", "abcdef"):
        response = client.post(ENROL_PAGE, data={"code": bad, "csrf_token": token})
        assert response.status_code == 422, bad
    assert reloaded(session, collector).totp_secret is None
    assert reloaded(session, collector).totp_enabled_at is None
    count = select(func.count()).select_from(RecoveryCode)
    assert session.scalar(count.where(RecoveryCode.user_id == collector.id)) == 0
    assert not signed_in(client, "/agency/")

    done = client.post(ENROL_PAGE, data={"code": totp.now(), "csrf_token": token})
    assert done.status_code == 200
    shown = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", done.get_data(as_text=True))
    assert len(shown) == 10
    assert reloaded(session, collector).totp_secret == secret
    assert reloaded(session, collector).totp_enabled_at is not None
    stored = session.scalars(
        select(RecoveryCode.code_hash).where(RecoveryCode.user_id == collector.id)
    ).all()
    assert len(stored) == 10 and not set(shown) & set(stored), "only hashes are kept"
    assert signed_in(client, "/agency/")
    assert "auth.second_factor_enrolled" in actions(session, collector)


@pytest.mark.usefixtures("staff_must")
def test_staff_with_a_second_factor_give_it(client: FlaskClient, session: Session, people) -> None:
    collector = people["collector"]
    totp, _ = set_up_app(session, collector)
    assert log_in(client, collector.email).headers["Location"] == CODE_PAGE
    assert give_code(client, totp.now()).headers["Location"] == "/agency/"


def test_staff_sign_in_with_the_password_when_the_setting_is_off(
    client: FlaskClient, people
) -> None:
    assert log_in(client, people["collector"].email).headers["Location"] == "/agency/"


def test_a_clients_users_are_held_to_its_requirement_and_no_other_clients(
    client: FlaskClient, app: Flask, session: Session, people
) -> None:
    with unscoped(session):
        people["acme"].require_second_factor = True
        session.commit()
    colleague = people["colleague"]
    assert log_in(client, colleague.email).headers["Location"] == ENROL_PAGE
    assert not signed_in(client, "/creditor/")
    # A session from before the requirement ends on its next request.
    other = app.test_client()
    sign_in_with_second_factor(other, colleague)
    with other.session_transaction() as http_session:
        http_session.pop(users.SECOND_FACTOR_GIVEN)
    assert other.get("/creditor/").status_code == 302
    # Another client's users are not concerned.
    third = app.test_client()
    assert log_in(third, people["globex_user"].email).headers["Location"] == "/creditor/"


# --- the client's admin requires it -----------------------------------------------------

REQUIRE = "/creditor/users/second-factor"


def require(client: FlaskClient, value: str):
    token = csrf_token(client, "/creditor/users")
    return client.post(REQUIRE, data={"required": value, "csrf_token": token})


def test_an_admin_requires_a_second_factor_of_everyone_at_the_client(
    client: FlaskClient, session: Session, people
) -> None:
    admin = people["admin"]
    set_up_app(session, admin)
    sign_in_with_second_factor(client, admin)
    page = client.get("/creditor/users").get_data(as_text=True)
    assert "Require a second factor for everyone at Acme Ltd" in page
    assert require(client, "on").headers["Location"] == "/creditor/users"
    assert reloaded(session, people["acme"]).require_second_factor
    assert not reloaded(session, people["globex"]).require_second_factor
    entry = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "tenant.second_factor_required")
    ).one()
    assert entry.actor_id == admin.id and entry.tenant_id == people["acme"].id
    assert entry.details == {"before": False, "after": True}
    assert signed_in(client, "/creditor/"), "the admin gave theirs: still signed in"
    assert require(client, "off").status_code == 302
    assert not reloaded(session, people["acme"]).require_second_factor


@pytest.mark.parametrize("bad", ["", "maybe", "x" * 500])
def test_the_requirement_refuses_bad_input(
    client: FlaskClient, session: Session, people, bad: str
) -> None:
    admin = people["admin"]
    set_up_app(session, admin)
    sign_in_with_second_factor(client, admin)
    assert require(client, bad).status_code == 422
    assert not reloaded(session, people["acme"]).require_second_factor


def test_an_admin_without_a_second_factor_cannot_require_one(
    client: FlaskClient, session: Session, people
) -> None:
    sign_in_with_second_factor(client, people["admin"])
    response = require(client, "on")
    assert response.status_code == 422
    assert "Set up your own second factor first" in response.get_data(as_text=True)
    assert not reloaded(session, people["acme"]).require_second_factor
    assert not [a for a in actions(session, people["admin"]) if a.startswith("tenant.")]


def test_only_a_clients_admin_may_require_it(client: FlaskClient, session: Session, people) -> None:
    sign_in_with_second_factor(client, people["colleague"])
    token = csrf_token(client, "/creditor/")
    assert client.post(REQUIRE, data={"required": "on", "csrf_token": token}).status_code == 403


# --- the person's own security page -----------------------------------------------------

SECURITY = "/account/security"


def security_post(client: FlaskClient, path: str, **data: str):
    return client.post(path, data={**data, "csrf_token": csrf_token(client, SECURITY)})


def test_a_person_sets_up_a_second_factor_on_their_security_page(
    client: FlaskClient, session: Session, people
) -> None:
    user = people["colleague"]
    sign_in_with_second_factor(client, user)
    page = client.get(SECURITY).get_data(as_text=True)
    assert "<strong>Off</strong>" in page and 'src="data:image/svg+xml' in page
    with client.session_transaction() as http_session:
        totp = pyotp.TOTP(http_session[ACCOUNT_SETUP])
    wrong = f"{(int(totp.now()) + 1) % 1_000_000:06d}"
    for bad in (wrong, "", "9" * 40):
        assert security_post(client, f"{SECURITY}/enrol", code=bad).status_code == 422
    assert reloaded(session, user).totp_secret is None
    done = security_post(client, f"{SECURITY}/enrol", code=totp.now())
    assert done.status_code == 200
    assert (
        len(re.findall(r"<code>[a-z0-9]{5}-[a-z0-9]{5}</code>", done.get_data(as_text=True))) == 10
    )
    assert reloaded(session, user).totp_enabled_at is not None
    assert "<strong>On</strong>" in client.get(SECURITY).get_data(as_text=True)


def test_new_recovery_codes_need_the_password_and_replace_the_old_ones(
    client: FlaskClient, session: Session, people
) -> None:
    user = people["colleague"]
    _, old = set_up_app(session, user)
    sign_in_with_second_factor(client, user)
    path = f"{SECURITY}/recovery-codes"
    for bad in ("", "not my password", "x" * 500):
        assert security_post(client, path, password=bad).status_code == 422
    hashes = set(session.scalars(select(RecoveryCode.code_hash)))
    response = security_post(client, path, password=PASSWORD)
    assert response.status_code == 200
    new = re.findall(r"<code>([a-z0-9]{5}-[a-z0-9]{5})</code>", response.get_data(as_text=True))
    assert len(new) == 10 and not set(new) & set(old)
    session.expire_all()
    assert not hashes & set(session.scalars(select(RecoveryCode.code_hash)))
    client.post("/logout", data={"csrf_token": csrf_token(client, "/creditor/")})
    log_in(client, user.email)
    assert give_code(client, old[0]).status_code == 422
    assert give_code(client, new[0]).status_code == 302


def test_turning_it_off_needs_the_password(client: FlaskClient, session: Session, people) -> None:
    user = people["colleague"]
    set_up_app(session, user)
    sign_in_with_second_factor(client, user)
    path = f"{SECURITY}/turn-off"
    assert security_post(client, path, password="not my password").status_code == 422
    assert second_factor.is_enabled(reloaded(session, user))
    assert security_post(client, path, password=PASSWORD).headers["Location"] == SECURITY
    assert not second_factor.is_enabled(reloaded(session, user))
    assert session.scalar(select(func.count()).select_from(RecoveryCode)) == 0
    assert "auth.second_factor_disabled" in actions(session, user)
    assert signed_in(client, "/creditor/")


@pytest.mark.usefixtures("staff_must")
def test_a_required_second_factor_cannot_be_turned_off(
    client: FlaskClient, session: Session, people
) -> None:
    collector = people["collector"]
    set_up_app(session, collector)
    sign_in_with_second_factor(client, collector)
    page = client.get(SECURITY).get_data(as_text=True)
    assert "cannot be turned off" in page and "Turn the second factor off" not in page
    response = security_post(client, f"{SECURITY}/turn-off", password=PASSWORD)
    assert response.status_code == 422
    assert second_factor.is_enabled(reloaded(session, collector))
