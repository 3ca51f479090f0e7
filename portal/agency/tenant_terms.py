"""Agency admins set a client's terms, one section at a time, each stated in plain words.

Every section has its own form and its own POST route; the fields are plain text and
the terms service reads and checks them, so what is wrong is said by the field it
concerns and nothing is saved.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import permutations
from typing import Any

from flask import flash, redirect, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import (
    BooleanField,
    Field,
    FieldList,
    Form,
    FormField,
    SelectField,
    SelectMultipleField,
    StringField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.widgets import CheckboxInput, ListWidget

from portal import db
from portal.agency import bp
from portal.models import Role, Tenant
from portal.services import dunning, tenant_terms
from portal.services.placement import Problem
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page

GRID_ROWS = 6  # at least this many rows in the commission grid's form, blank ones ignored
BLANK = SelectChoice("", "Choose")


def _choices(labels: Mapping[str, str], *, blank: bool = True) -> list[SelectChoice]:
    """A select's options from value -> label, after an empty "Choose" one for a row
    that may stay blank."""
    return [*([BLANK] if blank else []), *(SelectChoice(v, label) for v, label in labels.items())]


class TermsForm(FlaskForm):  # type: ignore[misc]
    """A section's form: its values go to the terms service as they were typed, and the
    service's problems come back onto the fields they concern."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.general_errors: list[str] = []

    def values(self) -> dict[str, Any]:
        return {name: field.data for name, field in self._fields.items() if name != "csrf_token"}

    def show_problems(self, problems: list[Problem]) -> None:
        for problem in problems:
            field = self._field_for(problem.field)
            if field is None:
                self.general_errors.append(problem.message)
            else:
                field.errors = [*field.errors, problem.message]

    def _field_for(self, path: str) -> Field | None:
        """The field a problem's path names (``grid.2.rate``); None for a whole table."""
        name, *rest = path.split(".")
        field = self._fields.get(name)
        if not isinstance(field, FieldList):
            return field
        if len(rest) != 2 or not rest[0].isdigit() or int(rest[0]) >= len(field.entries):
            return None
        found: Field | None = field.entries[int(rest[0])].form._fields.get(rest[1])
        return found


class BandForm(Form):  # type: ignore[misc]
    """One row of the commission grid (a subform: the outer form carries the CSRF token)."""

    family = SelectField(
        "Stage", choices=_choices(tenant_terms.FAMILY_NAMES), validate_choice=False
    )
    min_amount = StringField("Claims from")
    max_amount = StringField("Up to, not including")
    min_age_days = StringField("Days past due, at least")
    rate = StringField("Rate (%)")


class CommissionForm(TermsForm):
    amicable_rate = StringField("Amicable stage (% of what is collected)")
    legal_rate = StringField("Legal stage (% of what is collected)")
    minimum_fee = StringField("Minimum fee per case")
    early_intervention_fee = StringField("Early-intervention fee per paid invoice")
    grid = FieldList(FormField(BandForm), min_entries=GRID_ROWS)


class InstalmentForm(TermsForm):
    max_instalments = StringField("Most instalments")
    min_instalment = StringField("Smallest instalment")
    min_down_payment = StringField("Smallest down payment (% of the balance)")
    frequencies = SelectMultipleField(
        "Frequencies offered",
        choices=_choices(tenant_terms.FREQUENCY_NAMES, blank=False),
        option_widget=CheckboxInput(),
        widget=ListWidget(prefix_label=False),
        validate_choice=False,
    )
    max_misses = StringField("Missed instalments in a row that break a plan")
    retry_days = StringField("Charge a failed instalment again (days after its due date)")


class StepForm(Form):  # type: ignore[misc]
    """One step of the dunning cadence."""

    stage = SelectField(
        "Moves the case to",
        choices=_choices(tenant_terms.CADENCE_STAGES),
        validate_choice=False,
    )
    day = StringField("Day after placement")
    sends = SelectField("Sends", choices=_choices(dunning.STEP_ACTIONS), validate_choice=False)


class DunningForm(TermsForm):
    steps = FieldList(FormField(StepForm), min_entries=len(tenant_terms.CADENCE_STAGES))


class ContactForm(TermsForm):
    hours_start = StringField("Calls and e-mails from (hour)")
    hours_end = StringField("Until (hour)")
    max_calls = StringField("Most call attempts per case")
    window_days = StringField("In any (days)")


class InterestForm(TermsForm):
    charge_statutory_interest = BooleanField("Add statutory late-payment interest")
    charge_compensation = BooleanField("Claim the fixed compensation from business debtors")


class CollectionForm(TermsForm):
    mandate_months = StringField("Mandate (months after placement)")
    settlement_authority = StringField(
        "Collectors may settle for (% of the balance) without asking"
    )
    allocation_order = SelectField(
        "A payment pays",
        choices=[
            SelectChoice(",".join(order), ", then ".join(order).capitalize())
            for order in permutations(tenant_terms.CLAIM_PARTS)
        ],
        validate_choice=False,
    )
    payment_link_valid_days = StringField("Payment links work for (days)")
    dispute_days = StringField("Days to support a dispute")
    legal_costs_bearer = SelectField(
        "Unpaid legal costs are borne by",
        choices=[
            SelectChoice(value, label.capitalize())
            for value, label in tenant_terms.COST_BEARERS.items()
        ],
        validate_choice=False,
    )
    early_intervention_convert_days = StringField(
        "An unpaid checked invoice becomes a case (days after its due date)"
    )
    retention_months = StringField("Debtors' data may be erased (months after closing)")


FORMS: dict[str, type[TermsForm]] = {
    "commission": CommissionForm,
    "instalments": InstalmentForm,
    "dunning": DunningForm,
    "contact": ContactForm,
    "interest": InterestForm,
    "collection": CollectionForm,
}


def _filled(tenant: Tenant, section: str) -> TermsForm:
    """The section's form showing the tenant's terms as they stand."""
    values = tenant_terms.form_values(tenant, section)
    if section == "commission":  # room for two more bands beyond those set
        values["grid"] = [*values["grid"], {}, {}]
    return FORMS[section](formdata=None, prefix=section, data=values)


def _page(
    tenant: Tenant, posted: tuple[str, TermsForm] | None = None, status: int = 200
) -> tuple[str, int]:
    """Every section's terms in words with its form; ``posted``: the section whose form
    came back with problems, shown open as it was typed."""
    forms = {section: _filled(tenant, section) for section in FORMS}
    if posted:
        forms[posted[0]] = posted[1]
    page = render_page(
        "agency/terms.html",
        tenant=tenant,
        sections=tenant_terms.SECTIONS,
        words=tenant_terms.describe(tenant),
        forms=forms,
        open_section=posted[0] if posted else None,
    )
    return page, status


@bp.get("/tenants/<int:tenant_id>/terms", endpoint="tenant_terms")
@roles_required(Role.AGENCY_ADMIN)
def terms_page(tenant_id: int) -> tuple[str, int]:
    return _page(load_or_404(Tenant, tenant_id))


def _saver(section: str) -> Callable[[int], BaseResponse | tuple[str, int]]:
    def save(tenant_id: int) -> BaseResponse | tuple[str, int]:
        tenant = load_or_404(Tenant, tenant_id)
        form = FORMS[section](prefix=section)
        if not form.validate_on_submit():
            form.general_errors.append("The form expired: please try again.")
            return _page(tenant, (section, form), 422)
        try:
            terms = tenant_terms.parse(section, form.values(), tenant.currency)
        except tenant_terms.TermsError as error:
            form.show_problems(error.problems)
            return _page(tenant, (section, form), 422)
        changed = tenant_terms.apply(db.session, tenant, terms, actor_id=current_user.id)
        db.session.commit()
        if changed:
            flash(f"{terms.title}: saved. The new terms apply from now on.", "success")
        else:
            flash(f"{terms.title}: nothing changed.", "success")
        return redirect(url_for("agency.tenant_terms", tenant_id=tenant.id, _anchor=section))

    return save


for _section in FORMS:
    bp.add_url_rule(
        f"/tenants/<int:tenant_id>/terms/{_section}",
        endpoint=f"save_{_section}_terms",
        view_func=roles_required(Role.AGENCY_ADMIN)(_saver(_section)),
        methods=["POST"],
    )
