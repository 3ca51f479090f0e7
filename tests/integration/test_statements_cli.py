"""``flask statements issue``: the monthly statements, safe to run again, clear errors."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.models import RemittanceStatement
from portal.services import payments
from tenants.scoping import unscoped
from tests.factories import make_case, make_tenant


@pytest.fixture
def cli(app: Flask, session: Session):
    runner = app.test_cli_runner()

    def run(*args: str):
        return runner.invoke(args=list(args))

    return run


@pytest.fixture
def world(session: Session) -> None:
    """October 2026: acme collects 300.00 at 10 % and 50.00 in dollars; zeta 100.00 at 15 %."""
    with unscoped(session):
        acme = make_tenant(session, "acme")
        acme.commission_amicable_bp = 1_000
        zeta = make_tenant(session, "zeta")
        euros = make_case(session, acme, debtor_name="Keller Bau GmbH")
        dollars = make_case(session, acme, debtor_name="Lone Star LLC")
        dollars.currency = "USD"  # arranged: acme also places in dollars
        secret = make_case(session, zeta, debtor_name="Zeta Secret AG")
        for case, amount, key in (
            (euros, 30_000, "a"),
            (dollars, 5_000, "b"),
            (secret, 10_000, "c"),
        ):
            payments.record_payment(
                session, case, amount_minor=amount, event_key=key, paid_on=date(2026, 10, 9),
                description="Bank transfer",
            )  # fmt: skip
        session.commit()


def statements(session: Session) -> list[tuple[str, str, date, int]]:
    with unscoped(session):
        rows = session.scalars(select(RemittanceStatement).order_by(RemittanceStatement.id))
        return [(s.number, s.currency, s.period_end, s.net_minor) for s in rows]


def test_the_month_is_issued_once(cli, session: Session, world: None) -> None:
    result = cli("statements", "issue", "--month", "2026-10")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith(
        "issued ACME-0001\tEUR\t2026-10-01..2026-10-31\t1 line(s)\tnet €270.00"
    )
    assert lines[1].startswith(
        "issued ACME-0002\tUSD\t2026-10-01..2026-10-31\t1 line(s)\tnet $45.00"
    )
    assert lines[2].startswith("issued ZETA-0001\tEUR")
    assert lines[-1] == "3 statement(s) issued"
    assert statements(session) == [
        ("ACME-0001", "EUR", date(2026, 10, 31), 27_000),
        ("ACME-0002", "USD", date(2026, 10, 31), 4_500),
        ("ZETA-0001", "EUR", date(2026, 10, 31), 8_500),
    ]

    again = cli("statements", "issue", "--month", "2026-10")
    assert again.exit_code == 0, again.output
    assert again.output.splitlines() == ["0 statement(s) issued"]
    assert len(statements(session)) == 3


def test_one_tenant_only(cli, session: Session, world: None) -> None:
    result = cli("statements", "issue", "--month", "2026-10", "--tenant", "zeta")
    assert result.exit_code == 0, result.output
    assert [number for number, *_ in statements(session)] == ["ZETA-0001"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--month", "2026-13"), "is not a month written YYYY-MM"),
        (("--month", "October"), "is not a month written YYYY-MM"),
        (("--month", "2026-10-01"), "is not a month written YYYY-MM"),
        (("--month", "2999-01"), "has not ended yet"),
        (("--month", "2026-10", "--tenant", "nobody"), "no tenant with slug 'nobody'"),
    ],
)
def test_bad_input_is_refused_and_issues_nothing(
    cli, session: Session, world: None, args: tuple[str, ...], message: str
) -> None:
    result = cli("statements", "issue", *args)
    assert result.exit_code != 0
    assert message in result.output
    with unscoped(session):
        assert session.scalar(select(func.count()).select_from(RemittanceStatement)) == 0
