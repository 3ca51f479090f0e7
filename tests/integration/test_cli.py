"""The operations commands, with their clear errors."""

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import Case, Document, PaymentPlan, Role, Tenant, User
from portal.services import demo
from tenants.scoping import unscoped


@pytest.fixture
def cli(app: Flask, session: Session):
    runner = app.test_cli_runner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(args=list(args), input=stdin)

    return run


def count(session: Session, model) -> int:
    with unscoped(session):
        return session.scalar(select(func.count()).select_from(model))


def test_tenants_create_and_list(cli, session: Session) -> None:
    result = cli("tenants", "create", "acme", "--name", "Acme GmbH", "--currency", "eur")
    assert result.exit_code == 0, result.output
    assert "created tenant acme" in result.output
    cli("tenants", "create", "brightline", "--name", "Brightline Ltd", "--currency", "GBP")
    listing = cli("tenants", "list")
    assert listing.output.splitlines() == [
        "acme\tEUR\tactive\tAcme GmbH",
        "brightline\tGBP\tactive\tBrightline Ltd",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("Bad Slug!", "--name", "X", "--currency", "EUR"), "must be 1-40 lowercase"),
        (("acme", "--name", "X", "--currency", "EURO"), "is not an ISO 4217 currency"),
        (("acme", "--name", "X", "--currency", "XYZ"), "is not an ISO 4217 currency"),
        (("acme", "--name", "  ", "--currency", "EUR"), "needs a name"),
        (("-acme", "--name", "X", "--currency", "EUR"), "No such option"),
    ],
)
def test_tenants_create_refuses_bad_input(cli, session: Session, args, message: str) -> None:
    result = cli("tenants", "create", *args)
    assert result.exit_code != 0
    assert message in result.output
    assert count(session, Tenant) == 0


def test_duplicate_slug_is_refused(cli, session: Session) -> None:
    cli("tenants", "create", "acme", "--name", "Acme", "--currency", "EUR")
    result = cli("tenants", "create", "ACME", "--name", "Other", "--currency", "EUR")
    assert result.exit_code == 1
    assert "a tenant with slug 'acme' already exists" in result.output
    assert count(session, Tenant) == 1


def test_users_create_with_password_from_stdin(cli, session: Session) -> None:
    cli("tenants", "create", "acme", "--name", "Acme", "--currency", "EUR")
    result = cli(
        "users",
        "create",
        "Finance@Acme.example",
        "--role",
        "creditor_admin",
        "--tenant",
        "acme",
        "--password-stdin",
        stdin="a long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = session.scalar(select(User).where(User.email == "finance@acme.example"))
    assert user is not None and user.role is Role.CREDITOR_ADMIN
    assert user.password_hash.startswith("$argon2")


def test_users_create_with_a_prompted_password(cli, session: Session) -> None:
    result = cli(
        "users",
        "create",
        "staff@agency.example",
        "--role",
        "collector",
        stdin="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    assert count(session, User) == 1


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (("x@agency.example", "--role", "boss"), "a long enough password", "unknown role 'boss'"),
        (
            ("not-an-email", "--role", "collector"),
            "a long enough password",
            "is not a valid e-mail",
        ),
        (
            ("x@acme.example", "--role", "creditor_user", "--tenant", "nope"),
            "a long enough password",
            "no tenant with slug 'nope'",
        ),
        (
            ("x@acme.example", "--role", "creditor_user"),
            "a long enough password",
            "belongs to a tenant",
        ),
        (
            ("x@agency.example", "--role", "collector", "--tenant", "acme"),
            "a long enough password",
            "belongs to no tenant",
        ),
        (("x@agency.example", "--role", "collector"), "short", "at least 12 characters"),
    ],
)
def test_users_create_refuses_bad_input(cli, session: Session, args, password, message) -> None:
    cli("tenants", "create", "acme", "--name", "Acme", "--currency", "EUR")
    result = cli("users", "create", *args, "--password-stdin", stdin=password + "\n")
    assert result.exit_code == 1
    assert message in result.output
    assert count(session, User) == 0


def test_duplicate_email_is_refused(cli, session: Session) -> None:
    for _ in range(2):
        result = cli(
            "users",
            "create",
            "one@agency.example",
            "--role",
            "legal",
            "--password-stdin",
            stdin="a long enough password\n",
        )
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert count(session, User) == 1


def test_demo_load_runs_once_and_prints_logins(cli, session: Session) -> None:
    first = cli("demo", "load")
    assert first.exit_code == 0, first.output
    for login in demo.logins():
        assert login.email in first.output
    assert demo.DEMO_PASSWORD in first.output
    cases = count(session, Case)
    second = cli("demo", "load")
    assert "already loaded" in second.output
    assert count(session, Case) == cases == 50
    assert count(session, Tenant) == 2
    assert count(session, User) == 8


def test_db_upgrade_is_repeatable(app: Flask) -> None:
    # Outside the test transaction: on SQLite that transaction holds the write lock.
    result = app.test_cli_runner().invoke(args=["db", "upgrade"])
    assert result.exit_code == 0, result.output
    assert "database at head" in result.output


def test_the_charge_run_takes_the_demo_plans_instalments_once(cli, session: Session) -> None:
    assert cli("demo", "load").exit_code == 0
    plans = count(session, PaymentPlan)
    assert plans >= 2  # debtors in the demo keep to six-month plans
    next_month = (utcnow().date() + timedelta(days=30)).isoformat()
    first = cli("payments", "charge-due", "--date", next_month)
    assert first.exit_code == 0, first.output
    assert f"{plans} instalment(s) charged: {plans} paid, 0 failed" in first.output
    with unscoped(session):  # each payment has its receipt, for the debtor to download
        receipts = select(func.count()).where(Document.filename.like("receipt-%"))
        assert session.scalar(receipts.select_from(Document)) == plans
    again = cli("payments", "charge-due", "--date", next_month)
    assert "0 instalment(s) charged" in again.output
    refused = cli("payments", "charge-due", "--date", "tomorrow")
    assert refused.exit_code != 0 and "tomorrow" in refused.output
