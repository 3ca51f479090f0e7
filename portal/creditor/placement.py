"""Placing one account through the web form, with a live quote beside it."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import db
from portal.creditor import bp
from portal.creditor.forms import PlacementForm
from portal.db import utcnow
from portal.models import Tenant
from portal.services import notifications
from portal.services.placement import (
    PlacementRefused,
    PlacementRequest,
    check_placements,
    place_case,
)
from portal.services.quote import PlacementQuote, quote
from portal.web.access import load_or_404
from portal.web.rendering import render_page

BLANK_INVOICE_ROWS = 3


def _tenant() -> Tenant:
    return load_or_404(Tenant, current_user.tenant_id)


def _form() -> PlacementForm:
    form = PlacementForm()
    if request.method == "GET":
        form.currency.data = _tenant().currency
        while len(form.invoices) < BLANK_INVOICE_ROWS:
            form.invoices.append_entry()
    return form


def _quote_for(form: PlacementForm) -> PlacementQuote | None:
    """A quote from whatever in the form already makes sense (for the live panel)."""
    placement = form.to_request()
    if placement is None or not placement.invoices:
        return None
    return quote(db.session, _tenant(), placement, utcnow().date())


@bp.route("/place", methods=["GET", "POST"])
def place() -> Response | str | tuple[str, int]:
    form = _form()
    if request.method == "GET":
        return render_page("creditor/place.html", form=form, quote=None)
    if "add_invoice" in request.form:
        # The quote comes from the fields checked as the live quote checks them; the page
        # names no problem yet, only a row more was asked for.
        checked = PlacementForm()
        checked.validate()
        form.invoices.append_entry()
        return render_page("creditor/place.html", form=form, quote=_quote_for(checked))
    form.validate()
    placement = form.to_request()
    if placement is not None:
        problems = check_placements(db.session, [placement], utcnow().date())[0]
        if not problems and "place" in request.form:
            return _place(placement)
        form.show_problems(problems)
    status = 200 if "place" not in request.form else 422
    page = render_page("creditor/place.html", form=form, quote=_quote_for(form))
    return page, status


def _place(placement: PlacementRequest) -> Response:
    tenant = _tenant()
    try:
        case = place_case(db.session, tenant, placement, placed_by_id=current_user.id)
    except PlacementRefused:  # checked a moment ago; a concurrent placement got there first
        db.session.rollback()
        flash("This account was placed a moment ago by someone else.", "error")
        return redirect(url_for("creditor.place"))
    settings = current_app.extensions["portal.settings"]
    mailer = current_app.extensions["portal.mailer"]
    notifications.placement_acknowledged(
        db.session, mailer, case, current_user, settings.agency_name
    )
    db.session.commit()
    flash(f"Placed. The agency reference is {case.agency_reference}.", "success")
    return redirect(url_for("creditor.case", case_id=case.id))


@bp.post("/place/quote")
def place_quote() -> str:
    """The quote panel alone, re-drawn by htmx as the creditor types."""
    form = PlacementForm()
    form.validate()
    return render_page("creditor/place.html", fragment="quote", form=form, quote=_quote_for(form))
