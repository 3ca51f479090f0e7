"""The placement form, and turning what was typed into a ``PlacementRequest``."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    Field,
    FieldList,
    Form,
    FormField,
    HiddenField,
    IntegerField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from portal.models import DebtorKind
from portal.services.money import AmountError, parse_amount
from portal.services.placement import (
    WARNING_SIGN_LABELS,
    ContactDetails,
    DebtorDetails,
    InvoiceDetails,
    PlacementRequest,
    Problem,
    WarningSign,
)

CURRENCIES = ("EUR", "GBP", "USD", "CHF", "SEK", "DKK", "NOK", "PLN", "CZK", "JPY")
LANGUAGES = (("en", "English"), ("de", "German"))


class InvoiceForm(Form):  # type: ignore[misc]
    """One invoice row (a subform: the outer form carries the CSRF token)."""

    number = StringField("Invoice number", validators=[Optional(), Length(max=64)])
    issue_date = DateField("Issued", validators=[Optional()])
    due_date = DateField("Due", validators=[Optional()])
    amount = StringField("Amount", validators=[Optional(), Length(max=24)])

    def is_blank(self) -> bool:
        """Nothing typed in the row (a date that did not parse still counts as typed)."""
        fields = (self.number, self.issue_date, self.due_date, self.amount)
        return not any((field.raw_data or [""])[0].strip() for field in fields)


class PlacementForm(FlaskForm):  # type: ignore[misc]
    creditor_reference = StringField("Your reference", validators=[InputRequired(), Length(max=64)])
    currency = SelectField("Currency", choices=[SelectChoice(code) for code in CURRENCIES])
    debtor_kind = RadioField(
        "The debtor is",
        choices=[
            SelectChoice(DebtorKind.BUSINESS.value, "a business"),
            SelectChoice(DebtorKind.PERSON.value, "a person"),
        ],
        default=DebtorKind.BUSINESS.value,
    )
    debtor_name = StringField("Name", validators=[InputRequired(), Length(max=200)])
    registration_number = StringField("Registration number", validators=[Length(max=64)])
    vat_number = StringField("VAT number", validators=[Length(max=32)])
    email = StringField("E-mail", validators=[Length(max=254)])
    phone = StringField("Phone", validators=[Length(max=32)])
    address_line1 = StringField("Address", validators=[Length(max=200)])
    address_line2 = StringField("Address (second line)", validators=[Length(max=200)])
    postal_code = StringField("Postal code", validators=[Length(max=16)])
    city = StringField("City", validators=[Length(max=100)])
    country = StringField("Country (two letters)", default="DE")
    language = SelectField(
        "Language for letters",
        choices=[SelectChoice(code, name) for code, name in LANGUAGES],
        default="en",
    )
    contact_name = StringField("Contact person", validators=[Length(max=200)])
    contact_position = StringField("Position", validators=[Length(max=100)])
    contact_email = StringField("Contact e-mail", validators=[Length(max=254)])
    contact_phone = StringField("Contact phone", validators=[Length(max=32)])
    invoices = FieldList(FormField(InvoiceForm), min_entries=1, max_entries=50)
    payment_term_days = IntegerField(
        "Payment term (days)", validators=[Optional(), NumberRange(0, 365)]
    )
    contract_interest = StringField(
        "Contractual late interest (% a year)", validators=[Optional(), Length(max=8)]
    )
    last_reminder_on = DateField("Date of your last reminder", validators=[Optional()])
    reminders_sent = IntegerField(
        "Reminders you sent", default=0, validators=[Optional(), NumberRange(0, 99)]
    )
    disputed = BooleanField("The debtor disputes the debt")
    contract_reviewed = BooleanField("We reviewed the contract and the terms of sale")
    early_intervention = BooleanField(
        "Early intervention: check the invoice with the debtor before collection"
    )
    warning_signs = SelectMultipleField(
        "Warning signs you have seen",
        choices=[SelectChoice(sign.value, WARNING_SIGN_LABELS[sign]) for sign in WarningSign],
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=True,
    )

    def to_request(self) -> PlacementRequest | None:
        """The request these fields describe, or None with errors added to the fields.

        Call after ``validate()``; blank invoice rows are ignored.
        """
        rows = [row.form for row in self.invoices if not row.form.is_blank()]
        invoices = [self._invoice(row) for row in rows]
        interest_bp = self._interest_bp()
        field_errors = any(field.errors for field in self if field.name != "invoices")
        if field_errors or None in invoices or interest_bp is False:
            return None
        return PlacementRequest(
            debtor=self._debtor(),
            creditor_reference=(self.creditor_reference.data or "").strip(),
            invoices=tuple(invoice for invoice in invoices if invoice is not None),
            currency=self.currency.data,
            payment_term_days=self.payment_term_days.data,
            contract_interest_bp=interest_bp or None,
            last_reminder_on=self.last_reminder_on.data,
            reminders_sent=self.reminders_sent.data or 0,
            disputed=bool(self.disputed.data),
            contract_reviewed=bool(self.contract_reviewed.data),
            warning_signs=frozenset(WarningSign(value) for value in self.warning_signs.data or ()),
            early_intervention=bool(self.early_intervention.data),
        )

    def _debtor(self) -> DebtorDetails:
        def text(field: StringField) -> str | None:
            return (field.data or "").strip() or None

        contact_fields = (self.contact_name, self.contact_position, self.contact_email,
                          self.contact_phone)  # fmt: skip
        # Any detail of a contact makes one (which needs a name), rather than being dropped.
        contact = (
            (
                ContactDetails(
                    text(self.contact_name) or "",
                    text(self.contact_position),
                    text(self.contact_email),
                    text(self.contact_phone),
                ),
            )
            if any(text(field) for field in contact_fields)
            else ()
        )
        return DebtorDetails(
            kind=DebtorKind(self.debtor_kind.data),
            name=(self.debtor_name.data or "").strip(),
            registration_number=text(self.registration_number),
            vat_number=text(self.vat_number),
            email=text(self.email),
            phone=text(self.phone),
            address_line1=text(self.address_line1),
            address_line2=text(self.address_line2),
            postal_code=text(self.postal_code),
            city=text(self.city),
            country=(self.country.data or "").strip().upper(),
            language=self.language.data,
            contacts=contact,
        )

    def _invoice(self, form: InvoiceForm) -> InvoiceDetails | None:
        """The invoice in this row, or None with the row's errors added."""
        fields = (form.number, form.issue_date, form.due_date, form.amount)
        for field in fields:
            if not field.data and not field.errors:
                field.errors = [*field.errors, "Required."]
        if any(field.errors for field in fields):
            return None
        try:
            amount = parse_amount(form.amount.data, self.currency.data)
        except AmountError as error:
            form.amount.errors = [*form.amount.errors, _sentence(str(error))]
            return None
        return InvoiceDetails(
            form.number.data.strip(), form.issue_date.data, form.due_date.data, amount
        )

    def _interest_bp(self) -> int | bool | None:
        """Basis points; None when left empty, False (with an error) when not a number."""
        text = (self.contract_interest.data or "").strip().replace(",", ".")
        if not text:
            return None
        try:
            percent = Decimal(text)
        except InvalidOperation:
            percent = Decimal("NaN")
        if not percent.is_finite() or percent != percent.quantize(Decimal("0.01")):
            self.contract_interest.errors = [
                *self.contract_interest.errors,
                "A percentage with at most two decimals, like 9.5.",
            ]
            return False
        return int(percent * 100)

    def show_problems(self, problems: list[Problem]) -> None:
        """Put the service's problems (dotted paths) on the fields they concern."""
        for problem in problems:
            field = self._field_for(problem.field)
            field.errors = [*field.errors, problem.message]

    def _field_for(self, path: str) -> Field:
        parts = path.split(".")
        if parts[0] == "invoices":
            filled = [row.form for row in self.invoices if not row.form.is_blank()]
            index = int(parts[1]) if len(parts) == 3 else 0
            row = filled[index] if index < len(filled) else self.invoices[0].form
            return getattr(row, parts[2] if len(parts) == 3 else "number")
        if parts[0] == "debtor" and parts[1] == "contacts":
            return self.contact_name
        name = {"debtor.name": "debtor_name", "debtor.kind": "debtor_kind"}.get(path)
        name = name or (parts[1] if parts[0] == "debtor" else parts[0])
        return getattr(self, name, self.creditor_reference)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


class WithdrawForm(FlaskForm):  # type: ignore[misc]
    reason = TextAreaField(
        "Why do you withdraw this case?", validators=[InputRequired(), Length(max=500)]
    )


class DirectPaymentForm(FlaskForm):  # type: ignore[misc]
    amount = StringField("Amount received", validators=[InputRequired(), Length(max=24)])
    paid_on = DateField("Received on", validators=[InputRequired()])
    note = StringField("Note (bank reference, how it was paid)", validators=[Length(max=200)])
    # A new value with each form shown: the same form sent twice books the payment once.
    idempotency_key = HiddenField(validators=[InputRequired(), Length(min=16, max=64)])
