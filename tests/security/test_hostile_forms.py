"""Every form the portal serves, as every role, given hostile values one field at a time.

The forms are found, not listed: each role's pages are crawled from its start pages (see
``form_discovery``; the world has one client, so every page is its own) and every form on
them gets each hostile value in each field in turn, the other fields at their page
defaults. A required field the page leaves empty gets a plausible value, so that a refusal
is the hostile value's doing (the summary counts the forms whose plain submission is
accepted). A form met again on another case's page is not walked again; a form another
role walked already gets one value to refuse; of a repeated row (an invoice, a commission
band) the first row is walked. Every submission runs inside a savepoint rolled back
afterwards, so each starts from the same world.

For every submission: no 5xx, and the script and HTML payloads never come back unescaped
(free text may hold them: the walk follows the answer to the page that shows what was
stored). What must be refused: over-long text, the wrong type (letters, negative and huge
numbers where a number goes, impossible dates), a value not among the options, a NUL
byte, an empty upload or one that is not what its name says. For those: a refusal (a 4xx,
the page again naming the problem, or a redirect with an error message) and no change:
the row count of every table, and a digest of the rows of every table the request wrote
to, are what they were before. No table is left out: none of these refusals is audited.

A form endpoint no crawl reaches fails the walk until a page of the world shows it or
``NOT_CRAWLED`` names it with the reason; a value a form accepts where a refusal is due
fails it unless ``ACCEPTED`` names it with the reason. Run with ``-s`` to see what was
walked: pages and forms per role, and per form its submissions and refusals.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import Connection, MetaData, Table, event, func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException
from werkzeug.test import TestResponse

from portal import db
from portal.auth.views import PENDING_SINCE, PENDING_USER, PENDING_VERSION
from portal.db import utcnow
from portal.extensions import limiter
from portal.models import (
    Case,
    Closure,
    Delivery,
    EnforcementAction,
    EnforcementKind,
    Frequency,
    ImportBatch,
    ImportStatus,
    Judgment,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
    Notification,
    NotificationKind,
    PaymentPlan,
    PlanStatus,
    Role,
    Stage,
)
from portal.services import letters, payment_links, users
from portal.services.placement import InvoiceDetails, place_case
from tenants.scoping import unscoped
from tests.conftest import sign_in
from tests.document_samples import csv_text, pdf, png, windows_exe
from tests.factories import PASSWORD, make_case, make_tenant, make_user, placement_request
from tests.security.form_discovery import Form, FormField, PageParser, Upload, crawl
from tests.security.test_route_walk import tenant_objects

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE = '"><img src=x onerror=alert(1)>'
# What the payloads look like when they come back unescaped.
UNESCAPED = (SCRIPT, "onerror=alert(1)>")
# Longer than any field takes (the longest, the text of a letter template, takes 20,000).
OVER_LONG = "x" * 25_000
FORMULA = '=HYPERLINK("https://evil.example","Click here")'
NUL = "nul\x00byte"
# Signs on a page that it names a problem with what was sent.
REFUSAL_MARKS = ('class="error"', "flash-error", 'aria-invalid="true"', "field-error")
MIN_FORMS_WALKED = 90
# Of those, the forms whose plain submission (page defaults, plausible values) is accepted:
# a crawler or a filler that broke would show here first.
MIN_PLAIN_ACCEPTED = 70
# Pages a role's crawl visits at most: reaching it fails the walk (a page would be missed).
MAX_PAGES = 80

# Form endpoints the crawl does not reach, and why.
NOT_CRAWLED = {
    "agency.start_direct_upload": "JSON for the page's script (direct uploads to S3 only): "
    "test_s3_documents",
    "agency.confirm_direct_upload": "JSON for the page's script: test_s3_documents",
    "creditor.start_direct_upload": "JSON for the page's script: test_s3_documents",
    "creditor.confirm_direct_upload": "JSON for the page's script: test_s3_documents",
    "agency.retry_job": "lists failed jobs of the Redis queue only: test_redis_jobs",
    "agency.reactivate_tenant": "the suspend form's other state, no field: test_tenant_admin",
    "agency.resume_tenant_collection": "the pause form's other state, no field: test_tenant_admin",
    "api.place": "JSON API, not a form: test_api_schemathesis",
    "api.add_document": "JSON API, not a form: test_api_schemathesis",
    "api.withdraw": "JSON API, not a form: test_api_schemathesis",
    "webhooks.stripe_events": "signed provider events, not a form: test_stripe_webhook",
}
# Forms found but not given hostile values, and why.
NOT_WALKED = {
    "auth.logout": "signing out is all it does, with no field; it would end the walk's session",
}
# Forms that show what would happen and store nothing: a value they cannot use is left out
# of what they show; the walk checks that they change nothing, not that they refuse.
PREVIEWS = {
    "creditor.place_quote": "the live quote beside the placement form",
    "agency.preview_letter_template": "a letter template drawn for a sample case",
}
# (endpoint, field, hostile value) a form accepts where a refusal is the rule, and why.
ACCEPTED: dict[tuple[str, str, str], str] = {
    ("agency.assign_one", "next", "over-long"): "where to go back to after assigning: what is "
    "not a page of the agency's is ignored (never followed), and the assignment is valid",
}


@dataclass(frozen=True)
class Hostile:
    label: str
    value: str | Upload
    must_refuse: bool
    # Markup: where it is accepted, the page the answer leads to (which shows what was
    # stored) is read too.
    shown: bool = False


@dataclass
class FormReport:
    role: str
    endpoint: str
    fields: int
    submissions: int = 0
    must_refuse: int = 0  # submissions of a value the form must refuse
    refusals: int = 0  # of those, refused
    # The form as the page fills it (with the plausible values) accepted: its refusals are
    # the hostile values' doing, not a field left empty.
    plain_accepted: bool | None = None
    again: bool = False  # walked for another role already: one value to refuse here


@dataclass
class WalkReport:
    pages: dict[str, int] = field(default_factory=dict)  # role: pages crawled
    found: dict[str, int] = field(default_factory=dict)  # role: forms on them
    distinct: dict[str, int] = field(default_factory=dict)  # role: distinct form endpoints
    forms: list[FormReport] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def summary(self) -> str:
        plain = {True: "plain accepted", False: "plain refused", None: ""}
        lines = [
            f"{role}: {self.pages[role]} pages, {self.found[role]} forms on them "
            f"({self.distinct[role]} distinct); walked {sum(not f.again for f in mine)} "
            f"(and {sum(f.again for f in mine)} again), {sum(f.submissions for f in mine)} "
            f"submissions, refused {sum(f.refusals for f in mine)} of "
            f"{sum(f.must_refuse for f in mine)}"
            for role in self.pages
            for mine in [[f for f in self.forms if f.role == role]]
        ]
        lines += [
            f"  {f.role:<15} {f.endpoint:<36} fields {f.fields:>2}  submissions "
            f"{f.submissions:>3}  refused {f.refusals:>3} of {f.must_refuse:>3}  "
            f"{'again' if f.again else plain[f.plain_accepted]}"
            for f in self.forms
        ]
        total = {
            name: sum(getattr(f, name) for f in self.forms)
            for name in ("submissions", "must_refuse", "refusals")
        }
        accepted = sum(f.plain_accepted is True for f in self.forms)
        first = sum(not f.again for f in self.forms)
        lines.append(
            f"forms walked {first} ({accepted} accept their plain submission) and "
            f"{len(self.forms) - first} again for another role, "
            f"submissions {total['submissions']}, values to refuse {total['must_refuse']}, "
            f"refused {total['refusals']}"
        )
        return "\n".join(lines)


# ---------------------------------------------------------------------------- the world


def legal_case(session: Session, tenant, lawyer_id: int, stage: Stage) -> Case:
    """A case whose legal action the creditor approved, at ``stage``, its court file open."""
    case = make_case(session, tenant, reference=f"WALK-{stage.name}")
    case.stage = stage
    request = LegalRequest(
        tenant_id=tenant.id, case_id=case.id, lawyer_id=lawyer_id,
        status=LegalRequestStatus.APPROVED, court_fees_minor=45_000, decided_at=utcnow(),
    )  # fmt: skip
    session.add(request)
    session.flush()
    proceeding = LegalProceeding(
        tenant_id=tenant.id, case_id=case.id, request_id=request.id, lawyer_id=lawyer_id,
        court="Amtsgericht Berlin-Mitte", filed_on=utcnow().date() - timedelta(days=40),
    )  # fmt: skip
    session.add(proceeding)
    session.flush()
    return case


def check_case(session: Session, tenant) -> Case:
    """An invoice just due, handed over for an early-intervention check."""
    today = utcnow().date()
    invoice = InvoiceDetails(
        number="INV-CHECK",
        issue_date=today - timedelta(days=34),
        due_date=today - timedelta(days=4),
        amount_minor=40_000,
    )
    request = placement_request(
        reference="WALK-CHECK", invoices=(invoice,), payment_term_days=30, early_intervention=True
    )
    return place_case(session, tenant, request, today=today)


def add_cases_in_each_state(session: Session, tenant, lawyer_id: int) -> Case:
    """Beside the busy case: litigation, judgment, enforcement (withdrawal asked), a plan
    awaiting the agency, an invoice check, a closed case; returns a plain open case."""
    today = utcnow().date()
    legal_case(session, tenant, lawyer_id, Stage.LITIGATION)
    judged = legal_case(session, tenant, lawyer_id, Stage.JUDGMENT)
    judgment = Judgment(
        tenant_id=tenant.id, case_id=judged.id, judgment_date=today - timedelta(days=5),
        principal_minor=125_000,
    )  # fmt: skip
    session.add(judgment)
    enforced = legal_case(session, tenant, lawyer_id, Stage.ENFORCEMENT)
    enforced.withdrawal_requested_at = utcnow()
    session.add(
        EnforcementAction(tenant_id=tenant.id, case_id=enforced.id, kind=EnforcementKind.LIEN)
    )
    negotiating = make_case(session, tenant, reference="WALK-PLAN")
    negotiating.stage = Stage.NEGOTIATION
    plan = PaymentPlan(
        tenant_id=tenant.id, case_id=negotiating.id, status=PlanStatus.AWAITING_APPROVAL,
        frequency=Frequency.MONTHLY, total_minor=125_000, instalment_count=36,
        start_on=today + timedelta(days=14),
    )  # fmt: skip
    session.add(plan)
    check_case(session, tenant)
    closed = make_case(session, tenant, reference="WALK-CLOSED")
    closed.stage, closed.closure, closed.next_action_on = Stage.CLOSED, Closure.PAID, None
    plain = make_case(session, tenant, reference="WALK-PLAIN")
    plain.stage = Stage.REMINDER
    session.flush()
    return plain


def notify(session: Session, user, case: Case) -> None:
    notice = Notification(
        user_id=user.id, tenant_id=case.tenant_id, case_id=case.id,
        kind=NotificationKind.MESSAGE, title="A new message", delivery=Delivery.DIGEST,
    )  # fmt: skip
    session.add(notice)


@pytest.fixture
def world(app: Flask, session: Session) -> dict:
    """One client with a case in each state that shows forms of its own: the route walk's
    busy case (a document, an open dispute, a settlement and a legal request awaiting the
    creditor, a plan awaiting its first payment, an enforcement action, a checkout, an
    import, an invitation, a password reset) and the cases ``add_cases_in_each_state``
    adds; a person in each role, each with a notice to mark read."""
    with unscoped(session):
        tenant = make_tenant(session, "walked")
        busy = tenant_objects(session, tenant, debtor_name="Busy Debtor", reference="WALK-BUSY")
        plain = add_cases_in_each_state(session, tenant, busy["lawyer"].id)
        people = {
            "agency_admin": make_user(session, Role.AGENCY_ADMIN),
            "collector": make_user(session, Role.COLLECTOR, limited_to=[tenant]),
            "legal": make_user(session, Role.LEGAL, limited_to=[tenant]),
            "creditor_admin": make_user(session, Role.CREDITOR_ADMIN, tenant),
            "creditor_user": make_user(session, Role.CREDITOR_USER, tenant),
        }
        for user in people.values():
            notify(session, user, busy["case"])
        # Someone to reactivate, on each side.
        make_user(session, Role.COLLECTOR).active = False
        make_user(session, Role.CREDITOR_USER, tenant).active = False
        # A second factor to renew codes for or turn off; a letter of the client's own to
        # reset; an import checked and ready to place.
        people["creditor_admin"].totp_secret = pyotp.random_base32()
        people["creditor_admin"].totp_enabled_at = utcnow()
        subject, body, _row = letters.template_source(session, tenant.id, "reminder", "en")
        letters.save_template(
            session, tenant_id=tenant.id, key="reminder", language="en", subject=subject,
            body=body,
        )  # fmt: skip
        checked = ImportBatch(
            tenant_id=tenant.id, created_by_id=people["creditor_admin"].id,
            filename="checked.csv", storage_key=f"tenant/{tenant.id}/imports/checked.csv",
            status=ImportStatus.VALIDATED, total_rows=1, valid_rows=1, valid_cases=1,
            headers=["creditor_reference", "debtor_name"], summary={"cases": 1},
        )  # fmt: skip
        session.add(checked)
        session.commit()
        session.refresh(busy["case"])
        tokens = [payment_links.token_for(case) for case in (busy["case"], plain)]
    return {
        "tenant": tenant,
        "busy_case_id": busy["case"].id,
        "users": people,
        "payment_tokens": tokens,
        "checkout_ref": busy["checkout"].provider_ref,
        "invitation_token": busy["invitation_token"],
        "reset_token": busy["reset_token"],
    }


# ------------------------------------------------------------------------ who sees what


@dataclass(frozen=True)
class Visitor:
    user: str | None  # a key of world["users"]; None: nobody signed in
    areas: tuple[str, ...]  # the first path segments the crawl stays in
    start: Callable[[dict], tuple[str, ...]]
    # Whose sign-in waits for the second factor (the password given, nobody signed in yet).
    pending: str | None = None


STAFF_AREAS = ("agency", "account")
CREDITOR_AREAS = ("creditor", "account")
VISITORS = {
    "anonymous": Visitor(
        None,
        ("login", "password", "invitations"),
        lambda world: (
            "/login",
            "/password/forgot",
            f"/invitations/{world['invitation_token']}",
            f"/password/reset/{world['reset_token']}",
        ),
    ),
    # Between the password and the second factor: the code of someone who has one, the
    # setting up of one by someone who has none yet.
    "signing_in": Visitor(
        None, ("login",), lambda world: ("/login/second-factor",), pending="creditor_admin"
    ),
    "enrolling": Visitor(None, ("login",), lambda world: ("/login/enrol",), pending="collector"),
    "agency_admin": Visitor(
        "agency_admin", STAFF_AREAS, lambda world: ("/agency/", "/agency/dashboard")
    ),
    "collector": Visitor("collector", STAFF_AREAS, lambda world: ("/agency/",)),
    "legal": Visitor("legal", STAFF_AREAS, lambda world: ("/agency/", "/agency/legal")),
    "creditor_admin": Visitor("creditor_admin", CREDITOR_AREAS, lambda world: ("/creditor/",)),
    "creditor_user": Visitor("creditor_user", CREDITOR_AREAS, lambda world: ("/creditor/",)),
    # The debtor's payment link (a plan started; a case with every option), the schedule of
    # a plan shown to agree to, the page that looks a link up, and the simulated provider's
    # checkout page.
    "debtor": Visitor(
        None,
        ("pay",),
        lambda world: (
            "/pay/",
            *(f"/pay/{token}" for token in world["payment_tokens"]),
            f"/pay/{world['payment_tokens'][-1]}/plan?instalments=6&frequency=monthly"
            f"&start_on={utcnow().date() + timedelta(days=30)}&preview=1",
            f"/pay/checkout/{world['checkout_ref']}",
        ),
    ),
}
# Pages not crawled: files (their forms are none), signing out, the metrics.
FILE_SUFFIXES = (".csv", ".pdf", ".zip", ".json", ".css")
NOT_PAGES = frozenset(
    {
        "agency.download_document",
        "creditor.download_document",
        "debtor.document",
        "agency.tenant_logo",
        "creditor.logo",
        "debtor.logo",
        "auth.logout",
    }
)
# The button pressed where the first one (the Enter key's) is not the one to walk.
PRESSED = {
    # The first adds an invoice row; this one places the account.
    "creditor.place": ("place", "1"),
    # Approving also renders the settlement letter, a PDF (a third of a second each, its
    # own tests); the comment walked is the same field either way.
    "creditor.decide_settlement": ("decision", "decline"),
}


def endpoint_of(app: Flask, url: str, method: str) -> str | None:
    path = url.split("?", 1)[0]
    try:
        return app.url_map.bind("localhost").match(path, method=method)[0]
    except HTTPException:  # a link the portal does not serve
        return None


def follow_rule(app: Flask, visitor: Visitor) -> Callable[[str], bool]:
    def follow(path: str) -> bool:
        endpoint = endpoint_of(app, path, "GET")
        return (
            endpoint is not None
            and endpoint not in NOT_PAGES
            and path.strip("/").split("/")[0] in visitor.areas
            and not path.split("?", 1)[0].endswith(FILE_SUFFIXES)
        )

    return follow


# ---------------------------------------------------------------------- hostile values


def is_numeric(control: FormField) -> bool:
    return control.kind == "number" or control.inputmode in {"decimal", "numeric"}


def hostile_values(control: FormField) -> list[Hostile]:
    """What to send in ``control``; ``must_refuse`` for the over-long, the wrong type, what
    is not one of the options, and a NUL byte (no page takes one)."""
    if control.kind == "file":
        return [
            Hostile("zero bytes", Upload(b"", "empty.pdf"), must_refuse=True),
            Hostile("not what its name says", Upload(windows_exe(), "invoice.pdf"), True),
            Hostile("NUL byte in the name", Upload(pdf(), "invoice\x00.pdf"), True),
            Hostile("path in the name", Upload(pdf(), "../../../etc/passwd.pdf"), False),
            Hostile("script in the name", Upload(pdf(), f"{SCRIPT}.pdf"), False, shown=True),
        ]
    if control.kind in {"checkbox", "submit"} and not control.is_choice:
        # Ticked or pressed or not: the value is not read.
        return [
            Hostile("script", SCRIPT, False, True),
            Hostile("attribute", ATTRIBUTE, False, True),
        ]
    if control.is_choice:
        wrong = [Hostile("not an option", "not-an-option", must_refuse=True)]
    elif is_numeric(control):
        wrong = [wrong_type("ten"), wrong_type("-5"), wrong_type("9" * 30)]
    else:
        wrong = [wrong_type(value) for value in WRONG_TYPE.get(control.kind, ())]
    if wrong:
        # A typed value: what is too long or markup is of the wrong type too. Sent back, it
        # shows in the field's value attribute, which the attribute payload tries to leave.
        return [
            *wrong,
            Hostile("NUL byte", NUL, must_refuse=True),
            Hostile("attribute", ATTRIBUTE, must_refuse=True),
        ]
    return [
        Hostile("over-long", OVER_LONG, must_refuse=True),
        Hostile("NUL byte", NUL, must_refuse=True),
        Hostile("script", SCRIPT, must_refuse=False, shown=True),
        Hostile("attribute", ATTRIBUTE, must_refuse=False, shown=True),
        # Neutralised where it matters, in the CSV exports (their own tests): here, no 5xx.
        Hostile("formula", FORMULA, must_refuse=False),
    ]


def wrong_type(value: str) -> Hostile:
    return Hostile(f"wrong type {value!r}", value, must_refuse=True)


WRONG_TYPE = {
    "email": ["not-an-email"],
    "date": ["31/12/2026", "2026-02-30"],
    "datetime-local": ["tomorrow", "2026-02-30T10:00"],
    "color": ["not-a-colour"],
}


def plausible_by_name(today: date) -> dict[str, str]:
    """Plausible values the field's type does not suggest, by field name."""
    return {
        "jurisdictions": "DE",
        "languages": "de",
        "slug": "walk-client",
        "currency": "EUR",
        # The first invoice row of the placement form: without one nothing can be placed.
        "invoices-0-number": "INV-WALK-1",
        "invoices-0-issue_date": (today - timedelta(days=60)).isoformat(),
        "invoices-0-due_date": (today - timedelta(days=30)).isoformat(),
        "invoices-0-amount": "250.00",
        # Declining a settlement needs a reason; a debtor's "I will pay" needs a day.
        "decision-comment": "The offer is too low.",
        "check-expected_on": today.isoformat(),
        # Hearings are recorded ahead of time.
        "hearing-held_at": f"{today + timedelta(days=1)}T10:00",
    }


def plausible(control: FormField) -> str | Upload:
    """A value a person might give in a required field the page leaves empty."""
    today = utcnow().date()
    if control.name in (by_name := plausible_by_name(today)):
        return by_name[control.name]
    if control.kind == "file":
        return plausible_file(control.accept)
    if control.is_choice:
        return next((option for option in control.options if option), "")
    if is_numeric(control):
        return "10"
    return {
        "date": today.isoformat(),
        "datetime-local": f"{today.isoformat()}T10:00",
        "email": "walk@example.com",
        "password": PASSWORD,
    }.get(control.kind, "Hostile walk")


def plausible_file(accept: str) -> Upload:
    """A file of a kind the input offers to choose."""
    if "csv" in accept and "pdf" not in accept:
        return Upload(csv_text(), "cases.csv")
    if "image" in accept:
        return Upload(png(), "logo.png")
    return Upload(pdf(), "invoice.pdf")


def baseline(form: Form, endpoint: str) -> dict[str, Any]:
    """The page defaults, a plausible value in each required field left empty, and the
    button that submits."""
    named = plausible_by_name(utcnow().date())
    values: dict[str, Any] = {
        control.name: plausible(control)
        for control in form.fields
        if (control.required or control.name in named)
        and not any(value.strip() for value in control.values)
    }
    if endpoint in PRESSED:
        for control in form.fields:
            if control.kind == "submit":
                values[control.name] = None
        name, value = PRESSED[endpoint]
        assert value in form.field(name).options, f"{endpoint}: no button {name}={value}"
        values[name] = value
    return values


# A field of a repeated row (``invoices-2-amount``): the first row's stands for the others.
LATER_ROW = re.compile(r"-[1-9]\d*-")


def walked_fields(form: Form) -> list[FormField]:
    """The fields given hostile values: all but the CSRF token (a wrong one is refused
    before any field is read: test_auth) and the rows after the first of a repeated row."""
    return [
        control
        for control in form.fields
        if not control.name.endswith("csrf_token") and not LATER_ROW.search(control.name)
    ]


# ------------------------------------------------------------------------- no change


class Tables:
    """Row counts of every table, and digests of the rows of the tables a request wrote to
    (a write noticed as it goes to the database), against the world before."""

    WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.IGNORECASE)

    def __init__(self, session: Session, connection: Connection) -> None:
        self.session = session
        schema = MetaData()
        schema.reflect(bind=connection)  # the tables as the migrations made them
        self.tables: dict[str, Table] = dict(schema.tables)
        self._count_all = select(
            *(
                select(func.count()).select_from(table).scalar_subquery().label(name)
                for name, table in self.tables.items()
            )
        )
        self.written: set[str] = set()
        self._base_counts: dict[str, int] = {}
        self._base_digests: dict[str, str] = {}
        event.listen(connection, "before_cursor_execute", self._note_write)

    def _note_write(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        found = self.WRITE.match(statement)
        if found and found.group(1) in self.tables:
            self.written.add(found.group(1))

    def take_base(self) -> None:
        """The world as it is now is the one every submission must leave unchanged."""
        self._base_counts, self._base_digests = self.counts(), {}

    def counts(self) -> dict[str, int]:
        with unscoped(self.session):
            return dict(self.session.execute(self._count_all).one()._mapping)

    def digest(self, name: str) -> str:
        table = self.tables[name]
        with unscoped(self.session):
            rows = self.session.execute(select(table).order_by(*table.primary_key.columns)).all()
        return hashlib.sha256(repr([tuple(row) for row in rows]).encode()).hexdigest()

    def now(self) -> tuple[dict[str, int], dict[str, str]]:
        """The counts, and digests of the tables written to (inside the savepoint)."""
        return self.counts(), {name: self.digest(name) for name in self.written}

    def changed(self, counts: dict[str, int], digests: dict[str, str]) -> list[str]:
        """The tables that differ from the base (outside the savepoint: base digests are
        taken when first needed, once the submission is rolled back)."""
        differ = {name for name, count in counts.items() if count != self._base_counts[name]}
        for name, digest in digests.items():
            if name not in self._base_digests:
                self._base_digests[name] = self.digest(name)
            if digest != self._base_digests[name]:
                differ.add(name)
        return sorted(differ)


@contextmanager
def rolled_back(connection: Connection) -> Iterator[None]:
    """Whatever happens inside is undone: a savepoint around the app's own (the session
    is closed first, so that no savepoint of its own encloses this one)."""
    db.registry.remove()
    savepoint = connection.begin_nested()
    try:
        yield
    finally:
        db.registry.remove()
        savepoint.rollback()


# ------------------------------------------------------------------------------ the walk


def send(client: FlaskClient, form: Form, values: dict[str, Any], follow: bool) -> TestResponse:
    pairs = form.submission(values)
    headers = {"HX-Request": "true"} if form.htmx else {}
    if form.method == "GET":
        return client.get(
            form.action, query_string=MultiDict(pairs), headers=headers, follow_redirects=follow
        )
    return client.post(form.action, data=MultiDict(pairs), headers=headers, follow_redirects=follow)


def unescaped(body: str) -> list[str]:
    """The payloads that came back as markup rather than as text."""
    return [payload for payload in UNESCAPED if payload in body]


def refused(response: TestResponse, flashed: list[tuple[str, str]]) -> bool:
    """A 4xx, the page naming a problem, or a redirect with an error message for the next."""
    if 400 <= response.status_code < 500:
        return True
    if response.status_code in {301, 302, 303}:
        return any(category == "error" for category, _message in flashed)
    return any(mark in response.get_data(as_text=True) for mark in REFUSAL_MARKS)


@dataclass
class Walk:
    client: FlaskClient
    connection: Connection
    tables: Tables
    report: WalkReport

    def form(self, role: str, endpoint: str, form: Form, *, again: bool = False) -> None:
        """Each hostile value in each field of ``form``, one submission each; a form that
        another role's walk had already gets one value to refuse, for this role."""
        controls = walked_fields(form)
        counted = FormReport(role, endpoint, len(controls), again=again)
        self.report.forms.append(counted)
        start = baseline(form, endpoint)
        walked = [(control, hostile) for control in controls for hostile in hostile_values(control)]
        if again:
            walked = [(control, hostile) for control, hostile in walked if hostile.must_refuse][:1]
        elif form.method == "POST" and endpoint not in PREVIEWS:
            plain = self.submit(form, start, unchanged=True, follow=False)
            counted.plain_accepted = not plain.refused
            self.report.problems.extend(f"{role} {endpoint} plain: {p}" for p in plain.problems)
        for control, hostile in walked:
            self.hostile(counted, form, {**start, control.name: hostile.value}, control, hostile)

    def hostile(
        self,
        counted: FormReport,
        form: Form,
        values: dict[str, Any],
        control: FormField,
        hostile: Hostile,
    ) -> None:
        endpoint = counted.endpoint
        where = f"{counted.role} {form.method} {endpoint} {control.name} [{hostile.label}]"
        # Nothing may change (a preview's too); a refusal is due (not a preview's).
        unchanged = (
            hostile.must_refuse
            and form.method == "POST"
            and (endpoint, control.name, hostile.label) not in ACCEPTED
        )
        refusal_due = unchanged and endpoint not in PREVIEWS
        outcome = self.submit(form, values, unchanged, follow=hostile.shown and not unchanged)
        counted.submissions += 1
        counted.must_refuse += refusal_due
        counted.refusals += refusal_due and outcome.refused
        self.report.problems.extend(f"{where}: {problem}" for problem in outcome.problems)
        if unchanged and outcome.changed:
            self.report.problems.append(f"{where}: changed {outcome.changed}")
        elif refusal_due and not outcome.refused:
            self.report.problems.append(f"{where}: accepted ({outcome.status})")

    def submit(
        self, form: Form, values: dict[str, Any], unchanged: bool, *, follow: bool
    ) -> Outcome:
        """Send ``values``, and with ``follow`` read the pages a redirect leads to; with
        ``unchanged`` compare the tables with the world before."""
        cookie = self.client.get_cookie("session")
        limiter.reset()
        self.tables.written.clear()
        with rolled_back(self.connection):
            try:
                response = send(self.client, form, values, follow=follow)
                with self.client.session_transaction() as http_session:
                    flashed = list(http_session.get("_flashes", []))
            except Exception as error:  # what a server would answer with a 500
                return Outcome(500, refused=False, changed=[], problems=[f"raised {error!r}"])
            finally:
                if cookie is not None:  # whatever the submission did to the session, undone
                    self.client.set_cookie("session", cookie.value)
            after = self.tables.now() if unchanged else None
        problems = [
            f"{step.status_code} from {step.request.path}"
            for step in (*response.history, response)
            if step.status_code >= 500
        ]
        problems += [
            f"{payload!r} unescaped in {step.request.path}"
            for step in (*response.history, response)
            for payload in unescaped(step.get_data(as_text=True))
        ]
        return Outcome(
            status=response.status_code,
            refused=refused(response, flashed),
            changed=self.tables.changed(*after) if after else [],
            problems=problems,
        )


@dataclass(frozen=True)
class Outcome:
    status: int
    refused: bool
    changed: list[str]
    problems: list[str]


def as_visitor(client: FlaskClient, world: dict, visitor: Visitor) -> None:
    with client.session_transaction() as http_session:
        http_session.clear()
    if visitor.user is not None:
        sign_in(client, world["users"][visitor.user])
        with client.session_transaction() as http_session:
            http_session[users.SECOND_FACTOR_GIVEN] = True
    if visitor.pending is not None:
        waiting = world["users"][visitor.pending]
        with client.session_transaction() as http_session:
            http_session[PENDING_USER] = waiting.id
            http_session[PENDING_VERSION] = waiting.session_version
            http_session[PENDING_SINCE] = utcnow().timestamp()


def test_every_form_refuses_hostile_values(
    app: Flask, client: FlaskClient, session: Session, world: dict
) -> None:
    connection = session.get_bind()
    assert isinstance(connection, Connection)
    walk = Walk(client, connection, Tables(session, connection), WalkReport())
    reached: set[str] = set()
    walked_by: dict[tuple[str, str, tuple[str, ...]], set[str]] = {}
    for role, visitor in VISITORS.items():
        as_visitor(client, world, visitor)
        limiter.reset()
        found = crawl(
            client, visitor.start(world), follow=follow_rule(app, visitor), limit=MAX_PAGES
        )
        walk.report.problems += [f"{role} GET {url}: {status}" for url, status in found.failures]
        if len(found.pages) >= MAX_PAGES:
            walk.report.problems.append(f"{role}: the crawl stopped at {MAX_PAGES} pages")
        walk.report.pages[role], walk.report.found[role] = len(found.pages), len(found.forms)
        walk.report.distinct[role] = len(
            {endpoint_of(app, form.action, form.method) for form in found.forms}
        )
        walk.tables.take_base()
        for form in found.forms:
            endpoint = endpoint_of(app, form.action, form.method)
            assert endpoint is not None, f"{form.page}: {form.method} {form.action} is no route"
            if form.method == "POST":
                reached.add(endpoint)
            key = (form.method, endpoint, tuple(control.name for control in form.fields))
            roles = walked_by.setdefault(key, set())
            if endpoint in NOT_WALKED or role in roles:
                continue  # the same form on another page, for another case
            walk.form(role, endpoint, form, again=bool(roles))
            roles.add(role)
    posted = {rule.endpoint for rule in app.url_map.iter_rules() if "POST" in rule.methods}
    if missing := sorted(posted - reached - set(NOT_CRAWLED)):
        walk.report.problems.append(f"no page of the world shows a form for {missing}")
    named = {*NOT_WALKED, *PREVIEWS, *PRESSED, *(endpoint for endpoint, *_ in ACCEPTED)}
    if stale := sorted((set(NOT_CRAWLED) - (posted - reached)) | (named - reached)):
        walk.report.problems.append(f"named for a reason that no longer holds: {stale}")
    print(walk.report.summary())
    plain_accepted = sum(report.plain_accepted is True for report in walk.report.forms)
    first_walks = sum(not report.again for report in walk.report.forms)
    assert first_walks >= MIN_FORMS_WALKED, walk.report.summary()
    assert plain_accepted >= MIN_PLAIN_ACCEPTED, walk.report.summary()
    assert not walk.report.problems, "\n".join(walk.report.problems)


# ----------------------------------------------------------------------------- controls

PAGE = """
<a href="/creditor/cases/1">A case</a> <a href="mailto:a@b.example">mail</a>
<span hx-get="/account/notifications/count"></span>
<form method="post" action="/things" enctype="multipart/form-data" id="things"
      hx-post="/things/preview">
  <input type="hidden" name="csrf_token" value="token">
  <input name="title" value="As it was" required>
  <input type="number" name="count">
  <input name="amount" inputmode="decimal">
  <textarea name="note">
Kept</textarea>
  <select name="kind"><option value="a">A</option><option selected>b</option></select>
  <select name="colour"><option value="red">Red</option><option value="blue">Blue</option></select>
  <input type="radio" name="size" value="s"><input type="radio" name="size" value="m" checked>
  <input type="checkbox" name="urgent" value="y">
  <input type="file" name="upload" accept=".pdf">
  <input type="reset" name="ignored">
  <button type="submit" name="decision" value="approve">Approve</button>
  <button type="submit" name="decision" value="decline">Decline</button>
  <button type="submit" formaction="/things/draft">Save a draft</button>
</form>
<input type="checkbox" name="pick" value="7" form="things" checked>
<input type="checkbox" name="pick" value="8" form="things">
"""


def test_forms_are_read_as_a_browser_submits_them() -> None:
    parser = PageParser("http://localhost/creditor/")
    parser.feed(PAGE)
    forms = {form.action: form for form in parser.forms()}
    assert parser.links == [
        "http://localhost/creditor/cases/1",
        "mailto:a@b.example",
        "http://localhost/account/notifications/count",
    ]
    assert sorted(forms) == ["/things", "/things/draft", "/things/preview"]
    things = forms["/things"]
    assert (things.method, things.multipart, things.htmx) == ("POST", True, False)
    assert forms["/things/preview"].htmx
    assert things.field("title").required and things.field("amount").inputmode == "decimal"
    assert things.field("size").options == ("s", "m") and things.field("size").is_choice
    assert things.field("pick").options == ("7", "8") and things.field("pick").is_choice
    assert not things.field("urgent").is_choice  # a box ticked or not
    assert things.field("decision").is_choice  # two buttons, two decisions
    sent = things.submission({"title": "Changed", "count": None})
    assert [(name, value) for name, value in sent if name != "upload"] == [
        ("csrf_token", "token"),
        ("title", "Changed"),
        ("amount", ""),
        ("note", "Kept"),  # the line break that opens a textarea is not content
        ("kind", "b"),  # an option without a value sends its text
        ("colour", "red"),  # nothing selected: the first
        ("size", "m"),
        ("pick", "7"),  # only what is ticked, from outside the form too
        ("decision", "approve"),  # the first button, as the Enter key presses it
    ]
    upload = dict(sent)["upload"]
    assert isinstance(upload, tuple) and upload[1] == ""  # no file chosen, sent empty
    draft = forms["/things/draft"]
    assert "decision" not in {control.name for control in draft.fields}


def test_the_walk_sees_a_change_and_a_payload_shown_as_markup(
    app: Flask, client: FlaskClient, session: Session, world: dict
) -> None:
    """Control: what the walk reports can happen. A note a collector may write is stored
    (a change the walk would report for a value to refuse); one too long is refused and
    changes nothing; a payload sent back as markup is caught."""
    as_visitor(client, world, VISITORS["collector"])
    case_page = f"/agency/cases/{world['busy_case_id']}"
    found = crawl(client, (case_page,), follow=lambda _path: False, limit=1)
    note = next(form for form in found.forms if form.action == f"{case_page}/notes")
    connection = session.get_bind()
    assert isinstance(connection, Connection)
    walk = Walk(client, connection, Tables(session, connection), WalkReport())
    walk.tables.take_base()
    stored = walk.submit(note, {"note-text": "Called twice, no answer."}, True, follow=False)
    assert not stored.refused and "activities" in stored.changed
    too_long = walk.submit(note, {"note-text": OVER_LONG}, True, follow=False)
    assert too_long.refused and too_long.changed == [] and too_long.status == 422
    assert unescaped(f"<p>{SCRIPT}</p><img src=x onerror=alert(1)>") == list(UNESCAPED)
    assert unescaped(f"<p>{escape(SCRIPT)}</p>{escape(ATTRIBUTE)}") == []
