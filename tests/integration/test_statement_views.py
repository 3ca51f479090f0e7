"""Remittance statements on the pages: creditors read their own (both roles), never
another tenant's; agency admins list every client's and issue one on demand; refused
requests say why and change nothing."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import RemittanceStatement, Role, StatementLine
from portal.services import payments, remittance
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_letters import pdf_support

OCT_END = date(2026, 10, 31)
TODAY = utcnow().date()
YESTERDAY = TODAY - timedelta(days=1)


def pay(session: Session, case, amount: int, day: date, key: str) -> None:
    payments.record_payment(
        session, case, amount_minor=amount, event_key=key, paid_on=day, description="Bank transfer"
    )


@pytest.fixture
def world(session: Session) -> dict:
    """acme and zeta each with an October statement; acme has money since (open period)."""
    with unscoped(session):
        acme = make_tenant(session, "acme")
        acme.commission_amicable_bp = 1_000
        case = make_case(session, acme, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        zeta = make_tenant(session, "zeta")
        secret = make_case(session, zeta, debtor_name="Zeta Secret AG")
        pay(session, case, 30_000, date(2026, 10, 5), "pay-1")
        pay(session, secret, 10_000, date(2026, 10, 6), "pay-zeta")
        statements = {
            tenant.slug: remittance.issue(session, tenant, "EUR", OCT_END, None, today=TODAY)
            for tenant in (acme, zeta)
        }
        pay(session, case, 20_000, YESTERDAY, "pay-2")  # after October: not yet issued
        people = {
            "admin": make_user(session, Role.AGENCY_ADMIN),
            "collector": make_user(session, Role.COLLECTOR, limited_to=[acme]),
            "legal": make_user(session, Role.LEGAL),
            "creditor": make_user(session, Role.CREDITOR_ADMIN, acme),
            "creditor_user": make_user(session, Role.CREDITOR_USER, acme),
        }
        session.commit()
    return {
        "acme": acme, "zeta": zeta, "case": case,
        "mine": statements["acme"], "theirs": statements["zeta"], **people,
    }  # fmt: skip


def statement_count(session: Session) -> tuple[int, int]:
    with unscoped(session):
        return (
            session.scalar(select(func.count()).select_from(RemittanceStatement)) or 0,
            session.scalar(select(func.count()).select_from(StatementLine)) or 0,
        )


# --- creditors ------------------------------------------------------------------------------


def test_a_creditor_lists_their_statements_and_the_open_period(
    client: FlaskClient, world: dict
) -> None:
    page = sign_in(client, world["creditor"]).get("/creditor/statements")
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "ACME-0001" in text and "ZETA-0001" not in text
    assert "01 Nov 2026" in text or "1 Nov 2026" in text  # the open period starts after October
    # October: 300.00 collected, 30.00 commission, 270.00 net; since then 200.00 collected.
    for figure in ("€300.00", "€30.00", "€270.00", "Not yet issued", "€200.00", "€180.00"):
        assert figure in text, figure
    mine = world["mine"].id
    assert f"/creditor/statements/{mine}.pdf" in text and f"/creditor/statements/{mine}.csv" in text


@pytest.mark.parametrize("role", ["creditor", "creditor_user"])
def test_both_creditor_roles_read_a_statement(client: FlaskClient, world: dict, role: str) -> None:
    signed_in = sign_in(client, world[role])
    mine = world["mine"]
    page = signed_in.get(f"/creditor/statements/{mine.id}").get_data(as_text=True)
    for expected in ("ACME-0001", world["case"].agency_reference, "Keller Bau GmbH",
                     "Net due to you", "€270.00", "next statement"):  # fmt: skip
        assert expected in page, expected
    download = signed_in.get(f"/creditor/statements/{mine.id}.csv")
    assert download.status_code == 200 and download.mimetype == "text/csv"
    assert "remittance-ACME-0001.csv" in download.headers["Content-Disposition"]
    assert download.get_data(as_text=True).removeprefix("\ufeff").startswith("Statement,")


@pytest.mark.parametrize("suffix", ["", ".pdf", ".csv"])
def test_another_tenants_statement_is_not_found(
    client: FlaskClient, world: dict, suffix: str
) -> None:
    response = sign_in(client, world["creditor"]).get(
        f"/creditor/statements/{world['theirs'].id}{suffix}"
    )
    assert response.status_code == 404
    assert "ZETA" not in response.get_data(as_text=True)


def test_the_creditor_downloads_the_pdf(client: FlaskClient, world: dict) -> None:
    pdf_support()
    response = sign_in(client, world["creditor_user"]).get(
        f"/creditor/statements/{world['mine'].id}.pdf"
    )
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    assert response.data.startswith(b"%PDF")


def test_the_csv_download_is_the_stored_statement(
    client: FlaskClient, session: Session, world: dict
) -> None:
    signed_in = sign_in(client, world["creditor"])
    first = signed_in.get(f"/creditor/statements/{world['mine'].id}.csv").data
    with unscoped(session):
        expected = remittance.statement_csv(session, world["mine"])
    assert first == expected.encode()
    assert signed_in.get(f"/creditor/statements/{world['mine'].id}.csv").data == first


# --- the agency -----------------------------------------------------------------------------


def csrf(client: FlaskClient) -> str:
    page = client.get("/agency/statements").get_data(as_text=True)
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert found, "no CSRF token"
    return found.group(1)


def issue(client: FlaskClient, **fields: object):
    return client.post("/agency/statements", data={"csrf_token": csrf(client), **fields})


@pytest.mark.parametrize("role", ["collector", "legal"])
def test_only_agency_admins_reach_statements(
    client: FlaskClient, session: Session, world: dict, role: str
) -> None:
    signed_in = sign_in(client, world[role])
    assert signed_in.get("/agency/statements").status_code == 403
    assert signed_in.get(f"/agency/statements/{world['mine'].id}").status_code == 403
    assert signed_in.get(f"/agency/statements/{world['mine'].id}.csv").status_code == 403
    before = statement_count(session)
    refused = signed_in.post(
        "/agency/statements",
        data={"tenant": world["acme"].id, "currency": "EUR", "period_end": str(YESTERDAY)},
    )
    assert refused.status_code in (400, 403)  # no form token either way
    assert statement_count(session) == before


def test_creditors_are_kept_off_the_agency_pages(client: FlaskClient, world: dict) -> None:
    assert sign_in(client, world["creditor"]).get("/agency/statements").status_code == 403


def test_the_agency_admin_sees_every_clients_statements(client: FlaskClient, world: dict) -> None:
    text = sign_in(client, world["admin"]).get("/agency/statements").get_data(as_text=True)
    assert "ACME-0001" in text and "ZETA-0001" in text
    assert "Acme Ltd" in text and "Zeta Ltd" in text
    assert f'value="{YESTERDAY.isoformat()}"' in text  # issued up to yesterday by default
    page = client.get(f"/agency/statements/{world['theirs'].id}").get_data(as_text=True)
    assert "ZETA-0001" in page and "Zeta Secret AG" in page
    download = client.get(f"/agency/statements/{world['theirs'].id}.csv")
    assert download.status_code == 200 and b"ZETA-0001" in download.data


def test_the_agency_admin_issues_a_statement_on_demand(
    client: FlaskClient, session: Session, world: dict
) -> None:
    signed_in = sign_in(client, world["admin"])
    response = issue(
        signed_in, tenant=world["acme"].id, currency="EUR", period_end=YESTERDAY.isoformat()
    )
    assert response.status_code == 302
    with unscoped(session):
        issued = session.scalars(
            select(RemittanceStatement).where(RemittanceStatement.number == "ACME-0002")
        ).one()
    assert response.headers["Location"].endswith(f"/agency/statements/{issued.id}")
    assert (issued.period_start, issued.period_end) == (date(2026, 11, 1), YESTERDAY)
    assert (issued.collected_minor, issued.commission_minor, issued.net_minor) == (
        20_000, 2_000, 18_000,
    )  # fmt: skip
    assert issued.issued_by_id == world["admin"].id
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Statement ACME-0002 issued to Acme Ltd" in page


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"tenant": "999999"}, "Choose one of the agency&#39;s clients."),
        ({"tenant": "acme"}, "Choose one of the agency&#39;s clients."),
        ({"period_end": (TODAY + timedelta(days=1)).isoformat()}, "is after today"),
        ({"period_end": "2026-10-31"}, "ACME-0001 already covers"),
        ({"period_end": "2026-10-15"}, "choose a later day"),
        ({"period_end": "yesterday"}, "Not a valid date value"),
        ({"period_end": ""}, "This field is required"),
        ({"currency": "XYZ"}, "is not a currency code"),
        ({"currency": "GBP"}, "Nothing to put on a statement"),
    ],
)
def test_bad_input_is_refused_and_changes_nothing(
    client: FlaskClient, session: Session, world: dict, fields: dict, message: str
) -> None:
    signed_in = sign_in(client, world["admin"])
    before = statement_count(session)
    good = {"tenant": world["acme"].id, "currency": "EUR", "period_end": YESTERDAY.isoformat()}
    response = issue(signed_in, **(good | fields))
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert statement_count(session) == before


def test_issuing_without_the_form_token_is_refused(
    client: FlaskClient, session: Session, world: dict
) -> None:
    before = statement_count(session)
    response = sign_in(client, world["admin"]).post(
        "/agency/statements",
        data={"tenant": world["acme"].id, "currency": "EUR", "period_end": YESTERDAY.isoformat()},
    )
    assert response.status_code == 400
    assert statement_count(session) == before
