from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

from flask import Response, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal import db
from portal.creditor import bp
from portal.creditor.forms import DirectPaymentForm, WithdrawForm
from portal.db import utcnow
from portal.models import Case, Stage
from portal.services import (
    audit,
    creditor_decisions,
    direct_payments,
    invoice_checks,
    ledger,
    messages,
    payment_plans,
    portfolio,
    stages,
)
from portal.services.case_lists import SORTS, all_cases, find_cases
from portal.services.money import AmountError, format_money, parse_amount, to_decimal
from portal.services.spreadsheet import csv_lines
from portal.web.access import load_or_404, stream_in_scope
from portal.web.downloads import csv_attachment
from portal.web.filters import case_filter_from
from portal.web.forms import MessageForm
from portal.web.messaging import send_from_form
from portal.web.rendering import render_page, wants_fragment

EXPORT_COLUMNS = [
    "agency_reference",
    "creditor_reference",
    "debtor",
    "stage",
    "currency",
    "placed",
    "principal",
    "paid",
    "outstanding",
    "next_action",
]


@bp.get("/")
def home() -> str:
    filters = case_filter_from(request.args)
    page: dict[str, Any] = {
        "filters": filters, "page": find_cases(db.session, filters), "sorts": SORTS,
    }  # fmt: skip
    if wants_fragment():  # the list filtered as the creditor types: the list alone
        return render_page("creditor/home.html", fragment="case_list", **page)
    return render_page("creditor/home.html", **page, **_portfolio_figures())


def _portfolio_figures() -> dict[str, Any]:
    """What the whole page shows above the list."""
    overview = portfolio.overview(db.session)
    return {
        "totals": overview.totals,
        "open_cases": overview.open_cases,
        "stages": overview.stages,
        "all_stages": list(Stage),
        "waiting": creditor_decisions.waiting(db.session),
        "checks": invoice_checks.figures(db.session),
    }


@bp.get("/cases.csv")
def export_cases() -> Response:
    """The filtered case list as CSV, streamed (any number of cases)."""
    filters = case_filter_from(request.args)

    def rows() -> Iterator[list[object]]:
        for row in all_cases(db.session, filters):
            case = row.case
            yield [
                case.agency_reference,
                case.creditor_reference,
                case.debtor.name,
                case.stage.label,
                case.currency,
                case.placed_at.date().isoformat(),
                to_decimal(case.placed_minor, case.currency),
                to_decimal(case.collected_minor, case.currency),
                to_decimal(case.outstanding_minor, case.currency),
                case.next_action_on.isoformat() if case.next_action_on else "",
            ]

    filename = f"cases-{utcnow():%Y-%m-%d}.csv"
    audit.record(db.session, "cases.exported", actor_id=current_user.id,
                 tenant_id=current_user.tenant_id, ip_address=request.remote_addr,
                 filter=request.args.to_dict())  # fmt: skip
    db.session.commit()
    return csv_attachment(filename, stream_in_scope(csv_lines(EXPORT_COLUMNS, rows())))


def _case_page(case: Case, status: int = 200, **forms: object) -> tuple[str, int]:
    payment_form = forms.get("payment_form") or DirectPaymentForm(
        formdata=None, idempotency_key=secrets.token_urlsafe(24)
    )
    page = render_page(
        "creditor/case.html",
        case=case,
        balance=ledger.balance(db.session, case),
        timeline=[entry for entry in case.activities if entry.visible_to_creditor],
        payments=[e for e in case.ledger_entries if e.kind in ledger.MONEY_IN_KINDS],
        plan=payment_plans.open_plan(db.session, case),
        open_requests=messages.open_requests(case),
        message_form=forms.get("message_form") or MessageForm(formdata=None),
        withdraw_form=forms.get("withdraw_form") or WithdrawForm(formdata=None),
        payment_form=payment_form,
        is_legal=stages.is_legal(case),
        check=invoice_checks.check_of(db.session, case),
    )
    return page, status


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> tuple[str, int]:
    return _case_page(load_or_404(Case, case_id))


@bp.post("/cases/<int:case_id>/messages")
def post_message(case_id: int) -> BaseResponse | tuple[str, int]:
    found = load_or_404(Case, case_id)
    form = MessageForm()
    if send_from_form(found, form):
        flash("Message sent to the agency.", "success")
        return redirect(url_for("creditor.case", case_id=case_id, _anchor="messages"))
    return _case_page(found, 422, message_form=form)


@bp.post("/cases/<int:case_id>/withdraw")
def withdraw(case_id: int) -> BaseResponse | tuple[str, int]:
    found = load_or_404(Case, case_id)
    form = WithdrawForm()
    if form.validate_on_submit():
        try:
            closed = stages.withdraw(
                db.session, found, actor_id=current_user.id, reason=form.reason.data
            )
        except stages.StageError as error:
            form.reason.errors.append(str(error))
        else:
            db.session.commit()
            flash(
                "The case is withdrawn."
                if closed
                else "Legal action has started: the agency will confirm the withdrawal.",
                "success",
            )
            return redirect(url_for("creditor.case", case_id=case_id))
    return _case_page(found, 422, withdraw_form=form)


@bp.post("/cases/<int:case_id>/payments")
def report_payment(case_id: int) -> BaseResponse | tuple[str, int]:
    found = load_or_404(Case, case_id)
    form = DirectPaymentForm()
    if form.validate_on_submit():
        try:
            amount = parse_amount(form.amount.data, found.currency)
            direct_payments.report(
                db.session,
                found,
                amount_minor=amount,
                paid_on=form.paid_on.data,
                note=form.note.data or "",
                actor_id=current_user.id,
                idempotency_key=form.idempotency_key.data,
                today=utcnow().date(),
            )
        except (AmountError, direct_payments.PaymentReportError) as error:
            form.amount.errors.append(str(error)[:1].upper() + str(error)[1:])
        else:
            db.session.commit()
            flash(f"Payment of {format_money(amount, found.currency)} recorded.", "success")
            return redirect(url_for("creditor.case", case_id=case_id, _anchor="payments"))
    return _case_page(found, 422, payment_form=form)
