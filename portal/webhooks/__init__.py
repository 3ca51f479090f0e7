"""Events the payment provider posts to the portal (``/webhooks/stripe``).

No session, no CSRF token: the provider's signature is what proves a delivery genuine.
A delivery that fails the check gets 400 and changes nothing; an event applied before
gets 200 again (the provider stops retrying) and changes nothing either.
"""

from __future__ import annotations

from flask import Blueprint, current_app, request

from portal.adapters.payments import EventRejected, PaymentProvider
from portal.extensions import csrf, limiter
from portal.web.payments import apply_event

bp = Blueprint("webhooks", __name__, url_prefix="/webhooks")


@bp.post("/stripe")
@csrf.exempt
@limiter.exempt
def stripe_events() -> tuple[dict[str, object], int]:
    provider: PaymentProvider = current_app.extensions["portal.payments"]
    if provider.name != "stripe":
        return {"error": "Stripe is not this portal's payment provider"}, 404
    try:
        event = provider.parse_event(request.get_data(), request.headers.get("Stripe-Signature"))
    except EventRejected as rejected:
        return {"error": str(rejected)}, 400
    applied = apply_event(provider, event)
    return {"received": True, "duplicate": applied.duplicate, "outcome": applied.outcome}, 200
