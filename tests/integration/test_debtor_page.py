"""The debtor's page behind the payment link: what is owed and why, nothing else."""

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.extensions import limiter
from portal.models import Case
from portal.services import payment_links
from tenants.scoping import unscoped
from tests.factories import make_case, make_tenant


@pytest.fixture
def cases(session: Session):
    with unscoped(session):
        ours = make_case(
            session,
            make_tenant(session, "acme"),
            debtor_name="Keller Bau GmbH",
            amounts=(100_000, 2_550),
        )
        other = make_case(session, make_tenant(session, "zeta"), debtor_name="Zeta Secret AG")
        session.commit()
    return ours, other


def test_the_link_shows_what_is_owed_and_why(client: FlaskClient, cases) -> None:
    ours, _other = cases
    page = client.get(f"/pay/{payment_links.token_for(ours)}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Keller Bau GmbH, you owe €1,025.50" in html
    assert ours.invoices[0].number in html and ours.agency_reference in html
    assert "Acme Ltd" in html  # the creditor, by name
    assert "Zeta" not in html


def test_bad_expired_and_revoked_links_show_nothing(
    client: FlaskClient, session: Session, cases
) -> None:
    ours, _ = cases
    token = payment_links.token_for(ours)
    for wrong in ("nope", "A" * 43, token[:-1] + ("A" if token[-1] != "A" else "B")):
        assert client.get(f"/pay/{wrong}").status_code == 404
    with unscoped(session):
        session.get(Case, ours.id).payment_link_expires_at = utcnow() - timedelta(seconds=1)
        session.commit()
    assert client.get(f"/pay/{token}").status_code == 404


def test_guessing_links_is_rate_limited(client: FlaskClient) -> None:
    limiter.reset()
    codes = [client.get(f"/pay/{'x' * 43}").status_code for _ in range(31)]
    assert codes[:30] == [404] * 30 and codes[30] == 429
