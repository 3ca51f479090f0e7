"""Finding the account without the link: reference and postal code (or registration number).

Every wrong guess gets the same answer, and guessing is limited per client address and
per reference.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.db import utcnow
from portal.models import Case, Closure, DebtorKind, Stage
from portal.services import payment_links
from portal.services.placement import DebtorDetails, place_case
from tenants.scoping import unscoped
from tests.factories import make_case, make_tenant, placement_request

CSRF = re.compile(r'name="csrf_token" (?:type="hidden" )?value="([^"]+)"')


def csrf_token(client: FlaskClient) -> str:
    found = CSRF.search(client.get("/pay/").get_data(as_text=True))
    assert found, "no CSRF token on the start page"
    return found.group(1)


def look_up(
    client: FlaskClient, reference: str, secret: str, address: str = "203.0.113.1"
) -> TestResponse:
    return client.post(
        "/pay/lookup",
        data={"reference": reference, "secret": secret, "csrf_token": csrf_token(client)},
        environ_base={"REMOTE_ADDR": address},
    )


def typed_sloppily(reference: str) -> str:
    """``26-ABCD-EFGH`` as someone might type it: lower case, spaces, an O for the 0."""
    return " " + reference.lower().replace("-", " ").replace("0", "o") + " "


@pytest.fixture
def cases(session: Session) -> dict[str, Case]:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        shop = make_case(session, tenant, debtor_name="Keller Bau GmbH")
        registered = DebtorDetails(
            kind=DebtorKind.BUSINESS,
            name="Nordlicht Handel GmbH",
            registration_number="HRB 12345 B",
            postal_code="20095",
        )
        business = place_case(session, tenant, placement_request(debtor=registered))
        person = DebtorDetails(
            kind=DebtorKind.PERSON,
            name="Erika Muster",
            registration_number="HRB 999",
            postal_code="80331",
        )
        private = place_case(session, tenant, placement_request(debtor=person))
        session.commit()
    return {"shop": shop, "business": business, "private": private}


def test_the_start_page_explains_where_the_reference_is(client: FlaskClient) -> None:
    page = client.get("/pay/").get_data(as_text=True)
    assert "Our reference" in page and "26-ABCD-EFGH" in page
    assert 'action="/pay/lookup"' in page and 'name="secret"' in page


def test_reference_and_postal_code_open_the_account(client: FlaskClient, cases) -> None:
    case = cases["shop"]
    found = look_up(client, typed_sloppily(case.agency_reference), " 10 115 ")
    token = payment_links.token_for(case)
    assert found.status_code == 303
    assert found.headers["Location"] == f"/pay/{token}"
    page = client.get(found.headers["Location"]).get_data(as_text=True)
    assert "Keller Bau GmbH, you owe" in page


def test_a_business_may_give_its_registration_number(client: FlaskClient, cases) -> None:
    case = cases["business"]
    found = look_up(client, case.agency_reference, "hrb-12345b")
    assert found.headers["Location"] == f"/pay/{payment_links.token_for(case)}"


def without_variables(response: TestResponse) -> str:
    """The page without its CSRF token (signed with the time) and the reference typed
    (echoed into the form)."""
    page = response.get_data(as_text=True)
    for token in set(CSRF.findall(page)):
        page = page.replace(token, "csrf")
    return re.sub(r'(name="reference"[^>]*?) value="[^"]*"', r"\1", page)


def test_every_wrong_guess_gets_the_same_answer(
    client: FlaskClient, session: Session, cases
) -> None:
    shop, private = cases["shop"], cases["private"]
    with unscoped(session):
        closed = make_case(session, shop.tenant, debtor_name="Closed Account GmbH")
        closed.stage, closed.closure = Stage.CLOSED, Closure.PAID
        session.commit()
    guesses = {
        "wrong postal code": (shop.agency_reference, "10116"),
        "unknown reference": ("26-ZZZZ-ZZZZ", "10115"),
        "closed case": (closed.agency_reference, "10115"),
        "a person's registration number": (private.agency_reference, "HRB 999"),
        "nothing but a dash": (shop.agency_reference, "-"),
    }
    answers = {what: look_up(client, *guess) for what, guess in guesses.items()}
    statuses = {what: answer.status_code for what, answer in answers.items()}
    assert set(statuses.values()) == {200}, statuses
    pages = {without_variables(answer) for answer in answers.values()}
    assert len(pages) == 1
    assert "We could not find an open account with these details" in pages.pop()


def test_an_expired_or_missing_link_is_issued_afresh(
    client: FlaskClient, session: Session, cases
) -> None:
    expired, revoked = cases["shop"], cases["business"]
    old_token = payment_links.token_for(expired)
    with unscoped(session):
        expired.payment_link_expires_at = utcnow() - timedelta(days=1)
        payment_links.revoke(revoked)
        session.commit()
    assert client.get(f"/pay/{old_token}").status_code == 404
    for case, secret in ((expired, "10115"), (revoked, "20095")):
        found = look_up(client, case.agency_reference, secret)
        assert found.status_code == 303
        new_token = found.headers["Location"].removeprefix("/pay/")
        assert new_token != old_token
        assert client.get(found.headers["Location"]).status_code == 200
        with unscoped(session):
            assert session.get(Case, case.id).payment_link_expires_at > utcnow()


def test_one_reference_is_limited_whatever_the_address(client: FlaskClient, cases) -> None:
    reference = cases["shop"].agency_reference
    tries = [look_up(client, reference, "99999", f"198.51.100.{n}") for n in range(5)]
    assert [answer.status_code for answer in tries] == [200] * 5
    refused = look_up(client, typed_sloppily(reference), "10115", "198.51.100.77")
    assert refused.status_code == 429, "the right details do not get past the limit"
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert "Retry-After" in refused.headers
    other = look_up(client, cases["business"].agency_reference, "20095", "198.51.100.78")
    assert other.status_code == 303, "another reference is not held up"


def test_one_address_is_limited_whatever_the_reference(client: FlaskClient, cases) -> None:
    codes = [look_up(client, f"26-AAAA-{n:04d}", "10115").status_code for n in range(10)]
    assert codes == [200] * 10
    refused = look_up(client, cases["shop"].agency_reference, "10115")
    assert refused.status_code == 429
    assert look_up(client, cases["shop"].agency_reference, "10115", "192.0.2.9").status_code == 303
