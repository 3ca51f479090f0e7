"""Remittance statements across the agency's clients: the list, issuing one on demand,
and each statement as a page, a PDF and a CSV (agency admins only)."""

from __future__ import annotations

from datetime import timedelta

from flask import Response, flash, redirect, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import DateField, SelectField
from wtforms.validators import InputRequired

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import RemittanceStatement, Role, Tenant
from portal.services import remittance
from portal.services.money import format_money
from portal.web import statement_files
from portal.web.access import load_or_404, roles_required
from portal.web.rendering import render_page


def _tenant_id(value: object) -> int:
    """The chosen client's id; 0 (no client) for anything else, refused in the view."""
    try:
        return int(str(value))
    except ValueError:
        return 0


class IssueStatementForm(FlaskForm):  # type: ignore[misc]
    # Choices are checked in the view, against the clients this user may see.
    tenant = SelectField("Client", coerce=_tenant_id, validate_choice=False)
    currency = SelectField("Currency", validate_choice=False)
    period_end = DateField("Up to and including", validators=[InputRequired()])


def _tenants() -> list[Tenant]:
    return list(db.session.scalars(select(Tenant).order_by(Tenant.name)))


def _form(formdata: bool = True) -> IssueStatementForm:
    tenants = _tenants()
    yesterday = utcnow().date() - timedelta(days=1)
    form = (
        IssueStatementForm()
        if formdata
        else IssueStatementForm(formdata=None, period_end=yesterday)
    )
    form.tenant.choices = [(tenant.id, tenant.name) for tenant in tenants]
    form.currency.choices = [(code, code) for code in remittance.currencies_in_use(db.session)]
    if not formdata and tenants:
        form.currency.data = tenants[0].currency
    return form


def _page(form: IssueStatementForm, status: int = 200) -> tuple[str, int]:
    page = render_page(
        "agency/statements.html", statements=remittance.listing(db.session), form=form
    )
    return page, status


@bp.get("/statements")
@roles_required(Role.AGENCY_ADMIN)
def statements() -> tuple[str, int]:
    return _page(_form(formdata=False))


@bp.post("/statements")
@roles_required(Role.AGENCY_ADMIN)
def issue_statement() -> BaseResponse | tuple[str, int]:
    form = _form()
    if not form.validate_on_submit():
        return _page(form, 422)
    tenant = db.session.scalar(select(Tenant).where(Tenant.id == form.tenant.data))
    if tenant is None:
        form.tenant.errors = ["Choose one of the agency's clients."]
        return _page(form, 422)
    currency, period_end = form.currency.data, form.period_end.data
    try:
        issued = remittance.issue(db.session, tenant, currency, period_end, current_user.id)
    except remittance.StatementError as error:
        db.session.rollback()
        form.period_end.errors = [str(error)]
        return _page(form, 422)
    if issued is None:
        db.session.rollback()
        form.period_end.errors = [
            f"Nothing to put on a statement: {tenant.name} has no {currency} payments, refunds "
            f"or costs up to {period_end:%d %b %Y} that are not on a statement already."
        ]
        return _page(form, 422)
    db.session.commit()
    net = format_money(issued.net_minor, issued.currency)
    flash(f"Statement {issued.number} issued to {tenant.name}: net {net}.", "success")
    return redirect(url_for("agency.statement", statement_id=issued.id))


@bp.get("/statements/<int:statement_id>")
@roles_required(Role.AGENCY_ADMIN)
def statement(statement_id: int) -> str:
    found = load_or_404(RemittanceStatement, statement_id)
    tenant = db.session.scalars(select(Tenant).where(Tenant.id == found.tenant_id)).one()
    return render_page(
        "agency/statement.html",
        statement=found,
        tenant=tenant,
        lines=remittance.lines_page(db.session, found, request.args.get("page", 1, type=int)),
        net_label=remittance.net_label,
    )


@bp.get("/statements/<int:statement_id>.pdf")
@roles_required(Role.AGENCY_ADMIN)
def statement_pdf(statement_id: int) -> Response:
    return statement_files.pdf_response(load_or_404(RemittanceStatement, statement_id))


@bp.get("/statements/<int:statement_id>.csv")
@roles_required(Role.AGENCY_ADMIN)
def statement_csv(statement_id: int) -> Response:
    return statement_files.csv_response(load_or_404(RemittanceStatement, statement_id))
