"""Payment links: unguessable, shown again on demand, found by hash, expiring, revocable."""

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Case
from portal.services import payment_links
from portal.services.placement import place_case
from tenants.scoping import unscoped
from tests.conftest import TEST_SECRET
from tests.factories import make_case, make_tenant, placement_request


@pytest.fixture
def case(session: Session):
    with unscoped(session):
        tenant = make_tenant(session)
        tenant.payment_link_valid_days = 30
        yield make_case(session, tenant)


def test_every_placed_case_has_a_link(session: Session, case) -> None:
    token = payment_links.token_for(case)
    assert token is not None and len(token) == 43  # 256 bits, URL-safe
    assert token not in (case.payment_link_hash, case.payment_link_nonce)
    assert payment_links.token_for(case) == token  # shown again, never stored
    with unscoped(session):
        assert payment_links.find_case(session, token, utcnow()) is case


def test_links_expire(session: Session, case) -> None:
    token = payment_links.token_for(case)
    later = utcnow() + timedelta(days=31)
    with unscoped(session):
        assert payment_links.find_case(session, token, later) is None


@pytest.mark.parametrize("token", ["", "short", "x" * 43, "x" * 5000])
def test_wrong_tokens_find_nothing(session: Session, case, token: str) -> None:
    with unscoped(session):
        assert payment_links.find_case(session, token, utcnow()) is None


def test_reissuing_revokes_the_old_link(session: Session, case) -> None:
    old = payment_links.token_for(case)
    with unscoped(session):
        new = payment_links.reissue(case, utcnow())
        session.flush()
        assert new != old
        assert payment_links.find_case(session, old, utcnow()) is None
        assert payment_links.find_case(session, new, utcnow()) is case
        payment_links.revoke(case)
        session.flush()
        assert payment_links.find_case(session, new, utcnow()) is None
        assert payment_links.token_for(case) is None


def test_the_token_depends_on_the_app_secret(case) -> None:
    token = payment_links.token_for(case)
    payment_links.set_secret("another secret entirely, long enough to sign things")
    try:
        assert payment_links.token_for(case) != token
    finally:
        payment_links.set_secret(TEST_SECRET)


def test_cases_without_a_link_get_one_from_the_command(app, session: Session, case) -> None:
    with unscoped(session):
        payment_links.revoke(case)
        session.commit()
    result = app.test_cli_runner().invoke(args=["payment-links", "issue"])
    assert result.exit_code == 0 and "issued 1 payment link(s)" in result.output
    with unscoped(session):
        reloaded = session.get(Case, case.id)
        token = payment_links.token_for(reloaded)
        assert token and payment_links.find_case(session, token, utcnow()) is reloaded


def test_a_case_placed_with_an_earlier_date_gets_a_link_that_works_now(session: Session) -> None:
    """Importing history (a placement date long past) must not hand out expired links."""
    long_ago = utcnow() - timedelta(days=400)
    with unscoped(session):
        tenant = make_tenant(session, "history")
        placed = place_case(session, tenant, placement_request(), placed_at=long_ago)
        token = payment_links.token_for(placed)
        assert token is not None
        assert payment_links.find_case(session, token, utcnow()) is placed
        valid_days = timedelta(days=tenant.payment_link_valid_days)
        assert placed.payment_link_expires_at > utcnow() + valid_days - timedelta(minutes=5)
