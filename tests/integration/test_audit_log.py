"""The audit log search for agency admins, its CSV, and the exports that are audited."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import AppendOnlyError, AuditEntry, Role, Tenant, User
from portal.models.append_only import erasing_personal_data
from portal.services import audit, audit_search, payments, remittance
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.querycount import counted_queries


@dataclass
class Log:
    admin: User
    anna: User
    ben: User
    north: Tenant
    south: Tenant
    ids: set[int]  # the entries made here (the set-up writes its own too)


def _entry(
    session: Session,
    action: str,
    actor: User | None,
    tenant: Tenant | None,
    at: datetime,
    *,
    ip_address: str | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> AuditEntry:
    entry = audit.record(
        session, action, actor_id=actor.id if actor else None,
        tenant_id=tenant.id if tenant else None, ip_address=ip_address,
    )  # fmt: skip
    entry.at, entry.object_type, entry.object_id = at, object_type, object_id
    return entry


@pytest.fixture
def log(session: Session) -> Log:
    with unscoped(session):
        north, south = make_tenant(session, "north"), make_tenant(session, "south")
        admin = make_user(session, Role.AGENCY_ADMIN, email="chief@agency.example")
        anna = make_user(session, Role.COLLECTOR, email="anna.berg@agency.example")
        ben = make_user(session, Role.CREDITOR_ADMIN, north, email="ben@north.example")
        made = [
            _entry(session, "tenant.created", admin, north, datetime(2020, 3, 1, 9, tzinfo=UTC)),
            _entry(session, "tenant.terms_changed", admin, south, datetime(2020, 3, 5, tzinfo=UTC)),
            _entry(session, "auth.login", anna, None, datetime(2020, 3, 10, tzinfo=UTC),
                   ip_address="203.0.113.7"),
            _entry(session, "case.stage_changed", anna, north, datetime(2020, 3, 20, tzinfo=UTC),
                   object_type="Case", object_id="77"),
            _entry(session, "auth.login", ben, None, datetime(2020, 4, 2, tzinfo=UTC)),
        ]  # fmt: skip
        session.commit()
    return Log(admin, anna, ben, north, south, {entry.id for entry in made})


def actions(session: Session, log: Log, **args: str) -> list[str]:
    tenant_ids = {log.north.id, log.south.id}
    found, problems = audit_search.read_filter(args, tenant_ids)
    assert problems == []
    rows = audit_search.search(session, found).rows
    return [row.entry.action for row in rows if row.entry.id in log.ids]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({}, ["auth.login", "case.stage_changed", "auth.login", "tenant.terms_changed",
              "tenant.created"]),
        ({"actor": "ANNA.B"}, ["case.stage_changed", "auth.login"]),
        ({"action": "auth.login"}, ["auth.login", "auth.login"]),
        ({"action": "tenant."}, ["tenant.terms_changed", "tenant.created"]),
        ({"action": "tenant"}, []),
        ({"from": "2020-03-05", "to": "2020-03-10"}, ["auth.login", "tenant.terms_changed"]),
        ({"ip": "203.0.113.7"}, ["auth.login"]),
        ({"object_type": "Case", "object_id": "77"}, ["case.stage_changed"]),
        ({"actor": "chief", "action": "tenant.created"}, ["tenant.created"]),
    ],
)  # fmt: skip
def test_each_filter_narrows_the_newest_first_list(
    session: Session, log: Log, args: dict[str, str], expected: list[str]
) -> None:
    with unscoped(session):
        assert actions(session, log, **args) == expected


def test_the_client_filter_and_a_percent_sign_match_only_what_they_say(
    session: Session, log: Log
) -> None:
    with unscoped(session):
        assert actions(session, log, client=str(log.north.id)) == [
            "case.stage_changed",
            "tenant.created",
        ]
        assert actions(session, log, actor="%") == []  # a wildcard is a plain character


@pytest.fixture
def admin_client(client: FlaskClient, log: Log) -> FlaskClient:
    return sign_in(client, log.admin)


def test_the_page_shows_the_entries_with_actor_and_client(admin_client: FlaskClient) -> None:
    page = admin_client.get("/agency/audit?action=case.").get_data(as_text=True)
    assert "anna.berg@agency.example" in page and "North Ltd" in page
    assert "<code>case.stage_changed</code>" in page and "<code>tenant.created</code>" not in page


@pytest.mark.parametrize(
    ("query", "problem"),
    [
        ("from=last+week", "is not a date"),
        ("to=2020-02-30", "is not a date"),
        ("client=999999", "no such client"),
        ("client=north", "no such client"),
        ("actor=" + "a" * 101, "at most 100 characters"),
        ("ip=300.1.1.1", "is not an IP address"),
        ("action=DROP+TABLE", "is not an action"),
        ("from=2020-04-01&to=2020-03-01", "first date is after the last"),
        ("page=-1", "not a page number"),
        ("object_id=%01", "control characters"),
    ],
)
def test_bad_filter_values_are_reported_on_the_page(
    admin_client: FlaskClient, query: str, problem: str
) -> None:
    response = admin_client.get(f"/agency/audit?{query}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert problem in page.replace("&#39;", "'")
    assert "<code>tenant.created</code>" in page  # the bad value is left out, the rest still shown
    assert admin_client.get(f"/agency/audit.csv?{query}").status_code == 200


def test_a_nul_byte_in_a_filter_is_refused(admin_client: FlaskClient) -> None:
    """Refused before any filter reads it, as every request's fields are."""
    assert admin_client.get("/agency/audit?object_id=%00").status_code == 400
    assert admin_client.get("/agency/audit.csv?object_id=%00").status_code == 400


def test_the_pages_take_the_same_queries_however_many_entries(
    app: Flask, admin_client: FlaskClient, session: Session, log: Log
) -> None:
    def count() -> int:
        with counted_queries(app.extensions["portal.engine"]) as statements:
            assert admin_client.get("/agency/audit").status_code == 200
        return len(statements)

    few = count()
    with unscoped(session):
        for number in range(30):
            actor, tenant = (log.anna, log.north) if number % 2 else (log.ben, log.south)
            _entry(session, "auth.login", actor, tenant, datetime(2020, 5, 1, tzinfo=UTC))
        session.commit()
    assert count() == few


def test_pages_hold_at_most_page_size_entries(session: Session, log: Log) -> None:
    with unscoped(session):
        for _ in range(audit_search.PAGE_SIZE):
            _entry(session, "auth.login", log.anna, None, datetime(2020, 5, 1, tzinfo=UTC))
        session.flush()
        total = len(list(audit_search.csv_rows(session, audit_search.AuditFilter())))
        first = audit_search.search(session, audit_search.AuditFilter())
        last = audit_search.AuditFilter(page=2)
        second = audit_search.search(session, last)
    assert len(first.rows) == audit_search.PAGE_SIZE and first.has_next
    assert len(second.rows) == total - audit_search.PAGE_SIZE and not second.has_next
    assert not {row.entry.id for row in first.rows} & {row.entry.id for row in second.rows}


def test_the_csv_holds_the_filtered_rows_neutralised_and_is_audited(
    admin_client: FlaskClient, session: Session, log: Log
) -> None:
    with unscoped(session):
        session.get(Tenant, log.south.id).name = "=HYPERLINK(evil)"
        session.commit()
    response = admin_client.get("/agency/audit.csv?action=tenant.&to=2020-12-31")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))
    assert [row[2] for row in rows[1:]] == ["tenant.terms_changed", "tenant.created"]
    assert rows[1][3] == "'=HYPERLINK(evil)"
    with unscoped(session):
        exported = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.exported")
        ).one()
    assert exported.actor_id == log.admin.id and exported.details == {
        "filter": {"action": "tenant.", "to": "2020-12-31"}
    }


@pytest.mark.parametrize("role", [Role.COLLECTOR, Role.LEGAL, Role.CREDITOR_ADMIN])
def test_other_roles_are_refused(
    client: FlaskClient, session: Session, log: Log, role: Role
) -> None:
    with unscoped(session):
        user = make_user(session, role, log.north if role is Role.CREDITOR_ADMIN else None)
        session.commit()
    sign_in(client, user)
    assert client.get("/agency/audit").status_code == 403
    assert client.get("/agency/audit.csv").status_code == 403
    with unscoped(session):
        assert not session.scalars(
            select(AuditEntry).where(AuditEntry.action == "audit.exported")
        ).first()


def test_audit_entries_stay_append_only_while_personal_data_is_erased(
    session: Session, log: Log
) -> None:
    with unscoped(session):
        entry = session.scalars(select(AuditEntry)).first()
        assert entry is not None
        with erasing_personal_data(session):
            with pytest.raises(AppendOnlyError, match="never changed"), session.begin_nested():
                entry.details = {"why": "[erased]"}
                session.flush()
            with pytest.raises(AppendOnlyError, match="never deleted"), session.begin_nested():
                session.delete(entry)
                session.flush()


# --- downloads that are audited -----------------------------------------------------------


def _exported(session: Session, action: str) -> AuditEntry:
    with unscoped(session):
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)).one()


def test_the_creditors_case_list_and_dashboard_csv_are_audited(
    client: FlaskClient, session: Session, log: Log
) -> None:
    sign_in(client, log.ben)
    assert client.get("/creditor/cases.csv?stage=placed").status_code == 200
    cases = _exported(session, "cases.exported")
    assert (cases.actor_id, cases.tenant_id) == (log.ben.id, log.north.id)
    assert cases.details == {"filter": {"stage": "placed"}}
    assert client.get("/creditor/dashboard/stages.csv").status_code == 200
    report = _exported(session, "report.exported")
    assert report.details["table"] == "stages" and report.tenant_id == log.north.id


def test_the_agency_dashboard_csv_is_audited(admin_client: FlaskClient, session: Session) -> None:
    assert admin_client.get("/agency/dashboard/legal.csv").status_code == 200
    report = _exported(session, "report.exported")
    assert report.details == {"table": "legal", "filter": {}}


def test_a_statement_download_is_audited(
    admin_client: FlaskClient, session: Session, log: Log
) -> None:
    with unscoped(session):
        case = make_case(session, log.north)
        payments.record_payment(
            session, case, amount_minor=10_000, event_key="audit-pay", paid_on=date(2020, 3, 3),
            description="Bank transfer",
        )  # fmt: skip
        statement = remittance.issue(
            session, log.north, "EUR", date(2020, 3, 31), log.admin.id, today=date(2020, 4, 2)
        )
        assert statement is not None
        session.commit()
    assert admin_client.get(f"/agency/statements/{statement.id}.csv").status_code == 200
    exported = _exported(session, "statement.exported")
    assert (exported.tenant_id, exported.object_id) == (log.north.id, str(statement.id))
    assert exported.details == {"format": "csv"}
