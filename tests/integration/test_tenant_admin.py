"""Agency admins keep their clients: the figures of each, signing one up, its profile,
suspension (which ends its users' sessions) and paused collection."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import AuditEntry, Case, Role, Stage, Tenant, TenantStatus, User
from portal.services import tenant_admin
from portal.services.money import format_money
from portal.services.payments import record_payment
from portal.services.placement import place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import PASSWORD, make_case, make_tenant, make_user, placement_request
from tests.querycount import counted_queries

NEW_CLIENT = {"name": "Borealis Trading Ltd", "slug": "borealis", "currency": "gbp"}
PROFILE = {"name": "Acme Supplies GmbH", "brand_name": "Acme", "brand_colour": "#aa3300"}
# Pages built beside this one that the client's page links to.
LINKED_PAGES = {"agency.tenant_terms": "terms", "agency.tenant_users": "users"}


@pytest.fixture(autouse=True)
def linked_pages(app: Flask) -> Iterator[None]:
    """Where this build has no terms or users page yet, their links get a stand-in URL,
    so the client's page can be tested on its own."""

    def stand_in(_error: Exception, endpoint: str, values: dict) -> str | None:
        page = LINKED_PAGES.get(endpoint)
        return f"/agency/tenants/{values['tenant_id']}/{page}" if page else None

    app.url_build_error_handlers.append(stand_in)
    yield
    app.url_build_error_handlers.remove(stand_in)


def csrf_token(client: FlaskClient, path: str) -> str:
    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
        r'name="csrf_token" value="([^"]+)"', page
    )
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def pay(session: Session, case: Case, amount: int) -> None:
    record_payment(
        session,
        case,
        amount_minor=amount,
        event_key=f"pay-{case.id}-{amount}",
        paid_on=date(2026, 3, 1),
        description="Transfer",
    )


@pytest.fixture
def clients(session: Session) -> dict:
    """Three clients, worked out by hand:

    ======  ==================================  ====  =================  ==============  ======
    client  cases (placed, paid)                open  placed             collected       users
    ======  ==================================  ====  =================  ==============  ======
    acme    EUR 1,000.00 paid 300.00            2     EUR 3,000.00       EUR 2,300.00    2 of 3
            EUR 2,000.00 paid in full (closed)        GBP 700.00         GBP 200.00
            GBP 700.00 paid 200.00
    other   EUR 500.00                          1     EUR 500.00         EUR 0.00        1
    quiet   none                                0     (none)             (none)          0
    ======  ==================================  ====  =================  ==============  ======
    """
    with unscoped(session):
        acme = make_tenant(session, "acme")
        other = make_tenant(session, "other")
        quiet = make_tenant(session, "quiet")
        first = make_case(session, acme, amounts=(100_000,))
        paid = make_case(session, acme, amounts=(200_000,))
        pounds = place_case(session, acme, placement_request(amounts=(70_000,), currency="GBP"))
        make_case(session, other, amounts=(50_000,))
        pay(session, first, 30_000)
        pay(session, paid, 200_000)
        pay(session, pounds, 20_000)
        make_user(session, Role.CREDITOR_ADMIN, acme)
        make_user(session, Role.CREDITOR_USER, acme)
        make_user(session, Role.CREDITOR_USER, acme).active = False
        make_user(session, Role.CREDITOR_ADMIN, other)
        admin = make_user(session, Role.AGENCY_ADMIN)
        session.commit()
    assert paid.stage is Stage.CLOSED
    return {"acme": acme, "other": other, "quiet": quiet, "admin": admin}


@pytest.fixture
def admin_client(client: FlaskClient, clients: dict) -> FlaskClient:
    return sign_in(client, clients["admin"])


def audited(session: Session, action: str) -> list[AuditEntry]:
    with unscoped(session):
        return list(session.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def tenant_count(session: Session) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(Tenant)) or 0


def fresh(session: Session, tenant: Tenant) -> Tenant:
    with unscoped(session):
        session.expire_all()
        return session.scalars(select(Tenant).where(Tenant.id == tenant.id)).one()


# -- figures --------------------------------------------------------------------------


def test_each_client_has_its_figures(session: Session, clients: dict) -> None:
    with unscoped(session):
        rows = {row.tenant.slug: row for row in tenant_admin.tenant_overview(session)}
    assert list(rows) == ["acme", "other", "quiet"]  # by name
    acme, other, quiet = rows["acme"], rows["other"], rows["quiet"]
    assert (acme.open_cases, acme.active_users) == (2, 2)
    assert [(m.currency, m.placed, m.collected) for m in acme.money] == [
        ("EUR", 300_000, 230_000),
        ("GBP", 70_000, 20_000),
    ]
    assert (other.open_cases, other.active_users) == (1, 1)
    assert [(m.currency, m.placed, m.collected) for m in other.money] == [("EUR", 50_000, 0)]
    assert (quiet.open_cases, quiet.active_users, quiet.money) == (0, 0, [])


def test_the_figures_take_the_same_queries_however_many_clients(
    app: Flask, session: Session, clients: dict
) -> None:
    engine = app.extensions["portal.engine"]
    with unscoped(session), counted_queries(engine) as few:
        tenant_admin.tenant_overview(session)
    with unscoped(session):
        for number in range(4):
            more = make_tenant(session, f"more-{number}", currency="CHF")
            make_case(session, more)
            make_case(session, more)
            make_user(session, Role.CREDITOR_USER, more)
        session.flush()
    with unscoped(session), counted_queries(engine) as many:
        rows = tenant_admin.tenant_overview(session)
    assert len(rows) == 7
    assert len(selects(many)) == len(selects(few)) == 3


def selects(statements: list[str]) -> list[str]:
    """The queries themselves, without the savepoints the test transaction adds."""
    return [statement for statement in statements if statement.lstrip().startswith("SELECT")]


def test_the_clients_page_lists_them_with_their_figures(admin_client: FlaskClient) -> None:
    page = admin_client.get("/agency/tenants")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "Acme Ltd" in text and "Other Ltd" in text and "Quiet Ltd" in text
    for amount, currency in ((300_000, "EUR"), (230_000, "EUR"), (70_000, "GBP")):
        assert format_money(amount, currency) in text
    assert "New client" in text


# -- signing a client up --------------------------------------------------------------


def test_an_admin_signs_up_a_client(admin_client: FlaskClient, session: Session) -> None:
    token = csrf_token(admin_client, "/agency/tenants/new")
    response = admin_client.post("/agency/tenants/new", data=NEW_CLIENT | {"csrf_token": token})
    assert response.status_code == 302
    with unscoped(session):
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "borealis")).one()
    assert (tenant.name, tenant.currency, tenant.status) == (
        "Borealis Trading Ltd",
        "GBP",
        TenantStatus.ACTIVE,
    )
    assert response.headers["Location"] == f"/agency/tenants/{tenant.id}"
    [entry] = audited(session, "tenant.created")
    assert entry.tenant_id == tenant.id and entry.details["slug"] == "borealis"
    assert "Borealis Trading Ltd" in admin_client.get("/agency/tenants").get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"slug": "Not A Slug!"}, "lowercase letters, digits or inner hyphens"),
        ({"slug": "acme"}, "already exists"),
        ({"currency": "XYZ"}, "not an ISO 4217 currency code"),
        ({"currency": "EURO"}, "three-letter ISO 4217 code"),
        ({"name": "x" * 201}, "200 characters"),
        ({"name": ""}, "required"),
    ],
)
def test_a_client_that_cannot_be_signed_up_is_refused(
    admin_client: FlaskClient, session: Session, change: dict, message: str
) -> None:
    before = tenant_count(session)
    token = csrf_token(admin_client, "/agency/tenants/new")
    response = admin_client.post(
        "/agency/tenants/new", data=NEW_CLIENT | change | {"csrf_token": token}
    )
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert tenant_count(session) == before
    assert audited(session, "tenant.created") == []


# -- profile --------------------------------------------------------------------------


def test_the_profile_is_saved_and_audited(
    admin_client: FlaskClient, session: Session, clients: dict
) -> None:
    acme = clients["acme"]
    page = f"/agency/tenants/{acme.id}"
    token = csrf_token(admin_client, page)
    response = admin_client.post(f"{page}/profile", data=PROFILE | {"csrf_token": token})
    assert response.status_code == 302
    saved = fresh(session, acme)
    assert (saved.name, saved.brand_name, saved.brand_colour) == (
        "Acme Supplies GmbH",
        "Acme",
        "#aa3300",
    )
    [entry] = audited(session, "tenant.profile_changed")
    assert entry.details["changes"]["name"] == {"before": "Acme Ltd", "after": "Acme Supplies GmbH"}
    assert "Acme Supplies GmbH" in admin_client.get(page).get_data(as_text=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"brand_colour": "blue"}, "is not a colour"),
        ({"brand_colour": "#12345g"}, "is not a colour"),
        ({"brand_colour": "#ffd700"}, "too light to read on white"),
        ({"name": "x" * 201}, "200 characters"),
        ({"brand_name": "y" * 201}, "200 characters"),
        ({"name": "  "}, "needs a name"),
    ],
)
def test_a_bad_profile_is_refused(
    admin_client: FlaskClient, session: Session, clients: dict, change: dict, message: str
) -> None:
    acme = clients["acme"]
    page = f"/agency/tenants/{acme.id}"
    token = csrf_token(admin_client, page)
    response = admin_client.post(f"{page}/profile", data=PROFILE | change | {"csrf_token": token})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    saved = fresh(session, acme)
    assert (saved.name, saved.brand_name, saved.brand_colour) == ("Acme Ltd", None, "#1d4ed8")
    assert audited(session, "tenant.profile_changed") == []


def test_the_client_page_links_to_its_terms_letters_and_users(
    admin_client: FlaskClient, clients: dict
) -> None:
    acme = clients["acme"]
    text = admin_client.get(f"/agency/tenants/{acme.id}").get_data(as_text=True)
    for page in ("terms", "letters", "users"):
        assert f'href="/agency/tenants/{acme.id}/{page}"' in text
    assert "cannot sign in" in text and "unless you also stop collection" in text


# -- suspension and paused collection -------------------------------------------------


def switch(client: FlaskClient, tenant: Tenant, action: str):
    token = csrf_token(client, f"/agency/tenants/{tenant.id}")
    return client.post(f"/agency/tenants/{tenant.id}/{action}", data={"csrf_token": token})


def log_in(client: FlaskClient, email: str):
    token = csrf_token(client, "/login")
    return client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})


def creditor_of(session: Session, tenant: Tenant) -> User:
    with unscoped(session):
        return session.scalars(
            select(User).where(User.tenant_id == tenant.id, User.active.is_(True)).order_by(User.id)
        ).first()


def test_suspending_a_client_signs_its_users_out_until_they_sign_in_again(
    app: Flask, admin_client: FlaskClient, session: Session, clients: dict
) -> None:
    acme = clients["acme"]
    creditor = sign_in(app.test_client(), creditor_of(session, acme))
    assert creditor.get("/creditor/").status_code == 200

    assert switch(admin_client, acme, "suspend").status_code == 302
    assert fresh(session, acme).status is TenantStatus.SUSPENDED
    signed_out = creditor.get("/creditor/")
    assert signed_out.status_code == 302 and signed_out.headers["Location"].startswith("/login")
    with creditor.session_transaction() as http_session:
        assert "_user_id" not in http_session
    assert log_in(creditor, creditor_of(session, acme).email).status_code == 401

    assert switch(admin_client, acme, "reactivate").status_code == 302
    assert fresh(session, acme).status is TenantStatus.ACTIVE
    assert creditor.get("/creditor/").status_code == 302  # the old session stays ended
    assert log_in(creditor, creditor_of(session, acme).email).status_code == 302
    assert creditor.get("/creditor/").status_code == 200
    assert [len(audited(session, a)) for a in ("tenant.suspended", "tenant.reactivated")] == [1, 1]


def test_a_deactivated_user_is_signed_out_on_their_next_request(
    app: Flask, session: Session, clients: dict
) -> None:
    user = creditor_of(session, clients["acme"])
    creditor = sign_in(app.test_client(), user)
    assert creditor.get("/creditor/").status_code == 200
    with unscoped(session):
        session.get(User, user.id).active = False
        session.commit()
    assert creditor.get("/creditor/").status_code == 302
    with creditor.session_transaction() as http_session:
        assert "_user_id" not in http_session


def test_collection_is_paused_and_resumed(
    admin_client: FlaskClient, session: Session, clients: dict
) -> None:
    acme = clients["acme"]
    assert switch(admin_client, acme, "pause").status_code == 302
    assert fresh(session, acme).collection_paused is True
    assert fresh(session, acme).status is TenantStatus.ACTIVE  # its users still sign in
    again = switch(admin_client, acme, "pause")
    assert "already paused" in admin_client.get(again.headers["Location"]).get_data(as_text=True)
    assert len(audited(session, "tenant.collection_paused")) == 1
    assert switch(admin_client, acme, "resume").status_code == 302
    assert fresh(session, acme).collection_paused is False
    assert len(audited(session, "tenant.collection_resumed")) == 1


# -- who may -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "role", [Role.COLLECTOR, Role.LEGAL, Role.CREDITOR_ADMIN, Role.CREDITOR_USER]
)
def test_only_agency_admins_keep_the_clients(
    app: Flask,
    client: FlaskClient,
    session: Session,
    clients: dict,
    role: Role,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(app.config, "WTF_CSRF_ENABLED", False)  # reach the role check
    acme = clients["acme"]
    with unscoped(session):
        user = make_user(session, role, acme if role.value.startswith("creditor") else None)
        session.commit()
    sign_in(client, user)
    page = f"/agency/tenants/{acme.id}"
    for path in ("/agency/tenants", "/agency/tenants/new", page, f"{page}/logo"):
        assert client.get(path).status_code == 403, path
    posts = {
        "/agency/tenants/new": NEW_CLIENT,
        f"{page}/profile": PROFILE,
        f"{page}/suspend": {},
        f"{page}/pause": {},
    }
    for path, data in posts.items():
        assert client.post(path, data=data).status_code == 403, path
    saved = fresh(session, acme)
    assert (saved.name, saved.status, saved.collection_paused) == (
        "Acme Ltd",
        TenantStatus.ACTIVE,
        False,
    )
    assert tenant_count(session) == 3
