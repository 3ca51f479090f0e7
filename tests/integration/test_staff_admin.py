"""Agency admins keep the team: invitations, roles, the clients each one works on, who
may sign in; and they invite a client's first users. Bad input changes nothing."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Invitation, OutboxMessage, Role, Tenant, User
from portal.services import users
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user


@pytest.fixture
def team(session: Session) -> dict[str, Any]:
    with unscoped(session):
        ours, theirs = make_tenant(session), make_tenant(session)
        people = {
            "admin": make_user(session, Role.AGENCY_ADMIN),
            "collector": make_user(session, Role.COLLECTOR),
            "legal": make_user(session, Role.LEGAL, limited_to=[ours]),
            "client": make_user(session, Role.CREDITOR_ADMIN, ours),
        }
        session.commit()
    return people | {"ours": ours, "theirs": theirs}


@pytest.fixture
def admin(client: FlaskClient, team: dict[str, Any]) -> FlaskClient:
    return sign_in(client, team["admin"])


@pytest.fixture
def other_browser(app: Flask) -> FlaskClient:
    return app.test_client()


def token(client: FlaskClient, path: str = "/agency/staff") -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def reloaded(session: Session, user: User) -> User:
    with unscoped(session):
        session.expire_all()
        return session.get_one(User, user.id)


def invitations_to(session: Session, email: str) -> list[Invitation]:
    with unscoped(session):
        return list(session.scalars(select(Invitation).where(Invitation.email == email)))


def mails_to(session: Session, email: str) -> list[OutboxMessage]:
    with unscoped(session):
        return list(session.scalars(select(OutboxMessage).where(OutboxMessage.recipient == email)))


def audited(session: Session, action: str) -> list[AuditEntry]:
    with unscoped(session):
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


# -- the page ---------------------------------------------------------------------------------


def test_the_staff_page_lists_the_team_and_their_clients(
    admin: FlaskClient, team: dict[str, Any]
) -> None:
    page = admin.get("/agency/staff")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    for who in ("admin", "collector", "legal"):
        assert team[who].email in body
    assert team["client"].email not in body  # a client's user is not staff
    assert team["ours"].name in body  # the clients the legal staff member works on
    assert "Every client" in body


def test_only_agency_admins_open_it(client: FlaskClient, team: dict[str, Any]) -> None:
    for who in ("collector", "legal", "client"):
        sign_in(client, team[who])
        assert client.get("/agency/staff").status_code == 403, who
        assert client.get(f"/agency/tenants/{team['ours'].id}/users").status_code == 403, who


def test_a_collector_cannot_invite_or_deactivate(
    client: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    sign_in(client, team["collector"])
    data = {"csrf_token": token(client, "/agency/"), "email": "x@agency.example", "name": "X"}
    assert client.post("/agency/staff/invite", data=data | {"role": "collector"}).status_code == 403
    deactivate = f"/agency/staff/{team['legal'].id}/deactivate"
    assert client.post(deactivate, data=data).status_code == 403
    assert invitations_to(session, "x@agency.example") == []
    assert reloaded(session, team["legal"]).active


# -- inviting staff ---------------------------------------------------------------------------


def test_an_admin_invites_a_collector_for_one_client_and_the_link_works(
    admin: FlaskClient, other_browser: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    form = {
        "csrf_token": token(admin), "email": "Nina@Agency.example", "name": "Nina Novak",
        "role": "collector", "tenants": [str(team["theirs"].id)],
    }  # fmt: skip
    sent = admin.post("/agency/staff/invite", data=form)
    assert sent.status_code == 302
    [invitation] = invitations_to(session, "nina@agency.example")
    assert (invitation.role, invitation.tenant_id) == (Role.COLLECTOR, None)
    assert invitation.limited_to_tenant_ids == [team["theirs"].id]
    assert "nina@agency.example" in admin.get("/agency/staff").get_data(as_text=True)
    [mail] = mails_to(session, "nina@agency.example")
    link = re.search(r"https?://[^/\s]+(/invitations/\S+)", mail.body_text)
    assert link, mail.body_text
    assert other_browser.get(link.group(1)).status_code == 200
    assert audited(session, "invitation.sent")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"email": "not-an-address"}, "valid e-mail address"),
        ({"email": ""}, "This field is required"),
        ({"name": ""}, "This field is required"),
        ({"name": "x" * 201}, "200 characters"),
        ({"role": "creditor_admin"}, "Not a valid choice"),
        ({"role": "agency_admin", "tenants": ["OURS"]}, "not limited to clients"),
        ({"tenants": ["999999"]}, "not a valid choice"),
        ({"tenants": ["abc"]}, "Invalid choice"),
    ],
)
def test_a_bad_invitation_is_refused_and_sends_nothing(
    admin: FlaskClient,
    session: Session,
    team: dict[str, Any],
    change: dict[str, Any],
    message: str,
) -> None:
    form = {"csrf_token": token(admin), "email": "x@agency.example", "name": "X", "role": "legal"}
    if change.get("tenants") == ["OURS"]:
        change = change | {"tenants": [str(team["ours"].id)]}
    refused = admin.post("/agency/staff/invite", data=form | change)
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(Invitation)) == 0
        assert session.scalar(select(func.count()).select_from(OutboxMessage)) == 0


def test_someone_who_has_an_account_is_not_invited(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    form = {"csrf_token": token(admin), "name": "Again", "role": "legal"}
    refused = admin.post("/agency/staff/invite", data=form | {"email": team["collector"].email})
    assert refused.status_code == 422 and "already has an account" in refused.get_data(as_text=True)
    assert invitations_to(session, team["collector"].email) == []


def test_an_admin_withdraws_an_invitation(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    form = {"csrf_token": token(admin), "email": "w@agency.example", "name": "W", "role": "legal"}
    admin.post("/agency/staff/invite", data=form)
    [invitation] = invitations_to(session, "w@agency.example")
    withdrawn = admin.post(
        f"/agency/invitations/{invitation.id}/revoke", data={"csrf_token": token(admin)}
    )
    assert withdrawn.status_code == 302 and withdrawn.headers["Location"] == "/agency/staff"
    [invitation] = invitations_to(session, "w@agency.example")
    assert invitation.revoked_at is not None
    assert "No open invitations" in admin.get("/agency/staff").get_data(as_text=True)
    assert audited(session, "invitation.revoked")


# -- roles, clients, active -------------------------------------------------------------------


def test_an_admin_changes_a_role_and_it_is_audited(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    legal = team["legal"]
    changed = admin.post(
        f"/agency/staff/{legal.id}/role", data={"csrf_token": token(admin), "role": "agency_admin"}
    )
    assert changed.status_code == 302
    promoted = reloaded(session, legal)
    assert promoted.role is Role.AGENCY_ADMIN and not promoted.limited_to_tenants
    [entry] = audited(session, "user.role_changed")
    assert (entry.details["before"], entry.details["after"]) == ("legal", "agency_admin")


@pytest.mark.parametrize("role", ["creditor_admin", "boss", ""])
def test_a_role_outside_the_staff_roles_is_refused(
    admin: FlaskClient, session: Session, team: dict[str, Any], role: str
) -> None:
    collector = team["collector"]
    refused = admin.post(
        f"/agency/staff/{collector.id}/role", data={"csrf_token": token(admin), "role": role}
    )
    assert refused.status_code == 422 and "Choose one of the staff roles" in refused.get_data(
        as_text=True
    )
    assert reloaded(session, collector).role is Role.COLLECTOR


def test_an_admin_cannot_demote_or_deactivate_themself(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    me = team["admin"]
    demoted = admin.post(
        f"/agency/staff/{me.id}/role", data={"csrf_token": token(admin), "role": "collector"}
    )
    assert demoted.status_code == 422 and "your own role" in demoted.get_data(as_text=True)
    gone = admin.post(f"/agency/staff/{me.id}/deactivate", data={"csrf_token": token(admin)})
    assert gone.status_code == 422 and "your own account" in gone.get_data(as_text=True)
    me = reloaded(session, me)
    assert me.active and me.role is Role.AGENCY_ADMIN
    assert audited(session, "user.deactivated") == []


def test_an_admin_limits_a_collector_to_clients_and_lifts_the_limit(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    collector, ours = team["collector"], team["ours"]
    path = f"/agency/staff/{collector.id}/tenants"
    assert (
        admin.post(path, data={"csrf_token": token(admin), "tenants": [str(ours.id)]}).status_code
        == 302
    )
    limited = reloaded(session, collector)
    assert limited.limited_to_tenants and limited.tenant_scope().allows(ours.id)
    assert not limited.tenant_scope().allows(team["theirs"].id)
    assert admin.post(path, data={"csrf_token": token(admin)}).status_code == 302
    assert not reloaded(session, collector).limited_to_tenants
    assert len(audited(session, "user.tenants_limited")) == 2


@pytest.mark.parametrize(
    ("who", "tenants", "message"),
    [
        ("collector", ["999999"], "Tick only clients from the list"),
        ("admin", ["OURS"], "not limited to clients"),
    ],
)
def test_bad_client_limits_are_refused(
    admin: FlaskClient,
    session: Session,
    team: dict[str, Any],
    who: str,
    tenants: list[str],
    message: str,
) -> None:
    target = team[who]
    tenants = [str(team["ours"].id) if t == "OURS" else t for t in tenants]
    refused = admin.post(
        f"/agency/staff/{target.id}/tenants", data={"csrf_token": token(admin), "tenants": tenants}
    )
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    assert not reloaded(session, target).limited_to_tenants


def test_a_deactivated_collector_is_signed_out_and_can_come_back(
    admin: FlaskClient, other_browser: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    collector = team["collector"]
    sign_in(other_browser, collector)
    assert other_browser.get("/agency/").status_code == 200
    gone = admin.post(f"/agency/staff/{collector.id}/deactivate", data={"csrf_token": token(admin)})
    assert gone.status_code == 302 and not reloaded(session, collector).active
    assert other_browser.get("/agency/").status_code == 302  # to the sign-in page
    back = admin.post(f"/agency/staff/{collector.id}/reactivate", data={"csrf_token": token(admin)})
    assert back.status_code == 302 and reloaded(session, collector).active
    assert [len(audited(session, f"user.{what}")) for what in ("deactivated", "reactivated")] == [
        1,
        1,
    ]


def test_a_clients_user_is_not_staff_here(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    client_user = team["client"]
    for action in ("deactivate", "role", "tenants"):
        answer = admin.post(
            f"/agency/staff/{client_user.id}/{action}",
            data={"csrf_token": token(admin), "role": "collector"},
        )
        assert answer.status_code == 404, action
    user = reloaded(session, client_user)
    assert user.active and user.role is Role.CREDITOR_ADMIN


def test_the_last_active_admin_stays(session: Session) -> None:
    with unscoped(session):
        tenant = make_tenant(session)
        only_admin = make_user(session, Role.CREDITOR_ADMIN, tenant)
        agency_admin = make_user(session, Role.AGENCY_ADMIN)
        with pytest.raises(users.UserError, match="last active admin"):
            users.deactivate(session, only_admin, actor=agency_admin)
        with pytest.raises(users.UserError, match="last active admin"):
            users.change_role(session, only_admin, Role.CREDITOR_USER, actor=agency_admin)
        assert only_admin.active and only_admin.role is Role.CREDITOR_ADMIN


# -- a client's users -------------------------------------------------------------------------


def test_an_admin_invites_a_clients_first_admin(
    admin: FlaskClient, session: Session, team: dict[str, Any]
) -> None:
    theirs: Tenant = team["theirs"]
    path = f"/agency/tenants/{theirs.id}/users"
    page = admin.get(path)
    assert page.status_code == 200 and "No users yet" in page.get_data(as_text=True)
    form = {
        "csrf_token": token(admin, path), "email": "cfo@theirs.example", "name": "Cora CFO",
        "role": "creditor_admin",
    }  # fmt: skip
    sent = admin.post(f"/agency/tenants/{theirs.id}/invite", data=form)
    assert sent.status_code == 302 and sent.headers["Location"] == path
    [invitation] = invitations_to(session, "cfo@theirs.example")
    assert (invitation.role, invitation.tenant_id) == (Role.CREDITOR_ADMIN, theirs.id)
    assert "cfo@theirs.example" in admin.get(path).get_data(as_text=True)
    [mail] = mails_to(session, "cfo@theirs.example")
    assert theirs.name in mail.body_text and "/invitations/" in mail.body_text
    withdrawn = admin.post(
        f"/agency/invitations/{invitation.id}/revoke", data={"csrf_token": token(admin, path)}
    )
    assert withdrawn.headers["Location"] == path


@pytest.mark.parametrize(
    ("change", "message"),
    [({"role": "collector"}, "Not a valid choice"), ({"email": "nope"}, "valid e-mail address")],
)
def test_a_bad_invitation_to_a_client_is_refused(
    admin: FlaskClient,
    session: Session,
    team: dict[str, Any],
    change: dict[str, str],
    message: str,
) -> None:
    theirs = team["theirs"]
    path = f"/agency/tenants/{theirs.id}/users"
    form = {
        "csrf_token": token(admin, path),
        "email": "c@t.example",
        "name": "C",
        "role": "creditor_user",
    }
    refused = admin.post(f"/agency/tenants/{theirs.id}/invite", data=form | change)
    assert refused.status_code == 422 and message in refused.get_data(as_text=True)
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(Invitation)) == 0
