"""Each person's notices and notification settings: the list, the bell's count, marking
read (htmx), another person's notice not found, and settings refused when bad."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Delivery, Notification, NotificationKind, Role, User
from portal.services import notices
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user

HTMX = {"HX-Request": "true"}
ROLES = (Role.AGENCY_ADMIN, Role.COLLECTOR, Role.LEGAL, Role.CREDITOR_ADMIN, Role.CREDITOR_USER)


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        acme = make_tenant(session, "acme")
        case = make_case(session, acme, debtor_name="Keller Bau GmbH", reference="ACME-1")
        admin = make_user(session, Role.CREDITOR_ADMIN, acme)
        colleague = make_user(session, Role.CREDITOR_USER, acme)
        for title in ("Payment received: Keller Bau GmbH", "Case closed (paid): Keller Bau GmbH"):
            notices.notify(
                session, None, kind=NotificationKind.PAYMENT_RECEIVED,
                recipients=[admin, colleague], title=title, body="Paid by bank transfer.",
                link=f"/creditor/cases/{case.id}", tenant_id=acme.id, case_id=case.id,
            )  # fmt: skip
        session.commit()
    return {"tenant": acme, "case": case, "admin": admin, "colleague": colleague}


def notice_rows(session: Session, user: User) -> list[Notification]:
    session.expire_all()
    with unscoped(session):
        statement = select(Notification).where(Notification.user_id == user.id)
        return list(session.scalars(statement.order_by(Notification.id)))


def csrf(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"', page)
    assert found, f"no csrf token on {path}"
    return found.group(1)


def test_the_list_shows_newest_first_with_the_unread_marked(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["admin"])
    page = client.get("/account/notifications").get_data(as_text=True)
    closed = page.index("Case closed (paid): Keller Bau GmbH")
    assert closed < page.index("Payment received: Keller Bau GmbH")
    assert page.count("<mark>New</mark>") == 2 and "2 unread" in page
    assert f'href="/creditor/cases/{world["case"].id}"' in page
    assert 'href="/account/preferences"' in page and "Mark all read" in page


def test_every_page_has_the_bell_that_loads_the_count(client: FlaskClient, world) -> None:
    sign_in(client, world["admin"])
    page = client.get("/creditor/").get_data(as_text=True)
    assert 'href="/account/notifications"' in page
    assert 'hx-get="/account/notifications/count" hx-trigger="load, every 60s"' in page
    badge = client.get("/account/notifications/count", headers=HTMX).get_data(as_text=True)
    assert "<mark>2 new</mark>" in badge


def test_marking_a_notice_read_swaps_its_row_and_the_count(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["admin"])
    first = notice_rows(session, world["admin"])[0]
    token = csrf(client, "/account/notifications")
    row = client.post(f"/account/notifications/{first.id}/read", headers=HTMX,
                      data={"csrf_token": token})  # fmt: skip
    assert row.status_code == 200
    body = row.get_data(as_text=True)
    assert body.lstrip().startswith(f'<tr id="notice-{first.id}">') and "Mark read" not in body
    assert 'id="notice-count" hx-swap-oob="innerHTML"><mark>1 new</mark>' in body
    assert notice_rows(session, world["admin"])[0].read_at is not None
    assert all(n.read_at is None for n in notice_rows(session, world["colleague"]))
    plain = client.post(f"/account/notifications/{first.id}/read", data={"csrf_token": token})
    assert plain.status_code == 302 and plain.headers["Location"] == "/account/notifications"


def test_another_persons_notice_is_not_found_and_stays_unread(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["admin"])
    theirs = notice_rows(session, world["colleague"])[0]
    token = csrf(client, "/account/notifications")
    refused = client.post(f"/account/notifications/{theirs.id}/read", headers=HTMX,
                          data={"csrf_token": token})  # fmt: skip
    assert refused.status_code == 404
    assert client.post("/account/notifications/999999/read",
                       data={"csrf_token": token}).status_code == 404  # fmt: skip
    assert all(n.read_at is None for n in notice_rows(session, world["colleague"]))
    assert "Keller" not in refused.get_data(as_text=True)


def test_mark_all_read_is_for_ones_own_notices(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["admin"])
    token = csrf(client, "/account/notifications")
    done = client.post("/account/notifications/read-all", data={"csrf_token": token})
    assert done.status_code == 302
    assert all(n.read_at is not None for n in notice_rows(session, world["admin"]))
    assert all(n.read_at is None for n in notice_rows(session, world["colleague"]))
    page = client.get("/account/notifications").get_data(as_text=True)
    assert "2 notice(s) marked read." in page and "<mark>New</mark>" not in page
    assert "<mark>" not in client.get("/account/notifications/count").get_data(as_text=True)


def test_a_post_without_the_csrf_token_changes_nothing(
    client: FlaskClient, session: Session, world
) -> None:
    sign_in(client, world["admin"])
    mine = notice_rows(session, world["admin"])[0]
    assert client.post(f"/account/notifications/{mine.id}/read").status_code == 400
    assert client.post("/account/notifications/read-all").status_code == 400
    assert all(n.read_at is None for n in notice_rows(session, world["admin"]))


def settings_form(client: FlaskClient, **changes: str) -> dict[str, str]:
    data = {kind.value: Delivery.DIGEST.value for kind in NotificationKind}
    return data | {"csrf_token": csrf(client, "/account/preferences")} | changes


def test_settings_show_the_choices_and_save_them_audited(
    client: FlaskClient, session: Session, world
) -> None:
    admin = world["admin"]
    sign_in(client, admin)
    page = client.get("/account/preferences").get_data(as_text=True)
    for label in notices.KIND_LABELS.values():
        assert label in page
    checked = re.findall(r'<input[^>]*\schecked\s[^>]*name="(\w+)"[^>]*value="(\w+)"', page)
    assert dict(checked) == {
        k.value: d.value for k, d in notices.preferences(session, admin).items()
    }
    saved = client.post("/account/preferences",
                        data=settings_form(client, payment_received="none"))  # fmt: skip
    assert saved.status_code == 302
    session.expire_all()
    with unscoped(session):
        chosen = notices.preferences(session, session.get(User, admin.id))
        assert chosen[NotificationKind.PAYMENT_RECEIVED] is Delivery.NONE
        assert chosen[NotificationKind.DECISION_WAITING] is Delivery.DIGEST
        action = AuditEntry.action == "user.notification_preferences_changed"
        assert session.scalars(select(AuditEntry).where(action)).one().actor_id == admin.id
    assert "Your notification settings are saved." in client.get("/account/preferences").text


@pytest.mark.parametrize(
    "changes",
    [
        {"payment_received": "weekly"},
        {"decision_waiting": ""},
        {"message": "immediate", "case_closed": "<script>"},
    ],
)
def test_bad_settings_are_refused_and_change_nothing(
    client: FlaskClient, session: Session, world, changes: dict[str, str]
) -> None:
    admin = world["admin"]
    sign_in(client, admin)
    with unscoped(session):
        before = notices.preferences(session, admin)
    refused = client.post("/account/preferences", data=settings_form(client, **changes))
    assert refused.status_code == 422
    assert "Choose e-mail at once, daily digest or no e-mail." in refused.get_data(as_text=True)
    session.expire_all()
    with unscoped(session):
        assert notices.preferences(session, session.get(User, admin.id)) == before
        assert session.scalars(select(AuditEntry).where(
            AuditEntry.action == "user.notification_preferences_changed")).all() == []  # fmt: skip


def test_a_missing_setting_is_refused(client: FlaskClient, session: Session, world) -> None:
    sign_in(client, world["admin"])
    data = settings_form(client)
    del data["dispute_raised"]
    refused = client.post("/account/preferences", data=data)
    assert refused.status_code == 422
    with unscoped(session):
        assert (
            notices.preferences(session, world["admin"])[NotificationKind.DISPUTE_RAISED]
            is notices.DEFAULT_DELIVERY[NotificationKind.DISPUTE_RAISED]
        )


@pytest.mark.parametrize("role", ROLES)
def test_every_role_opens_its_own_pages(
    client: FlaskClient, session: Session, world, role: Role
) -> None:
    with unscoped(session):
        person = make_user(session, role, world["tenant"] if role.value.startswith("creditor")
                           else None)  # fmt: skip
        session.commit()
    sign_in(client, person)
    for path in ("/account/notifications", "/account/notifications/count", "/account/preferences"):
        assert client.get(path).status_code == 200, path
    assert "Keller Bau GmbH" not in client.get("/account/notifications").get_data(as_text=True)


def test_signed_out_people_are_sent_to_sign_in(client: FlaskClient, world) -> None:
    for path in ("/account/notifications", "/account/notifications/count", "/account/preferences"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["Location"].startswith("/login")
