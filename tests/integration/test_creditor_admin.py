"""A client's admins keep their own team and company details; their users may not, and
another client's people are not found. Bad input changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Invitation, OutboxMessage, Role, Tenant, User
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user

COMPANY = {
    "legal_name": "Acme Supplies GmbH",
    "legal_address": "Hauptstraße 1\n10115 Berlin",
    "registration_number": "HRB 12345",
    "vat_number": "de 123 456 789",
    "approver_name": "Petra Prokurist",
    "approver_email": "Petra@Acme.example",
    "account_holder": "Acme Supplies GmbH",
    "iban": "de89 3704 0044 0532 0130 00",
    "bic": "COBADEFFXXX",
}


@pytest.fixture
def world(session: Session) -> dict[str, Any]:
    with unscoped(session):
        ours, theirs = make_tenant(session), make_tenant(session)
        people = {
            "admin": make_user(session, Role.CREDITOR_ADMIN, ours),
            "colleague": make_user(session, Role.CREDITOR_USER, ours),
            "stranger": make_user(session, Role.CREDITOR_USER, theirs),
            "their_admin": make_user(session, Role.CREDITOR_ADMIN, theirs),
        }
        session.commit()
    return people | {"ours": ours, "theirs": theirs}


@pytest.fixture
def admin(client: FlaskClient, world: dict[str, Any]) -> FlaskClient:
    return sign_in(client, world["admin"])


def token(client: FlaskClient, path: str = "/creditor/users") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def reloaded(session: Session, model: type[Any], object_id: int) -> Any:
    with unscoped(session):
        session.expire_all()
        return session.get_one(model, object_id)


def count(session: Session, model: type[Any]) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(model)) or 0


# -- who may -----------------------------------------------------------------------------------


def test_a_creditor_user_may_not_administer(
    client: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    sign_in(client, world["colleague"])
    assert client.get("/creditor/users").status_code == 403
    assert client.get("/creditor/company").status_code == 403
    csrf = token(client, "/creditor/")
    invited = {"csrf_token": csrf, "email": "x@acme.example", "name": "X", "role": "creditor_admin"}
    assert client.post("/creditor/users/invite", data=invited).status_code == 403
    assert client.post("/creditor/company", data=COMPANY | {"csrf_token": csrf}).status_code == 403
    promote = f"/creditor/users/{world['colleague'].id}/role"
    assert (
        client.post(promote, data={"csrf_token": csrf, "role": "creditor_admin"}).status_code == 403
    )
    assert reloaded(session, User, world["colleague"].id).role is Role.CREDITOR_USER
    assert count(session, Invitation) == 0
    assert reloaded(session, Tenant, world["ours"].id).vat_number is None


def test_staff_do_not_use_the_clients_pages(
    client: FlaskClient, world: dict[str, Any], session: Session
) -> None:
    with unscoped(session):
        staff = make_user(session, Role.AGENCY_ADMIN)
        session.commit()
    sign_in(client, staff)
    assert client.get("/creditor/users").status_code == 403


def test_the_users_page_shows_our_team_only(admin: FlaskClient, world: dict[str, Any]) -> None:
    page = admin.get("/creditor/users")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert world["admin"].email in body and world["colleague"].email in body
    assert world["stranger"].email not in body and world["their_admin"].email not in body


@pytest.mark.parametrize("action", ["role", "deactivate", "reactivate"])
def test_another_clients_user_is_not_found(
    admin: FlaskClient, session: Session, world: dict[str, Any], action: str
) -> None:
    stranger = world["stranger"]
    answer = admin.post(
        f"/creditor/users/{stranger.id}/{action}",
        data={"csrf_token": token(admin), "role": "creditor_admin"},
    )
    assert answer.status_code == 404
    unchanged = reloaded(session, User, stranger.id)
    assert unchanged.active and unchanged.role is Role.CREDITOR_USER


def test_another_clients_invitation_is_not_found(
    admin: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    theirs = sign_in(admin.application.test_client(), world["their_admin"])
    form = {
        "csrf_token": token(theirs),
        "email": "t@theirs.example",
        "name": "T",
        "role": "creditor_user",
    }
    assert theirs.post("/creditor/users/invite", data=form).status_code == 302
    with unscoped(session):
        invitation = session.scalars(select(Invitation)).one()
    assert "t@theirs.example" not in admin.get("/creditor/users").get_data(as_text=True)
    answer = admin.post(
        f"/creditor/invitations/{invitation.id}/revoke", data={"csrf_token": token(admin)}
    )
    assert answer.status_code == 404
    assert reloaded(session, Invitation, invitation.id).revoked_at is None


# -- the team -----------------------------------------------------------------------------------


def test_an_admin_invites_a_colleague_who_joins_our_tenant(
    app: Flask, admin: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    form = {
        "csrf_token": token(admin),
        "email": "ben@acme.example",
        "name": "Ben",
        "role": "creditor_user",
    }
    assert admin.post("/creditor/users/invite", data=form).status_code == 302
    assert "ben@acme.example" in admin.get("/creditor/users").get_data(as_text=True)
    with unscoped(session):
        mail = session.scalars(
            select(OutboxMessage).where(OutboxMessage.recipient == "ben@acme.example")
        ).one()
    link = re.search(r"https?://[^/\s]+(/invitations/\S+)", mail.body_text)
    assert link, mail.body_text
    ben = app.test_client()
    page = ben.get(link.group(1))
    assert page.status_code == 200 and world["ours"].name in page.get_data(as_text=True)
    password = "a long enough passphrase"
    accept = {
        "csrf_token": token(ben, link.group(1)),
        "name": "Ben B.",
        "password": password,
        "password_again": password,
    }
    assert ben.post(link.group(1), data=accept).status_code == 302
    with unscoped(session):
        joined = session.scalars(select(User).where(User.email == "ben@acme.example")).one()
    assert (joined.tenant_id, joined.role) == (world["ours"].id, Role.CREDITOR_USER)
    assert ben.get("/creditor/").status_code == 200


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": "not-an-address"}, "valid e-mail address"),
        ({"role": "agency_admin"}, "Not a valid choice"),
        ({"name": "x" * 201}, "200 characters"),
        ({"name": ""}, "This field is required"),
    ],
)
def test_a_bad_invitation_is_refused(
    admin: FlaskClient, session: Session, change: dict[str, str], message: str
) -> None:
    form = {
        "csrf_token": token(admin),
        "email": "x@acme.example",
        "name": "X",
        "role": "creditor_user",
    }
    refused = admin.post("/creditor/users/invite", data=form | change)
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert count(session, Invitation) == 0 and count(session, OutboxMessage) == 0


def test_an_admin_withdraws_an_invitation(admin: FlaskClient, session: Session) -> None:
    form = {
        "csrf_token": token(admin),
        "email": "w@acme.example",
        "name": "W",
        "role": "creditor_user",
    }
    admin.post("/creditor/users/invite", data=form)
    with unscoped(session):
        invitation = session.scalars(select(Invitation)).one()
    withdrawn = admin.post(
        f"/creditor/invitations/{invitation.id}/revoke", data={"csrf_token": token(admin)}
    )
    assert withdrawn.status_code == 302
    assert reloaded(session, Invitation, invitation.id).revoked_at is not None


def test_an_admin_promotes_and_deactivates_a_colleague(
    admin: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    colleague = world["colleague"]
    promoted = admin.post(
        f"/creditor/users/{colleague.id}/role",
        data={"csrf_token": token(admin), "role": "creditor_admin"},
    )
    assert promoted.status_code == 302
    assert reloaded(session, User, colleague.id).role is Role.CREDITOR_ADMIN
    gone = admin.post(
        f"/creditor/users/{colleague.id}/deactivate", data={"csrf_token": token(admin)}
    )
    assert gone.status_code == 302 and not reloaded(session, User, colleague.id).active
    back = admin.post(
        f"/creditor/users/{colleague.id}/reactivate", data={"csrf_token": token(admin)}
    )
    assert back.status_code == 302 and reloaded(session, User, colleague.id).active
    with unscoped(session):
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(AuditEntry.object_id == str(colleague.id))
            )
        )
    assert {"user.role_changed", "user.deactivated", "user.reactivated"} <= set(actions)


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        ("role", {"role": "collector"}, "Choose admin or user"),
        ("role", {"role": "creditor_user"}, "your own role"),
        ("deactivate", {}, "your own account"),
    ],
)
def test_an_admin_cannot_give_staff_roles_or_remove_themself(
    admin: FlaskClient,
    session: Session,
    world: dict[str, Any],
    path: str,
    data: dict[str, str],
    message: str,
) -> None:
    me = world["admin"]
    target = me if path == "deactivate" or data["role"] != "collector" else world["colleague"]
    refused = admin.post(
        f"/creditor/users/{target.id}/{path}", data=data | {"csrf_token": token(admin)}
    )
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    for user in (me, world["colleague"]):
        unchanged = reloaded(session, User, user.id)
        assert unchanged.active and unchanged.role is user.role


# -- company details ----------------------------------------------------------------------------


def test_an_admin_keeps_the_company_details(
    admin: FlaskClient, session: Session, world: dict[str, Any]
) -> None:
    saved = admin.post(
        "/creditor/company", data=COMPANY | {"csrf_token": token(admin, "/creditor/company")}
    )
    assert saved.status_code == 302
    tenant = reloaded(session, Tenant, world["ours"].id)
    assert tenant.name == "Acme Supplies GmbH"
    assert (tenant.remittance_iban, tenant.remittance_bic) == (
        "DE89370400440532013000",
        "COBADEFFXXX",
    )
    assert (tenant.vat_number, tenant.approver_email) == ("DE123456789", "petra@acme.example")
    page = admin.get("/creditor/company").get_data(as_text=True)
    assert "DE89 3704 0044 0532 0130 00" in page  # shown grouped in fours
    with unscoped(session):
        entry = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "tenant.company_details_changed")
        ).one()
    assert entry.details["after"]["iban"] == "*" * 18 + "3000"
    assert "DE89370400440532013000" not in str(entry.details)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"iban": "DE89 3704 0044 0532 0130 01"}, "check digits do not match"),
        ({"iban": "DE89 3704 0044 0532 0130"}, "wrong length"),
        ({"iban": "XX89 3704 0044 0532 0130 00"}, "not a valid IBAN"),
        ({"bic": "COBA"}, "not a valid BIC"),
        ({"vat_number": "123456789"}, "two-letter country code"),
        ({"approver_email": "petra-at-acme"}, "not a valid e-mail address"),
        ({"legal_name": ""}, "This field is required"),
        ({"legal_name": "x" * 201}, "At most 200 characters"),
        ({"legal_address": "x" * 501}, "At most 500 characters"),
        ({"registration_number": "x" * 51}, "At most 50 characters"),
        ({"account_holder": ""}, "account is held in"),
    ],
)
def test_bad_company_details_change_nothing(
    admin: FlaskClient,
    session: Session,
    world: dict[str, Any],
    change: dict[str, str],
    message: str,
) -> None:
    before = reloaded(session, Tenant, world["ours"].id).name
    refused = admin.post(
        "/creditor/company",
        data=COMPANY | change | {"csrf_token": token(admin, "/creditor/company")},
    )
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    tenant = reloaded(session, Tenant, world["ours"].id)
    assert (tenant.name, tenant.remittance_iban, tenant.vat_number) == (before, None, None)
    with unscoped(session):
        assert not session.scalar(
            select(AuditEntry).where(AuditEntry.action == "tenant.company_details_changed")
        )
