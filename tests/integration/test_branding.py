"""A client's logo: uploaded by agency admins, checked by its content, shown to its
debtors and its own users, never to anyone else's."""

from __future__ import annotations

import base64
import io
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.storage import DocumentNotFound, Storage
from portal.models import AuditEntry, Case, Role, Tenant, User
from portal.services import branding, payment_links
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_tenant_admin import linked_pages  # noqa: F401 - autouse fixture

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
GIF = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x01\x00\x00\x00\x00;"


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        acme, other = make_tenant(session, "acme"), make_tenant(session, "other")
        people = {
            "admin": make_user(session, Role.AGENCY_ADMIN),
            "collector": make_user(session, Role.COLLECTOR),
            "acme_user": make_user(session, Role.CREDITOR_USER, acme),
            "other_user": make_user(session, Role.CREDITOR_USER, other),
        }
        cases = {"acme": make_case(session, acme), "other": make_case(session, other)}
        session.commit()
    return {"acme": acme, "other": other, "people": people, "cases": cases}


@pytest.fixture
def storage(app: Flask) -> Storage:
    return app.extensions["portal.storage"]


def as_user(app: Flask, user: User) -> FlaskClient:
    return sign_in(app.test_client(), user)


def upload(client: FlaskClient, tenant: Tenant, data: bytes, filename: str = "logo.png"):
    page = client.get(f"/agency/tenants/{tenant.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    return client.post(
        f"/agency/tenants/{tenant.id}/branding",
        data={"csrf_token": token, "logo": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def logo_key(session: Session, tenant: Tenant) -> str | None:
    with unscoped(session):
        session.expire_all()
        return session.scalar(select(Tenant.logo_key).where(Tenant.id == tenant.id))


def token_of(session: Session, case: Case) -> str:
    with unscoped(session):
        found = session.scalars(select(Case).where(Case.id == case.id)).one()
        return payment_links.token_for(found)


def test_an_admin_uploads_a_logo_that_replaces_the_last(
    app: Flask, session: Session, storage: Storage, world: dict
) -> None:
    acme = world["acme"]
    admin = as_user(app, world["people"]["admin"])
    assert upload(admin, acme, PNG).status_code == 302
    first = logo_key(session, acme)
    assert re.fullmatch(rf"tenant/{acme.id}/branding/logo-[0-9a-f]{{8}}\.png", first)
    assert storage.get(first) == PNG
    served = admin.get(f"/agency/tenants/{acme.id}/logo")
    assert (served.status_code, served.mimetype, served.data) == (200, "image/png", PNG)

    assert upload(admin, acme, JPEG, "photo.JPG").status_code == 302
    second = logo_key(session, acme)
    assert second.endswith(".jpg") and storage.get(second) == JPEG
    with pytest.raises(DocumentNotFound):
        storage.get(first)  # the replaced logo is gone
    assert admin.get(f"/agency/tenants/{acme.id}/logo").mimetype == "image/jpeg"
    with unscoped(session):
        changes = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "tenant.logo_changed")
        ).all()
    assert [entry.details["key"] for entry in changes] == [first, second]


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (GIF, "logo.png", "is not a PNG or JPEG image"),
        (b"Our logo, in words.\n", "logo.png", "is not a PNG or JPEG image"),
        (b"%PDF-1.7\n%%EOF\n", "logo.png", "is not a PNG or JPEG image"),
        (b"", "logo.png", "is empty"),
        (PNG + b"\x00" * branding.MAX_LOGO_BYTES, "logo.png", "larger than the 512 KB"),
    ],
)
def test_what_is_not_a_logo_is_refused(
    app: Flask,
    session: Session,
    storage: Storage,
    world: dict,
    data: bytes,
    filename: str,
    message: str,
) -> None:
    acme = world["acme"]
    admin = as_user(app, world["people"]["admin"])
    assert upload(admin, acme, PNG).status_code == 302
    kept = logo_key(session, acme)
    refused = upload(admin, acme, data, filename)
    assert refused.status_code == 422
    assert message in refused.get_data(as_text=True)
    assert logo_key(session, acme) == kept and storage.get(kept) == PNG
    with unscoped(session):
        assert (
            len(
                session.scalars(
                    select(AuditEntry).where(AuditEntry.action == "tenant.logo_changed")
                ).all()
            )
            == 1
        )


def test_a_logo_form_without_a_file_is_refused(app: Flask, session: Session, world: dict) -> None:
    acme = world["acme"]
    admin = as_user(app, world["people"]["admin"])
    page = admin.get(f"/agency/tenants/{acme.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    refused = admin.post(f"/agency/tenants/{acme.id}/branding", data={"csrf_token": token})
    assert refused.status_code == 422
    assert "Choose the logo" in refused.get_data(as_text=True)
    assert logo_key(session, acme) is None


def test_debtors_see_their_creditors_logo_and_no_other(
    app: Flask, session: Session, world: dict
) -> None:
    acme, other = world["acme"], world["other"]
    ours, theirs = (
        token_of(session, world["cases"]["acme"]),
        token_of(session, world["cases"]["other"]),
    )
    debtor = app.test_client()
    assert f'src="/pay/{ours}/logo"' not in debtor.get(f"/pay/{ours}").get_data(as_text=True)
    assert debtor.get(f"/pay/{ours}/logo").status_code == 404  # none uploaded yet

    assert upload(as_user(app, world["people"]["admin"]), acme, PNG).status_code == 302
    assert f'src="/pay/{ours}/logo"' in debtor.get(f"/pay/{ours}").get_data(as_text=True)
    served = debtor.get(f"/pay/{ours}/logo")
    assert (served.status_code, served.mimetype, served.data) == (200, "image/png", PNG)
    assert debtor.get(f"/pay/{theirs}/logo").status_code == 404  # other has none
    assert "/logo" not in debtor.get(f"/pay/{theirs}").get_data(as_text=True)
    assert debtor.get("/pay/not-a-real-token/logo").status_code == 404
    assert logo_key(session, other) is None


def test_creditor_users_get_their_own_logo_only(app: Flask, world: dict) -> None:
    acme_user = as_user(app, world["people"]["acme_user"])
    other_user = as_user(app, world["people"]["other_user"])
    assert acme_user.get("/creditor/logo").status_code == 404  # none yet
    assert upload(as_user(app, world["people"]["admin"]), world["acme"], PNG).status_code == 302
    served = acme_user.get("/creditor/logo")
    assert (served.status_code, served.data) == (200, PNG)
    assert other_user.get("/creditor/logo").status_code == 404


def test_only_agency_admins_upload_or_open_a_logo(
    app: Flask, session: Session, world: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    acme = world["acme"]
    assert upload(as_user(app, world["people"]["admin"]), acme, PNG).status_code == 302
    kept = logo_key(session, acme)
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # reach the role check
    for who in ("collector", "acme_user"):
        client = as_user(app, world["people"][who])
        refused = client.post(
            f"/agency/tenants/{acme.id}/branding",
            data={"logo": (io.BytesIO(JPEG), "logo.jpg")},
            content_type="multipart/form-data",
        )
        assert refused.status_code == 403, who
        assert client.get(f"/agency/tenants/{acme.id}/logo").status_code == 403, who
    assert logo_key(session, acme) == kept


def test_debtors_pages_take_their_creditors_colour(
    app: Flask, session: Session, world: dict
) -> None:
    with unscoped(session):
        session.get(Tenant, world["acme"].id).brand_colour = "#8b1a1a"
        session.commit()
    ours = token_of(session, world["cases"]["acme"])
    theirs = token_of(session, world["cases"]["other"])
    debtor = app.test_client()
    assert f'href="/pay/{ours}/brand.css"' in debtor.get(f"/pay/{ours}").get_data(as_text=True)
    sheet = debtor.get(f"/pay/{ours}/brand.css")
    assert (sheet.status_code, sheet.mimetype) == (200, "text/css")
    assert "--pico-primary: #8b1a1a;" in sheet.get_data(as_text=True)
    assert "#8b1a1a" not in debtor.get(f"/pay/{theirs}/brand.css").get_data(as_text=True)
    assert debtor.get("/pay/not-a-real-token/brand.css").status_code == 404


@pytest.mark.parametrize(
    ("colour", "low", "high"),
    [("#ffffff", 1.0, 1.0), ("#000000", 21.0, 21.0), ("#1d4ed8", 6.0, 7.0), ("#ffd700", 1.3, 1.5)],
)
def test_contrast_with_white_follows_wcag(colour: str, low: float, high: float) -> None:
    assert low <= round(branding.contrast_with_white(colour), 2) <= high
