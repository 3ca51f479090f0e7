"""Applying a provider's event from a request (the webhook, the simulated checkout page),
then queueing what follows a payment: the receipt, the plan's confirmation letter."""

from __future__ import annotations

from flask import current_app

from portal import db, jobs
from portal.adapters.payments import EventKind, PaymentEvent, PaymentProvider
from portal.db import utcnow
from portal.models import CheckoutPurpose
from portal.services import checkouts, ledger, payment_events, payment_plans
from tenants.scoping import unscoped

PAYING_KINDS = (EventKind.CHECKOUT_COMPLETED, EventKind.PAYMENT_SUCCEEDED)


def apply_event(provider: PaymentProvider, event: PaymentEvent) -> payment_events.Applied:
    """Apply and commit the event (once), then queue its receipt and letters."""
    today = utcnow().date()
    # The provider's event names the case, and so the tenant: the agency's own work.
    with unscoped(db.session):
        applied = payment_events.apply(db.session, provider.name, event, today)
        db.session.commit()
        if not applied.duplicate and event.kind in PAYING_KINDS and event.payment_ref:
            _queue_follow_ups(provider, event)
    return applied


def _queue_follow_ups(provider: PaymentProvider, event: PaymentEvent) -> None:
    queue = current_app.extensions["portal.jobs"]
    key = payment_plans.payment_event_key(provider.name, event.payment_ref or "")
    entry = ledger.find_event(db.session, key)
    if entry is None:
        return
    entry_id, case_id = entry.id, entry.case_id
    checkout = checkouts.find(db.session, provider.name, event.checkout_ref or "")
    queue.enqueue(jobs.issue_receipt, entry_id)
    if checkout is not None and checkout.purpose is CheckoutPurpose.PLAN_FIRST:
        today = utcnow().date().isoformat()
        queue.enqueue(jobs.file_letter, case_id, "payment_plan_confirmation", today)
