"""Paying from the debtor's page: in full, a settlement, an instalment plan, the rest.

Every way to pay ends in the provider's checkout (Stripe's page, or the simulated one);
what is paid is worked out by the checkouts service, never taken from the form. The plan
form shows its schedule before the debtor commits: a plain GET without JavaScript, a
live htmx swap with it.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import current_app, redirect, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateField, RadioField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from portal import db
from portal.adapters.payments import PaymentProvider
from portal.db import utcnow
from portal.debtor import bp
from portal.debtor.access import case_for_token
from portal.debtor.views import case_page
from portal.extensions import limiter
from portal.models import (
    Case,
    CheckoutPurpose,
    Frequency,
    PlanStatus,
)
from portal.services import checkouts, ledger, payment_plans
from portal.services.money import AmountError, parse_amount
from portal.web.i18n import page_locale
from portal.web.rendering import render_page

Page = BaseResponse | str | tuple[str, int]
OFFERED_COUNTS = range(payment_plans.MIN_INSTALMENTS, 25)
BREACH_TEXTS = {
    "instalments": _l("%(chosen)s instalments (we can agree up to %(limit)s)"),
    "frequency": _l("instalments this often"),
    "first_payment": _l("a first payment under %(limit)s"),
    "instalment_size": _l("instalments under %(limit)s"),
    "start": _l("a start more than %(limit)s days away"),
}
FREQUENCY_LABELS = {
    Frequency.WEEKLY: _l("Weekly"),
    Frequency.FORTNIGHTLY: _l("Every two weeks"),
    Frequency.MONTHLY: _l("Monthly"),
}


class PlanForm(FlaskForm):  # type: ignore[misc]
    instalments = SelectField(
        _l("Number of instalments"),
        choices=[SelectChoice(str(n), str(n)) for n in OFFERED_COUNTS],
        default="6",
        validators=[InputRequired()],
    )
    frequency = RadioField(
        _l("How often"),
        choices=[SelectChoice(f.value, label) for f, label in FREQUENCY_LABELS.items()],
        default=Frequency.MONTHLY.value,
        validators=[InputRequired()],
    )
    start_on = DateField(_l("Second instalment on"), validators=[InputRequired()])
    down_payment = StringField(_l("First payment (optional)"), validators=[Optional()])


def _breach_words(breach: payment_plans.PolicyBreach) -> str:
    """What goes beyond the policy, in the debtor's language."""
    return str(BREACH_TEXTS[breach.kind]) % {"chosen": breach.chosen, "limit": breach.limit}


def provider() -> PaymentProvider:
    provider_: PaymentProvider = current_app.extensions["portal.payments"]
    return provider_


def _pages(token: str) -> checkouts.CheckoutPages:
    return checkouts.CheckoutPages(
        success_url=url_for("debtor.paid", token=token, _external=True),
        cancel_url=url_for("debtor.case", token=token, _external=True),
        locale=page_locale()[:2],
    )


@bp.post("/<token>/checkout")
@limiter.limit("20 per minute")
def checkout(token: str) -> Page:
    """Pay in full, the settlement, the next instalment or the rest of the plan."""
    case = case_for_token(token)
    try:
        purpose = CheckoutPurpose(request.form.get("purpose", ""))
    except ValueError:
        purpose = None
    if purpose is None or purpose is CheckoutPurpose.PLAN_FIRST:
        return _case_page(case, token, _("Choose how you want to pay."), 422)
    try:
        target = checkouts.start(db.session, provider(), case, purpose, _pages(token))
    except checkouts.CheckoutError as problem:
        return _case_page(case, token, str(problem), 422)
    db.session.commit()
    return redirect(target, 303)


def _case_page(case: Case, token: str, problem: str, status: int) -> tuple[str, int]:
    return case_page(case, token, problem=problem), status


def _choice(form: PlanForm, case: Case) -> payment_plans.PlanChoice:
    """The plan the form describes; raises ``PlanError`` for an amount that is no amount."""
    text = (form.down_payment.data or "").strip()
    separator = "," if page_locale().startswith("de") else "."
    try:
        down = parse_amount(text, case.currency, decimal_separator=separator) if text else 0
    except AmountError:
        raise payment_plans.PlanError(_("The first payment is not an amount.")) from None
    return payment_plans.PlanChoice(
        instalments=int(form.instalments.data),
        frequency=Frequency(form.frequency.data),
        start_on=form.start_on.data,
        down_payment_minor=down,
    )


@bp.route("/<token>/plan", methods=["GET", "POST"])
@limiter.limit("30 per minute")
def plan(token: str) -> Page:
    """Choose a plan and see its schedule (GET), then commit to it (POST)."""
    case = case_for_token(token)
    today = utcnow().date()
    total = ledger.balance(db.session, case).outstanding
    posted = request.method == "POST"
    form = PlanForm(
        request.form if posted else request.args, meta={} if posted else {"csrf": False}
    )
    if not form.start_on.data:
        form.start_on.data = today + timedelta(days=30)
    preview: list[payment_plans.ScheduledPayment] = []
    exceptions: list[str] = []
    problem = None
    submitted = request.method == "POST" or "instalments" in request.args
    if submitted and form.validate():
        try:
            choice = _choice(form, case)
            payment_plans.check_choice(total, choice, today)
            preview = payment_plans.schedule(total, choice, today)
            exceptions = [
                _breach_words(b) for b in payment_plans.policy_breaches(case, total, choice, today)
            ]
        except payment_plans.PlanError as error:
            problem = str(error)
        if request.method == "POST" and problem is None:
            return _commit_plan(case, token, choice, today)
    elif submitted:
        problem = _("Check the fields marked below.")
    page = render_page(
        "debtor/plan.html", "schedule", case=case, token=token, form=form, total=total,
        preview=preview, exceptions=exceptions, problem=problem, today=today,
        earliest_start=today + timedelta(days=1),
        latest_start=today + timedelta(days=payment_plans.LATEST_START_DAYS),
    )  # fmt: skip
    return (page, 422) if request.method == "POST" else page


def _commit_plan(case: Case, token: str, choice: payment_plans.PlanChoice, today: date) -> Page:
    try:
        plan = payment_plans.propose(db.session, case, choice, today)
    except payment_plans.PlanError as problem:
        return _case_page(case, token, str(problem), 422)
    db.session.commit()
    if plan.status is PlanStatus.AWAITING_APPROVAL:
        return redirect(url_for("debtor.case", token=token, requested="plan"), 303)
    return redirect(url_for("debtor.first_payment", token=token), 303)


@bp.route("/<token>/plan/first-payment", methods=["GET", "POST"])
@limiter.limit("20 per minute")
def first_payment(token: str) -> Page:
    """Review the agreed plan and pay its first instalment (the card is kept for the rest)."""
    case = case_for_token(token)
    current = payment_plans.open_plan(db.session, case)
    if current is None or current.status is not PlanStatus.AWAITING_FIRST_PAYMENT:
        return redirect(url_for("debtor.case", token=token), 303)
    if request.method == "GET":
        return render_page("debtor/first_payment.html", case=case, token=token, plan=current)
    try:
        target = checkouts.start(
            db.session, provider(), case, CheckoutPurpose.PLAN_FIRST, _pages(token)
        )
    except checkouts.CheckoutError as problem:
        return _case_page(case, token, str(problem), 422)
    db.session.commit()
    return redirect(target, 303)


@bp.get("/<token>/paid")
def paid(token: str) -> str:
    """Where the checkout sends the debtor back: thanks, and where the account stands."""
    case = case_for_token(token)
    return render_page(
        "debtor/paid.html", case=case, token=token,
        balance=ledger.balance(db.session, case),
        plan=payment_plans.open_plan(db.session, case),
    )  # fmt: skip
