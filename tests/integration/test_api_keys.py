"""Tenant API keys: made and revoked by a creditor admin in the portal or by an operator."""

from __future__ import annotations

import hashlib
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import ApiKey, AuditEntry, Role
from portal.services import api_keys
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.api_support import ApiClient, new_key
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user

PAGE = "/creditor/api-keys"


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        other = make_tenant(session, "other")
        world = {
            "tenant": tenant,
            "admin": make_user(session, Role.CREDITOR_ADMIN, tenant),
            "user": make_user(session, Role.CREDITOR_USER, tenant),
            "collector": make_user(session, Role.COLLECTOR),
            "other_key": api_keys.create_key(session, other, "Their ERP", created_by_id=None).key,
        }
        world["tenant_id"] = tenant.id
        world["other_key_id"] = world["other_key"].id
        session.commit()
    return world


def csrf(client: FlaskClient) -> str:
    page = client.get(PAGE).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token on the page"
    return found.group(1)


def shown_key(page: str) -> str:
    found = re.search(r"<code data-new-key>([^<]+)</code>", page)
    assert found, "the new key is not on the page"
    return found.group(1)


def stored_keys(session: Session, tenant_id: int) -> list[ApiKey]:
    with unscoped(session):
        statement = select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id)
        return list(session.scalars(statement.execution_options(populate_existing=True)))


# --- the service ---------------------------------------------------------------------------


def test_a_key_is_kept_as_its_hash(session: Session, world: dict) -> None:
    with unscoped(session):
        made = api_keys.create_key(session, world["tenant"], " ERP ", created_by_id=None)
        session.commit()
    assert len(made.secret) == 43  # 32 random bytes, URL-safe base64
    key = stored_keys(session, world["tenant_id"])[0]
    assert key.key_hash == hashlib.sha256(made.secret.encode()).hexdigest()
    assert key.prefix == made.secret[:8]
    assert key.name == "ERP"
    assert made.secret not in {key.name, key.prefix, key.key_hash}
    assert api_keys.authenticate(session, made.secret).id == key.id
    assert api_keys.authenticate(session, made.secret[:-1] + "x") is None
    assert api_keys.authenticate(session, None) is None
    assert api_keys.authenticate(session, "x" * 1000) is None


@pytest.mark.parametrize(("name", "message"), [("  ", "Give the key a name"), ("x" * 101, "100")])
def test_a_key_needs_a_name(session: Session, world: dict, name: str, message: str) -> None:
    with unscoped(session), pytest.raises(api_keys.ApiKeyError, match=message):
        api_keys.create_key(session, world["tenant"], name, created_by_id=None)


def test_revoking_twice_changes_nothing(session: Session, world: dict) -> None:
    with unscoped(session):
        key = session.get(ApiKey, world["other_key_id"])
        assert api_keys.revoke(session, key, actor_id=None) is True
        revoked_at = key.revoked_at
        assert api_keys.revoke(session, key, actor_id=None) is False
        assert key.revoked_at == revoked_at


# --- the page ------------------------------------------------------------------------------


def test_an_admin_makes_a_key_and_sees_it_once(
    app: Flask, client: FlaskClient, session: Session, world: dict
) -> None:
    sign_in(client, world["admin"])
    assert "No keys yet." in client.get(PAGE).get_data(as_text=True)
    response = client.post(PAGE, data={"name": "Accounting system", "csrf_token": csrf(client)})
    assert response.status_code == 201
    page = response.get_data(as_text=True)
    secret = shown_key(page)
    assert "shown only this once" in page
    [key] = stored_keys(session, world["tenant_id"])
    assert key.created_by_id == world["admin"].id
    listing = client.get(PAGE).get_data(as_text=True)
    assert secret not in listing
    assert "Accounting system" in listing
    assert f"{key.prefix}…" in listing
    assert "never" in listing
    # The key opens the API, and its use shows on the page.
    assert ApiClient(app, client, secret).get("/cases").status_code == 200
    assert stored_keys(session, world["tenant_id"])[0].last_used_at is not None
    assert "never" not in client.get(PAGE).get_data(as_text=True)
    with unscoped(session):
        actions = set(session.scalars(select(AuditEntry.action)))
    assert "api_key.created" in actions


def test_an_admin_revokes_a_key(
    app: Flask, client: FlaskClient, session: Session, world: dict
) -> None:
    with unscoped(session):
        secret = new_key(session, world["tenant"], "Old ERP")
        session.commit()
    key_id = stored_keys(session, world["tenant_id"])[0].id
    api = ApiClient(app, client, secret)
    assert api.get("/cases").status_code == 200
    sign_in(client, world["admin"])
    response = client.post(f"{PAGE}/{key_id}/revoke", data={"csrf_token": csrf(client)})
    assert response.status_code == 302
    assert stored_keys(session, world["tenant_id"])[0].revoked_at is not None
    page = client.get(PAGE).get_data(as_text=True)
    assert "is revoked" in page
    assert "Revoked" in page
    assert api.get("/cases").status_code == 401


def test_another_tenants_key_cannot_be_revoked(
    client: FlaskClient, session: Session, world: dict
) -> None:
    sign_in(client, world["admin"])
    response = client.post(
        f"{PAGE}/{world['other_key_id']}/revoke", data={"csrf_token": csrf(client)}
    )
    assert response.status_code == 404
    with unscoped(session):
        key = session.get(ApiKey, world["other_key_id"], populate_existing=True)
        assert key.revoked_at is None
    assert "Their ERP" not in client.get(PAGE).get_data(as_text=True)


def test_a_blank_name_is_refused(client: FlaskClient, session: Session, world: dict) -> None:
    sign_in(client, world["admin"])
    response = client.post(PAGE, data={"name": "  ", "csrf_token": csrf(client)})
    assert response.status_code == 422
    assert stored_keys(session, world["tenant_id"]) == []


def test_forms_need_the_csrf_token(client: FlaskClient, session: Session, world: dict) -> None:
    with unscoped(session):
        new_key(session, world["tenant"])
        session.commit()
    key_id = stored_keys(session, world["tenant_id"])[0].id
    sign_in(client, world["admin"])
    assert client.post(PAGE, data={"name": "No token"}).status_code == 400
    assert client.post(f"{PAGE}/{key_id}/revoke").status_code == 400
    keys = stored_keys(session, world["tenant_id"])
    assert [(key.name, key.revoked_at) for key in keys] == [("ERP", None)]


@pytest.mark.parametrize(("role", "home"), [("user", "/creditor/"), ("collector", "/agency/")])
def test_only_creditor_admins_manage_keys(
    client: FlaskClient, session: Session, world: dict, role: str, home: str
) -> None:
    with unscoped(session):
        new_key(session, world["tenant"])
        session.commit()
    key_id = stored_keys(session, world["tenant_id"])[0].id
    sign_in(client, world[role])
    assert client.get(PAGE).status_code == 403
    page = client.get(home, follow_redirects=True).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # the sign-out form
    assert client.post(PAGE, data={"name": "Mine", "csrf_token": token}).status_code == 403
    revoke = client.post(f"{PAGE}/{key_id}/revoke", data={"csrf_token": token})
    assert revoke.status_code == 403
    assert [(key.name, key.revoked_at) for key in stored_keys(session, world["tenant_id"])] == [
        ("ERP", None)
    ]


def test_the_portfolio_links_admins_to_their_keys(client: FlaskClient, world: dict) -> None:
    sign_in(client, world["admin"])
    assert PAGE in client.get("/creditor/").get_data(as_text=True)
    sign_in(client, world["user"])
    assert PAGE not in client.get("/creditor/").get_data(as_text=True)


# --- the command ---------------------------------------------------------------------------


def test_an_operator_makes_a_key(app: Flask, client: FlaskClient, session: Session, world) -> None:
    result = app.test_cli_runner().invoke(args=["tenants", "api-key", "acme", "--name", "ERP"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", secret)
    [key] = stored_keys(session, world["tenant_id"])
    assert (key.name, key.created_by_id) == ("ERP", None)
    assert ApiClient(app, client, secret).get("/cases").status_code == 200


@pytest.mark.parametrize(
    ("args", "message"),
    [(["nobody", "--name", "ERP"], "no tenant 'nobody'"), (["acme", "--name", " "], "Give")],
)
def test_the_command_refuses_bad_input(app: Flask, session: Session, world, args, message) -> None:
    result = app.test_cli_runner().invoke(args=["tenants", "api-key", *args])
    assert result.exit_code == 1
    assert message in result.output
    set_scope(session, TenantScope.every_tenant())
    assert stored_keys(session, world["tenant_id"]) == []
