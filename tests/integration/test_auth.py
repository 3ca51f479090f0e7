"""Signing in and out, roles, CSRF, rate limits, headers and error pages."""

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Role, Tenant, TenantStatus
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import PASSWORD, make_tenant, make_user


def csrf_token(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert found, "no CSRF token on the page"
    return found.group(1)


def log_in(client: FlaskClient, email: str, password: str = PASSWORD, **extra):
    return client.post(
        "/login" + extra.pop("query", ""),
        data={"email": email, "password": password, "csrf_token": csrf_token(client)},
        **extra,
    )


@pytest.fixture
def people(session: Session):
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        people = {
            "tenant": tenant,
            Role.CREDITOR_ADMIN: make_user(session, Role.CREDITOR_ADMIN, tenant),
            Role.CREDITOR_USER: make_user(session, Role.CREDITOR_USER, tenant),
            Role.AGENCY_ADMIN: make_user(session, Role.AGENCY_ADMIN),
            Role.COLLECTOR: make_user(session, Role.COLLECTOR),
            Role.LEGAL: make_user(session, Role.LEGAL),
        }
        session.commit()
    return people


@pytest.mark.parametrize(
    ("role", "home"),
    [
        (Role.CREDITOR_ADMIN, "/creditor/"),
        (Role.CREDITOR_USER, "/creditor/"),
        (Role.AGENCY_ADMIN, "/agency/"),
        (Role.COLLECTOR, "/agency/"),
        (Role.LEGAL, "/agency/"),
    ],
)
def test_each_role_signs_in_to_its_home(client: FlaskClient, people, role: Role, home: str) -> None:
    response = log_in(client, people[role].email)
    assert response.status_code == 302
    assert response.headers["Location"] == home
    assert client.get(home).status_code == 200
    assert client.get("/").headers["Location"] == home


def test_wrong_password_is_refused_and_audited(
    client: FlaskClient, session: Session, people
) -> None:
    user = people[Role.COLLECTOR]
    response = log_in(client, user.email, "not the password at all")
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)
    assert client.get("/agency/").status_code == 302
    actions = session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions[-1] == "auth.login_failed"


def test_unknown_email_gets_the_same_answer(client: FlaskClient, people) -> None:
    response = log_in(client, "nobody@example.com")
    assert response.status_code == 401
    assert "do not match an active account" in response.get_data(as_text=True)


def test_deactivated_user_and_suspended_tenant_cannot_sign_in(
    client: FlaskClient, session: Session, people
) -> None:
    people[Role.COLLECTOR].active = False
    with unscoped(session):
        people["tenant"].status = TenantStatus.SUSPENDED
        session.commit()
    assert log_in(client, people[Role.COLLECTOR].email).status_code == 401
    assert log_in(client, people[Role.CREDITOR_ADMIN].email).status_code == 401


def test_a_suspended_tenant_ends_open_sessions(
    client: FlaskClient, session: Session, people
) -> None:
    sign_in(client, people[Role.CREDITOR_USER])
    assert client.get("/creditor/").status_code == 200
    with unscoped(session):
        session.get(Tenant, people["tenant"].id).status = TenantStatus.SUSPENDED
        session.commit()
    assert client.get("/creditor/").status_code == 302


@pytest.mark.parametrize(
    "bad",
    [
        {"email": "not-an-email"},
        {"email": ""},
        {"password": ""},
        {"email": "a@b.example" + "x" * 300},
    ],
)
def test_malformed_login_form_is_refused(client: FlaskClient, people, bad) -> None:
    data = {
        "email": people[Role.LEGAL].email,
        "password": PASSWORD,
        "csrf_token": csrf_token(client),
    }
    response = client.post("/login", data={**data, **bad})
    assert response.status_code == 200
    assert client.get("/agency/").status_code == 302


def test_login_without_csrf_token_is_refused(client: FlaskClient, people) -> None:
    response = client.post("/login", data={"email": people[Role.LEGAL].email, "password": PASSWORD})
    assert response.status_code == 400
    assert "Bad request" in response.get_data(as_text=True)
    assert client.get("/agency/").status_code == 302


def test_logins_are_rate_limited(client: FlaskClient, people) -> None:
    token = csrf_token(client)
    codes = [
        client.post(
            "/login", data={"email": "x@example.com", "password": "wrong", "csrf_token": token}
        ).status_code
        for _ in range(11)
    ]
    assert codes[:10] == [401] * 10
    assert codes[10] == 429
    refused = client.post(
        "/login",
        data={"email": people[Role.LEGAL].email, "password": PASSWORD, "csrf_token": token},
    )
    assert refused.status_code == 429, "the right password does not get past the limit"
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert "Retry-After" in refused.headers


def test_next_parameter_cannot_send_people_elsewhere(client: FlaskClient, people) -> None:
    email = people[Role.COLLECTOR].email
    assert log_in(client, email, query="?next=//evil.example/x").headers["Location"] == "/agency/"
    client.post("/logout", data={"csrf_token": csrf_token(client, "/agency/")})
    inside = log_in(client, email, query="?next=/agency/%3Fdue%3Dall")
    assert inside.headers["Location"] == "/agency/?due=all"


def test_logout_is_a_post_and_ends_the_session(client: FlaskClient, people) -> None:
    log_in(client, people[Role.COLLECTOR].email)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout", data={}).status_code == 400  # no CSRF token
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/agency/")})
    assert response.headers["Location"] == "/login"
    assert client.get("/agency/").status_code == 302


def test_roles_keep_to_their_side(client: FlaskClient, people) -> None:
    sign_in(client, people[Role.CREDITOR_ADMIN])
    assert client.get("/agency/").status_code == 403
    sign_in(client, people[Role.COLLECTOR])
    assert client.get("/creditor/").status_code == 403
    assert client.get("/agency/tenants").status_code == 403
    sign_in(client, people[Role.AGENCY_ADMIN])
    assert client.get("/agency/tenants").status_code == 200


def test_anonymous_visitors_are_sent_to_sign_in(client: FlaskClient) -> None:
    response = client.get("/creditor/")
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")


def test_security_headers_and_cookie_flags(client: FlaskClient, people) -> None:
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    cookie = log_in(client, people[Role.LEGAL].email).headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_carry_no_inline_script_or_style(client: FlaskClient, people) -> None:
    """The CSP forbids them, so a page that used one would break in the browser."""
    sign_in(client, people[Role.AGENCY_ADMIN])
    for path in ("/login", "/agency/", "/agency/tenants", "/pay/"):
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)", page), path
        assert " style=" not in page and "<style" not in page, path


def test_clear_error_pages(client: FlaskClient, people) -> None:
    missing = client.get("/no/such/page")
    assert missing.status_code == 404
    assert "There is nothing here" in missing.get_data(as_text=True)
    sign_in(client, people[Role.COLLECTOR])
    forbidden = client.get("/creditor/")
    assert forbidden.status_code == 403
    assert "does not have access" in forbidden.get_data(as_text=True)
