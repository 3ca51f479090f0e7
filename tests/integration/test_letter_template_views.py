"""Agency admins write a client's own letter texts: tried against a sample letter before
they are kept, previewed with htmx or without, and set back to the agency's."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, LetterTemplate, Role, Tenant
from portal.services import letters
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_tenant, make_user

GOOD = {
    "subject": "Reminder from {{ creditor.name }}: {{ case.reference }}",
    "body": "Dear {{ debtor.name }},\n\nplease pay {{ amounts.outstanding }} by {{ deadline }}.\n",
}


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        admin = make_user(session, Role.AGENCY_ADMIN)
        session.commit()
    return {"acme": acme, "other": other, "admin": admin}


@pytest.fixture
def admin_client(client: FlaskClient, world: dict) -> FlaskClient:
    return sign_in(client, world["admin"])


def editor(tenant: Tenant, key: str = "reminder", language: str = "en") -> str:
    return f"/agency/tenants/{tenant.id}/letters/{key}/{language}"


def csrf_token(client: FlaskClient, tenant: Tenant) -> str:
    page = client.get(editor(tenant)).get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


def stored(session: Session) -> list[tuple[int | None, str, str, str]]:
    with unscoped(session):
        session.expire_all()
        rows = session.scalars(select(LetterTemplate).order_by(LetterTemplate.id))
        return [(row.tenant_id, row.key, row.language, row.subject) for row in rows]


def audited(session: Session, action: str) -> list[AuditEntry]:
    with unscoped(session):
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_the_list_shows_each_letter_in_each_language(
    admin_client: FlaskClient, world: dict
) -> None:
    acme = world["acme"]
    page = admin_client.get(f"/agency/tenants/{acme.id}/letters")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for key in letters.KEYS:
        for language in letters.LANGUAGES:
            assert f'href="{editor(acme, key, language)}"' in text
    assert text.count("The agency's</span>") == len(letters.KEYS) * len(letters.LANGUAGES)
    assert "This client's own" not in text


def test_the_editor_starts_from_the_text_that_applies(
    app: Flask, admin_client: FlaskClient, session: Session, world: dict
) -> None:
    acme = world["acme"]
    page = admin_client.get(editor(acme, "demand_letter", "de"))
    assert page.status_code == 200
    with app.test_request_context(), unscoped(session):
        subject, body, _row = letters.template_source(session, acme.id, "demand_letter", "de")
    text = page.get_data(as_text=True)
    assert f'value="{subject}"' in text
    assert body.splitlines()[0] in text
    assert "The agency's text" in text


def test_a_client_text_is_saved_audited_and_used(
    app: Flask, admin_client: FlaskClient, session: Session, world: dict
) -> None:
    acme, other = world["acme"], world["other"]
    saved = admin_client.post(
        editor(acme), data=GOOD | {"csrf_token": csrf_token(admin_client, acme)}
    )
    assert saved.status_code == 302
    assert saved.headers["Location"] == f"/agency/tenants/{acme.id}/letters"
    assert stored(session) == [(acme.id, "reminder", "en", GOOD["subject"])]
    [entry] = audited(session, "letter_template.saved")
    assert (entry.tenant_id, entry.actor_id, entry.details) == (
        acme.id,
        world["admin"].id,
        {"key": "reminder", "language": "en"},
    )
    with unscoped(session):
        assert letters.template_source(session, acme.id, "reminder", "en")[:2] == (
            GOOD["subject"],
            GOOD["body"],
        )
    listed = admin_client.get(f"/agency/tenants/{acme.id}/letters").get_data(as_text=True)
    assert listed.count("This client's own") == 1
    theirs = admin_client.get(f"/agency/tenants/{other.id}/letters").get_data(as_text=True)
    assert "This client's own" not in theirs


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"body": "Dear {{ debtor.name ,\n\nplease pay."}, "is refused: line 3:"),
        ({"body": "Dear {{ debtor.__class__ }}"}, "reaches for something letters may not use"),
        ({"body": "Dear {{ debtor.shoe_size }}"}, "refers to something letters do not have"),
        ({"subject": "{% if %}"}, "The subject of “reminder” is refused"),
        ({"subject": ""}, "This field is required."),
        ({"body": "x" * 20_001}, "20000 characters"),
    ],
)
def test_a_text_that_cannot_be_a_letter_is_refused(
    admin_client: FlaskClient, session: Session, world: dict, change: dict, message: str
) -> None:
    acme = world["acme"]
    data = GOOD | change | {"csrf_token": csrf_token(admin_client, acme)}
    refused = admin_client.post(editor(acme), data=data)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert stored(session) == []
    assert audited(session, "letter_template.saved") == []


def test_preview_renders_the_draft_against_the_sample_case(
    admin_client: FlaskClient, session: Session, world: dict
) -> None:
    acme = world["acme"]
    data = GOOD | {"csrf_token": csrf_token(admin_client, acme)}
    sample = letters.sample_context("en", acme.display_name)
    htmx = admin_client.post(f"{editor(acme)}/preview", data=data, headers={"HX-Request": "true"})
    assert htmx.status_code == 200
    fragment = htmx.get_data(as_text=True)
    assert fragment.lstrip().startswith('<section id="letter-preview"')
    assert f"Reminder from {acme.display_name}: {sample['case']['reference']}" in fragment
    assert f"Dear {sample['debtor']['name']}," in fragment
    page = admin_client.post(f"{editor(acme)}/preview", data=data)
    assert page.status_code == 200
    assert "<html" in page.get_data(as_text=True)
    assert f"Dear {sample['debtor']['name']}," in page.get_data(as_text=True)
    assert stored(session) == []


def test_preview_says_why_a_draft_is_refused(
    admin_client: FlaskClient, session: Session, world: dict
) -> None:
    acme = world["acme"]
    data = GOOD | {"body": "{{ debtor.__class__ }}", "csrf_token": csrf_token(admin_client, acme)}
    htmx = admin_client.post(f"{editor(acme)}/preview", data=data, headers={"HX-Request": "true"})
    assert htmx.status_code == 200  # htmx swaps only successful answers in
    assert "reaches for something letters may not use" in htmx.get_data(as_text=True)
    page = admin_client.post(f"{editor(acme)}/preview", data=data)
    assert page.status_code == 422
    assert "reaches for something letters may not use" in page.get_data(as_text=True)
    assert stored(session) == []


def test_reset_goes_back_to_the_agency_text(
    admin_client: FlaskClient, session: Session, world: dict
) -> None:
    acme = world["acme"]
    token = csrf_token(admin_client, acme)
    admin_client.post(editor(acme), data=GOOD | {"csrf_token": token})
    assert len(stored(session)) == 1
    reset = admin_client.post(f"{editor(acme)}/reset", data={"csrf_token": token})
    assert reset.status_code == 302
    assert stored(session) == []
    assert len(audited(session, "letter_template.reset")) == 1
    again = admin_client.post(f"{editor(acme)}/reset", data={"csrf_token": token})
    assert "already used the default" in admin_client.get(again.headers["Location"]).get_data(
        as_text=True
    )
    assert len(audited(session, "letter_template.reset")) == 1


@pytest.mark.parametrize(("key", "language"), [("threat", "en"), ("reminder", "fr")])
def test_unknown_letters_and_languages_are_not_found(
    admin_client: FlaskClient, session: Session, world: dict, key: str, language: str
) -> None:
    acme = world["acme"]
    token = csrf_token(admin_client, acme)
    path = editor(acme, key, language)
    assert admin_client.get(path).status_code == 404
    for suffix in ("", "/preview", "/reset"):
        assert (
            admin_client.post(path + suffix, data=GOOD | {"csrf_token": token}).status_code == 404
        )
    assert stored(session) == []


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.LEGAL, Role.CREDITOR_ADMIN])
def test_only_agency_admins_edit_letters(
    app: Flask,
    client: FlaskClient,
    session: Session,
    world: dict,
    role: Role,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # reach the role check
    acme = world["acme"]
    with unscoped(session):
        user = make_user(session, role, acme if role is Role.CREDITOR_ADMIN else None)
        session.commit()
    sign_in(client, user)
    assert client.get(f"/agency/tenants/{acme.id}/letters").status_code == 403
    assert client.get(editor(acme)).status_code == 403
    for suffix in ("", "/preview", "/reset"):
        assert client.post(editor(acme) + suffix, data=GOOD).status_code == 403
    assert stored(session) == []
