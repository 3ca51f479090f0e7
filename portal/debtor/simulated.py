"""The simulated provider's checkout page: what Stripe's page is when no provider is set.

The tester chooses an outcome; a payment becomes the same event Stripe's webhook would
bring and goes through the same code. Only there when the simulated provider is the one
configured (never in production, which refuses it).
"""

from __future__ import annotations

from flask import abort, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal import db
from portal.adapters.payments import SimulatedOutcome, SimulatedPayments
from portal.db import utcnow
from portal.debtor import bp
from portal.debtor.paying import provider
from portal.models import Checkout, CheckoutStatus
from portal.services import checkouts, payment_links
from portal.web.payments import apply_event
from portal.web.rendering import render_page
from tenants.scoping import TenantScope, set_scope, unscoped


def _open_checkout(ref: str) -> tuple[SimulatedPayments, Checkout]:
    simulated = provider()
    if not isinstance(simulated, SimulatedPayments):
        abort(404)
    with unscoped(db.session):
        found = checkouts.find(db.session, simulated.name, ref)
        # A checkout lives as long as the payment link it was opened from.
        token = payment_links.token_for(found.case) if found else None
        if found is None or token is None:
            abort(404)
        if payment_links.find_case(db.session, token, utcnow()) is None:
            abort(404)
    set_scope(db.session, TenantScope.only(found.tenant_id))
    return simulated, found


@bp.get("/checkout/<ref>")
def simulated_checkout(ref: str) -> str:
    _, found = _open_checkout(ref)
    return render_page("debtor/checkout_simulated.html", checkout=found, declined=False)


@bp.post("/checkout/<ref>")
def simulated_checkout_pay(ref: str) -> BaseResponse | tuple[str, int]:
    simulated, found = _open_checkout(ref)
    try:
        outcome = SimulatedOutcome(request.form.get("outcome", ""))
    except ValueError:
        abort(400)
    back = _back_to(found)
    if found.status is CheckoutStatus.PAID:
        return redirect(back, 303)
    event = simulated.checkout_event(ref, found.amount_minor, found.currency, outcome)
    if event is None:
        page = render_page("debtor/checkout_simulated.html", checkout=found, declined=True)
        return page, 402
    apply_event(simulated, event)
    return redirect(back, 303)


def _back_to(found: Checkout) -> str:
    """The debtor's thank-you page, as the provider's success URL would be."""
    token = payment_links.token_for(found.case)
    return url_for("debtor.paid", token=token) if token else url_for("debtor.start")
