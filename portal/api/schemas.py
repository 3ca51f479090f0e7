"""What the API accepts and answers, as pydantic models; the OpenAPI document is made from them.

Request models check the shape of what arrives (types, enums, no stray fields) and
nothing more: what a placement must satisfy is decided by the placement service, the
same for the web form, the CSV import and the API.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from portal.models import ActivityKind, Closure, DebtorKind, DocumentKind, DocumentStatus, Stage
from portal.services.placement import WarningSign

# Control characters have no place in names and references (and PostgreSQL refuses NUL).
Line = Annotated[str, Field(pattern=r"^[^\x00-\x1f\x7f]*$")]
# Text with line breaks, and something in it besides white space.
Paragraph = Annotated[
    str, Field(pattern=r"^[\t\n\r ]*[^\x00-\x20\x7f][^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$")
]
DecimalText = Annotated[
    str,
    Field(
        pattern=r"^[^\x00-\x1f\x7f]*$",
        description="A decimal number as a string, with a point: `1234.56`.",
        examples=["1234.56"],
    ),
]


class RequestBody(BaseModel):
    """JSON in: types as JSON has them (no "12" for 12), no unknown fields."""

    model_config = ConfigDict(strict=True, extra="forbid")


class ContactIn(RequestBody):
    # The placement service checks a contact's name; the other fields are bounded only
    # by their columns, so their sizes are given here.
    name: Line
    position: Annotated[Line, Field(max_length=100)] | None = None
    email: Annotated[Line, Field(max_length=254)] | None = None
    phone: Annotated[Line, Field(max_length=32)] | None = None


class DebtorIn(RequestBody):
    kind: DebtorKind = DebtorKind.BUSINESS
    name: Line
    registration_number: Line | None = None
    vat_number: Line | None = None
    email: Line | None = None
    phone: Line | None = None
    address_line1: Line | None = None
    address_line2: Line | None = None
    postal_code: Line | None = None
    city: Line | None = None
    country: Line = Field("DE", description="ISO 3166 two-letter code.")
    language: Literal["en", "de"] | None = Field(
        None,
        description="The language of letters and of the payment page; "
        "left out: German in DE, AT and LI, English elsewhere.",
    )
    contacts: list[ContactIn] = Field(default_factory=list)


class InvoiceIn(RequestBody):
    number: Line
    issue_date: date
    due_date: date
    amount: DecimalText


class PlaceCase(RequestBody):
    """An overdue account to place: the same fields as the placement form."""

    creditor_reference: Line = Field(description="Your own reference; unique among your cases.")
    currency: Line | None = Field(
        None, description="ISO 4217 code; the tenant's currency when left out."
    )
    debtor: DebtorIn
    invoices: list[InvoiceIn]
    payment_term_days: int | None = None
    contract_interest: DecimalText | None = Field(
        None, description="Contractual late interest in % a year, such as `9.5`."
    )
    last_reminder_on: date | None = None
    reminders_sent: int = 0
    disputed: bool = False
    contract_reviewed: bool = False
    warning_signs: list[WarningSign] = Field(default_factory=list)
    early_intervention: bool = Field(
        False,
        description="Hand the invoices over for a check with the debtor (did they arrive, "
        "are they disputed, when will they be paid) instead of collection; the case starts "
        "in the stage `early.check` and becomes a collection case when still unpaid some "
        "days after the due date.",
    )


class WithdrawCase(RequestBody):
    reason: Annotated[Paragraph, Field(max_length=500)] = Field(
        description="Why the case is withdrawn; kept on the case."
    )


class CaseQuery(BaseModel):
    """Query parameters of the case list (an unknown one is refused: likely a typo)."""

    model_config = ConfigDict(extra="forbid")

    stage: Stage | None = Field(None, description="Only cases in this stage.")
    updated_since: AwareDatetime | None = Field(
        None, description="Only cases changed at or after this time (ISO 8601, with offset)."
    )
    limit: int = Field(50, ge=1, le=100, description="Cases per page.")
    cursor: str | None = Field(
        None, max_length=500, description="`next_cursor` of the previous page."
    )


class DocumentFields(BaseModel):
    """The text fields of a document upload."""

    model_config = ConfigDict(extra="ignore")

    kind: DocumentKind
    shareable_with_debtor: bool = Field(
        False, description="Whether the debtor may see it on their payment page."
    )


class DocumentUpload(DocumentFields):
    """A document upload, as `multipart/form-data`."""

    file: bytes = Field(description="The file: PDF, PNG, JPEG, TIFF, DOCX, XLSX, CSV, TXT or EML.")


# --- responses ---------------------------------------------------------------------------


class Money(BaseModel):
    amount: str = Field(pattern=r"^-?[0-9]+(\.[0-9]+)?$", examples=["1234.56"])
    currency: str = Field(examples=["EUR"])


class BalanceOut(BaseModel):
    principal: Money
    interest: Money
    fees: Money
    adjustments: Money
    paid: Money
    outstanding: Money


class InvoiceOut(BaseModel):
    id: int
    number: str
    issue_date: date
    due_date: date
    amount: Money


class DocumentOut(BaseModel):
    id: int
    kind: DocumentKind
    status: DocumentStatus
    filename: str
    content_type: str
    size_bytes: int
    sha256: str
    shareable_with_debtor: bool
    uploaded_at: datetime


class TimelineEntry(BaseModel):
    id: int
    kind: ActivityKind
    occurred_at: datetime
    summary: str
    outcome: str | None


class DebtorOut(BaseModel):
    kind: DebtorKind
    name: str
    registration_number: str | None
    vat_number: str | None
    email: str | None
    phone: str | None
    address_line1: str | None
    address_line2: str | None
    postal_code: str | None
    city: str | None
    country: str


class CaseSummary(BaseModel):
    id: int = Field(description="The case's id, stable for its life.")
    agency_reference: str = Field(description="The agency's reference, as on letters.")
    creditor_reference: str
    stage: Stage
    closure: Closure | None
    currency: str
    debtor_name: str
    outstanding: Money
    placed_at: datetime
    updated_at: datetime


class CaseOut(CaseSummary):
    debtor: DebtorOut
    balance: BalanceOut
    invoices: list[InvoiceOut]
    documents: list[DocumentOut]
    timeline: list[TimelineEntry] = Field(description="Newest first.")
    withdrawal_requested_at: datetime | None
    payment_url: str | None = Field(description="The debtor's payment page, while it is valid.")
    payment_url_expires_at: datetime | None


class CaseList(BaseModel):
    data: list[CaseSummary] = Field(description="Ordered by last change, then id.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null: done.")


class FieldError(BaseModel):
    field: str = Field(
        description="A JSON pointer into the request body (`/invoices/1/amount`), "
        "or the name of a query parameter or header."
    )
    message: str


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(description="A URI reference naming the kind of problem.")
    title: str
    status: int
    detail: str | None = None
    errors: list[FieldError] = Field(default_factory=list)
