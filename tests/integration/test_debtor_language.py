"""The debtor's pages in English or German: chosen on the page, else the case's language,
else the browser's; amounts and dates as the language writes them."""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.models import Case, DebtorKind
from portal.services import payment_links
from portal.services.placement import DebtorDetails, place_case
from tenants.scoping import unscoped
from tests.factories import make_tenant, placement_request


def german_case(session: Session, *, language: str = "de", country: str = "DE") -> Case:
    debtor = DebtorDetails(
        kind=DebtorKind.BUSINESS,
        name="Keller Bau GmbH",
        postal_code="10115",
        country=country,
        language=language,
    )
    with unscoped(session):
        case = place_case(
            session,
            make_tenant(session, "acme"),
            placement_request(debtor=debtor, amounts=(123_456,)),
        )
        session.commit()
    return case


def page_of(client: FlaskClient, path: str, **headers: str) -> str:
    response = client.get(path, headers=headers)
    assert response.status_code == 200, path
    return response.get_data(as_text=True).replace("\N{NO-BREAK SPACE}", " ")


def csrf_token(page: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, "no language switch on the page"
    return found.group(1)


def choose(client: FlaskClient, code: str, next_page: str, page: str):
    return client.post(
        f"/pay/language/{code}",
        query_string={"next": next_page},
        data={"csrf_token": csrf_token(page)},
    )


@pytest.mark.parametrize(("language", "country"), [("de", "DE"), ("it", "AT")])
def test_a_german_debtor_reads_german(
    client: FlaskClient, session: Session, language: str, country: str
) -> None:
    case = german_case(session, language=language, country=country)
    page = page_of(client, f"/pay/{payment_links.token_for(case)}")
    assert '<html lang="de"' in page
    assert "Keller Bau GmbH, offen ist ein Betrag von 1.234,56 €" in page
    assert "Rechnung" in page and "Fällig am" in page
    assert "Forderung bestreiten" in page


def test_the_browser_language_counts_when_nothing_else_says(client: FlaskClient) -> None:
    german = page_of(client, "/pay/", **{"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    assert '<html lang="de"' in german and "Unser Zeichen" in german
    english = page_of(client, "/pay/", **{"Accept-Language": "fr, en;q=0.5"})
    assert '<html lang="en"' in english and "Our reference" in english


def test_choosing_english_wins_over_the_case_and_the_browser(
    client: FlaskClient, session: Session
) -> None:
    path = f"/pay/{payment_links.token_for(german_case(session))}"
    german = page_of(client, path, **{"Accept-Language": "de"})
    chosen = choose(client, "en", path, german)
    assert chosen.status_code == 303 and chosen.headers["Location"] == path
    english = page_of(client, path, **{"Accept-Language": "de"})
    assert '<html lang="en"' in english
    assert "Keller Bau GmbH, you owe €1,234.56" in english
    back = choose(client, "de", path, english)
    assert back.headers["Location"] == path
    assert "offen ist ein Betrag von 1.234,56 €" in page_of(client, path)


def test_the_dispute_pages_speak_german_too(client: FlaskClient, session: Session) -> None:
    case = german_case(session)
    page = page_of(client, f"/pay/{payment_links.token_for(case)}/dispute")
    assert "Warum bestreiten Sie die Forderung?" in page and "Einwand absenden" in page
    refused = client.post(
        f"/pay/{payment_links.token_for(case)}/dispute",
        data={"reason": " ", "csrf_token": csrf_token(page)},
    )
    assert refused.status_code == 422
    assert "Bitte teilen Sie uns mit, warum Sie die Forderung bestreiten." in refused.get_data(
        as_text=True
    )


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/pay/",
        "//evil.example/pay/",
        "/\\evil.example/",
        "/pay/\\\\evil.example",
        "/agency/",
        "javascript:alert(1)",
        "",
    ],
)
def test_the_switch_never_sends_anyone_elsewhere(client: FlaskClient, target: str) -> None:
    page = page_of(client, "/pay/")
    answer = choose(client, "de", target, page)
    assert answer.status_code == 303
    assert answer.headers["Location"] == "/pay/"


def test_the_switch_keeps_the_query_of_a_debtor_page(client: FlaskClient) -> None:
    page = page_of(client, "/pay/")
    answer = choose(client, "de", "/pay/lookup?from=letter", page)
    assert answer.headers["Location"] == "/pay/lookup?from=letter"


def test_a_language_not_offered_is_not_found(client: FlaskClient) -> None:
    page = page_of(client, "/pay/")
    assert choose(client, "fr", "/pay/", page).status_code == 404
    assert client.get("/pay/language/de").status_code == 405
    assert '<html lang="en"' in page_of(client, "/pay/")


def test_the_limit_page_speaks_the_debtors_language(client: FlaskClient) -> None:
    page = page_of(client, "/pay/", **{"Accept-Language": "de"})
    data = {"reference": "26-AAAA-0000", "secret": "10115", "csrf_token": csrf_token(page)}
    answers = [
        client.post("/pay/lookup", data=data, headers={"Accept-Language": "de"}) for _ in range(6)
    ]
    assert [answer.status_code for answer in answers] == [200] * 5 + [429]
    refused = answers[-1].get_data(as_text=True)
    assert "Zu viele Versuche" in refused and "bis zu 15 Minuten" in refused
