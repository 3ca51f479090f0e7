"""Cases over JSON: place one, list them, read one, withdraw one."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from flask import url_for
from sqlalchemy.exc import IntegrityError

from portal import db
from portal.api.auth import current_key
from portal.api.operations import Reply, operation
from portal.api.problems import (
    INVALID_REQUEST,
    PLACEMENT_REFUSED,
    WITHDRAWAL_REFUSED,
    ApiProblem,
    placement_errors,
)
from portal.api.schemas import (
    BalanceOut,
    CaseList,
    CaseOut,
    CaseQuery,
    CaseSummary,
    DebtorOut,
    DocumentOut,
    FieldError,
    InvoiceOut,
    Money,
    PlaceCase,
    TimelineEntry,
    WithdrawCase,
)
from portal.db import utcnow
from portal.models import Case, Document, Tenant
from portal.services import payment_links, stages
from portal.services.case_feed import CaseDetail, FeedPosition, case_detail, case_feed
from portal.services.ledger import Balance
from portal.services.money import AmountError, parse_amount, to_decimal
from portal.services.placement import (
    ContactDetails,
    DebtorDetails,
    InvoiceDetails,
    PlacementRefused,
    PlacementRequest,
    Problem,
    place_case,
)
from tenants.scoping import scoped_get

CASE_ID = "<int(min=1, max=2147483647):case_id>"
NOT_FOUND = "No case with this id among your cases."
# Far outside any rate the placement check allows, and still a small number.
INTEREST_OUT_OF_RANGE_BP = 10**9
INTEREST_FORMAT = "A percentage with at most two decimals."


# --- shaping -----------------------------------------------------------------------------


def money(amount_minor: int, currency: str) -> Money:
    return Money(amount=f"{to_decimal(amount_minor, currency):f}", currency=currency)


def _balance(owed: Balance) -> BalanceOut:
    currency = owed.currency
    return BalanceOut(
        principal=money(owed.principal, currency),
        interest=money(owed.interest, currency),
        fees=money(owed.fees, currency),
        adjustments=money(owed.adjustments, currency),
        paid=money(owed.paid, currency),
        outstanding=money(owed.outstanding, currency),
    )


def _summary_fields(case: Case, owed: Balance) -> dict[str, object]:
    return {
        "id": case.id,
        "agency_reference": case.agency_reference,
        "creditor_reference": case.creditor_reference,
        "stage": case.stage,
        "closure": case.closure,
        "currency": case.currency,
        "debtor_name": case.debtor.name,
        "outstanding": money(owed.outstanding, case.currency),
        "placed_at": case.placed_at,
        "updated_at": case.updated_at,
    }


def _payment_link(case: Case) -> tuple[str | None, datetime | None]:
    token = payment_links.token_for(case)
    expires = case.payment_link_expires_at
    if token is None or expires is None or expires < utcnow():
        return None, None
    return url_for("debtor.case", token=token, _external=True), expires


def _document(document: Document) -> DocumentOut:
    return DocumentOut.model_validate(document, from_attributes=True)


def case_out(detail: CaseDetail) -> CaseOut:
    case = detail.case
    payment_url, expires = _payment_link(case)
    return CaseOut.model_validate(
        {
            **_summary_fields(case, detail.balance),
            "debtor": DebtorOut.model_validate(case.debtor, from_attributes=True),
            "balance": _balance(detail.balance),
            "invoices": [
                InvoiceOut(
                    id=invoice.id,
                    number=invoice.number,
                    issue_date=invoice.issue_date,
                    due_date=invoice.due_date,
                    amount=money(invoice.amount_minor, case.currency),
                )
                for invoice in case.invoices
            ],
            "documents": [_document(document) for document in detail.documents],
            "timeline": [
                TimelineEntry.model_validate(entry, from_attributes=True)
                for entry in detail.timeline
            ],
            "withdrawal_requested_at": case.withdrawal_requested_at,
            "payment_url": payment_url,
            "payment_url_expires_at": expires,
        }
    )


# --- reading the request -----------------------------------------------------------------


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None


def _interest_bp(text: str | None) -> tuple[int | None, list[Problem]]:
    """Percent a year as basis points, as the placement form reads it."""
    if not (text or "").strip():
        return None, []
    try:
        percent = Decimal((text or "").strip())
    except InvalidOperation:
        percent = Decimal("NaN")
    if not percent.is_finite():
        return None, [Problem("contract_interest", INTEREST_FORMAT)]
    if percent.adjusted() > 6:
        return INTEREST_OUT_OF_RANGE_BP, []  # let the placement check say what the range is
    if percent != percent.quantize(Decimal("0.01")):
        return None, [Problem("contract_interest", INTEREST_FORMAT)]
    return int(percent * 100), []


def to_placement(body: PlaceCase, currency: str) -> tuple[PlacementRequest, list[Problem]]:
    """The placement ``body`` describes, and what in it could not be read.

    Amounts are parsed in the case's currency; an amount that does not parse is
    reported on its field (``invoices.<n>.amount``) like the placement's own problems.
    """
    problems: list[Problem] = []
    invoices = []
    for index, invoice in enumerate(body.invoices):
        try:
            amount = parse_amount(invoice.amount, currency)
        except AmountError as error:
            problems.append(Problem(f"invoices.{index}.amount", str(error)))
            amount = 0
        invoices.append(
            InvoiceDetails(invoice.number.strip(), invoice.issue_date, invoice.due_date, amount)
        )
    interest_bp, interest_problems = _interest_bp(body.contract_interest)
    debtor = body.debtor
    placement = PlacementRequest(
        debtor=DebtorDetails(
            kind=debtor.kind,
            name=debtor.name.strip(),
            registration_number=_text(debtor.registration_number),
            vat_number=_text(debtor.vat_number),
            email=_text(debtor.email),
            phone=_text(debtor.phone),
            address_line1=_text(debtor.address_line1),
            address_line2=_text(debtor.address_line2),
            postal_code=_text(debtor.postal_code),
            city=_text(debtor.city),
            country=debtor.country.strip().upper(),
            language=debtor.language or "",
            contacts=tuple(
                ContactDetails(
                    contact.name.strip(),
                    _text(contact.position),
                    _text(contact.email),
                    _text(contact.phone),
                )
                for contact in debtor.contacts
            ),
        ),
        creditor_reference=body.creditor_reference.strip(),
        invoices=tuple(invoices),
        currency=currency,
        payment_term_days=body.payment_term_days,
        contract_interest_bp=interest_bp,
        last_reminder_on=body.last_reminder_on,
        reminders_sent=body.reminders_sent,
        disputed=body.disputed,
        contract_reviewed=body.contract_reviewed,
        warning_signs=frozenset(body.warning_signs),
        early_intervention=body.early_intervention,
    )
    return placement, problems + interest_problems


def _refused(problems: list[Problem]) -> ApiProblem:
    return ApiProblem(
        422,
        "The account cannot be placed as sent; each error names its field.",
        kind=PLACEMENT_REFUSED,
        title="Placement refused",
        errors=placement_errors(problems),
    )


def _tenant() -> Tenant:
    tenant = scoped_get(db.session, Tenant, current_key().tenant_id)
    if tenant is None:  # the key was checked a moment ago; its tenant cannot vanish
        raise ApiProblem(401, "This API key is not valid.")
    return tenant


def load_case(case_id: int) -> Case:
    found = scoped_get(db.session, Case, case_id)
    if found is None:
        raise ApiProblem(404, NOT_FOUND)
    return found


def _encode_cursor(position: FeedPosition) -> str:
    text = json.dumps([position.updated_at.isoformat(), position.case_id])
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> FeedPosition:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        moment, case_id = json.loads(text)
        position = FeedPosition(datetime.fromisoformat(moment).astimezone(UTC), int(case_id))
    except (ValueError, TypeError, binascii.Error, OverflowError):
        raise _bad_parameter("cursor", "Not a cursor this API gave out.") from None
    return position


def _bad_parameter(name: str, message: str) -> ApiProblem:
    return ApiProblem(
        400,
        f"{name}: {message}",
        kind=INVALID_REQUEST,
        title="Invalid query parameters",
        errors=[FieldError(field=name, message=message)],
    )


# --- the operations ----------------------------------------------------------------------


@operation(
    "/cases",
    "POST",
    summary="Place an account",
    body=PlaceCase,
    ok={201: ("The case, placed.", CaseOut)},
    refusals={
        409: "The same reference was placed by another request at the same moment.",
        422: "The body has the wrong shape, or the account cannot be placed as sent.",
    },
)
def place(body: PlaceCase) -> Reply:
    """Checked like every placement (the web form's and the CSV import's): each problem
    is returned on its field. Amounts are decimal strings in the case's currency."""
    tenant = _tenant()
    placement, problems = to_placement(body, body.currency or tenant.currency)
    if problems:
        raise _refused(problems)
    try:
        with db.session.begin_nested():
            case = place_case(db.session, tenant, placement)
    except PlacementRefused as refused:
        raise _refused(refused.problems) from None
    except IntegrityError:  # the same reference, placed by a request running alongside
        raise ApiProblem(409, "This account was placed a moment ago by another request.") from None
    return Reply(201, case_out(case_detail(db.session, case)))


@operation(
    "/cases",
    "GET",
    summary="List cases",
    query=CaseQuery,
    ok={200: ("A page of cases, ordered by last change.", CaseList)},
)
def list_cases(query: CaseQuery) -> Reply:
    """Ordered by last change (then id), oldest first: keep `updated_at` of the last case
    you read and ask with `updated_since` to pick up what changed since."""
    try:
        since = query.updated_since.astimezone(UTC) if query.updated_since else None
    except OverflowError:
        raise _bad_parameter("updated_since", "Not a time the API can compare.") from None
    page = case_feed(
        db.session,
        stage=query.stage,
        updated_since=since,
        after=_decode_cursor(query.cursor) if query.cursor else None,
        limit=query.limit,
    )
    items = [CaseSummary.model_validate(_summary_fields(i.case, i.balance)) for i in page.items]
    cursor = _encode_cursor(page.next_position) if page.next_position else None
    return Reply(200, CaseList(data=items, next_cursor=cursor))


@operation(
    f"/cases/{CASE_ID}",
    "GET",
    summary="Read a case",
    ok={200: ("The case.", CaseOut)},
)
def get_case(case_id: int) -> Reply:
    """Balance, stage, invoices, documents, the timeline you may see, and the debtor's
    payment link."""
    return Reply(200, case_out(case_detail(db.session, load_case(case_id))))


@operation(
    f"/cases/{CASE_ID}/withdraw",
    "POST",
    summary="Withdraw a case",
    body=WithdrawCase,
    ok={
        200: ("Withdrawn: the case is closed.", CaseOut),
        202: ("Legal action has started: the agency is asked to approve.", CaseOut),
    },
    refusals={409: "The case is closed, or its withdrawal was already requested."},
)
def withdraw(case_id: int, body: WithdrawCase) -> Reply:
    """Before legal action the case closes at once (200); after, the withdrawal waits for
    the agency's approval (202)."""
    case = load_case(case_id)
    try:
        # An API key acts for its tenant, not for a person: no user is recorded. (The
        # stage machine records None as "no one", as close() does; withdraw's annotation
        # has not caught up with that.)
        closed = stages.withdraw(db.session, case, actor_id=None, reason=body.reason)
    except stages.StageError as error:
        raise ApiProblem(
            409, str(error), kind=WITHDRAWAL_REFUSED, title="Withdrawal refused"
        ) from None
    return Reply(200 if closed else 202, case_out(case_detail(db.session, case)))
