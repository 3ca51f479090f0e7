"""Taking money from debtors: a simulated provider by default, Stripe in production.

The portal asks a provider for a checkout (a page where the debtor pays, optionally
saving the card for later instalments), charges a saved card off-session, and learns of
what happened from the provider's events. Each provider turns its own events into a
``PaymentEvent``: the few facts the portal acts on, whatever the provider calls them.
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from portal.db import utcnow


@dataclass(frozen=True)
class CheckoutRequest:
    amount_minor: int
    currency: str
    description: str
    success_url: str
    cancel_url: str
    customer_email: str | None = None
    # Keep the card for off-session charges (the later instalments of a plan).
    save_card: bool = False
    locale: str = "en"
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StartedCheckout:
    provider_ref: str
    redirect_url: str


@dataclass(frozen=True)
class ChargeRequest:
    """A charge to a saved card without the debtor present (an instalment)."""

    amount_minor: int
    currency: str
    customer_ref: str
    payment_method_ref: str
    # The same key always means the same charge: a retried job never charges twice.
    idempotency_key: str
    description: str
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ChargeResult:
    payment_ref: str
    succeeded: bool
    failure: str | None = None


class EventKind(enum.StrEnum):
    CHECKOUT_COMPLETED = "checkout_completed"
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    REFUNDED = "refunded"  # amount_minor: everything refunded on the payment so far
    DISPUTED = "disputed"  # a chargeback; amount_minor: the amount disputed
    IGNORED = "ignored"  # a type the portal does not act on


@dataclass(frozen=True)
class PaymentEvent:
    event_id: str
    event_type: str  # the provider's own name for it
    kind: EventKind
    created: datetime
    object_ref: str | None = None  # the id of the object the event is about
    checkout_ref: str | None = None
    payment_ref: str | None = None  # the payment (Stripe: PaymentIntent) it concerns
    amount_minor: int = 0
    currency: str = ""
    customer_ref: str | None = None
    payment_method_ref: str | None = None
    # Ours, carried in the payment's metadata: which instalment an off-session charge pays.
    instalment_id: int | None = None
    failure: str | None = None


class EventRejected(ValueError):
    """A webhook delivery that is not a genuine, fresh event of the provider."""


class PaymentProvider(Protocol):
    name: str

    def start_checkout(self, request: CheckoutRequest) -> StartedCheckout: ...

    def charge_saved_card(self, request: ChargeRequest) -> ChargeResult: ...

    def parse_event(self, payload: bytes, signature_header: str | None) -> PaymentEvent:
        """Verify a webhook delivery and read it; raises ``EventRejected``."""
        ...


class SimulatedOutcome(enum.StrEnum):
    """What the simulated checkout page lets a tester choose."""

    PAY = "pay"
    DECLINE = "decline"
    PAY_THEN_DECLINE = "pay_then_decline"  # the card pays now, later charges fail


SIMULATED_CARD = "sim_pm_card"
SIMULATED_FAILING_CARD = "sim_pm_card_fails_later"


class SimulatedPayments:
    """Pretends to be a card processor, for running the portal with nothing installed.

    The checkout is a local page (``/pay/checkout/<ref>``) where the tester picks an
    outcome; the page turns it into the ``PaymentEvent`` Stripe's webhook would bring and
    hands it to the same code. Off-session charges succeed unless the card was saved as
    one that fails later. Refused in production by the settings.
    """

    name = "simulated"

    def start_checkout(self, request: CheckoutRequest) -> StartedCheckout:
        if request.amount_minor <= 0:
            raise ValueError("a checkout needs a positive amount")
        ref = "sim_cs_" + secrets.token_hex(12)
        return StartedCheckout(ref, f"/pay/checkout/{ref}")

    def charge_saved_card(self, request: ChargeRequest) -> ChargeResult:
        # The same idempotency key gives the same payment, as with a real provider.
        digest = hashlib.sha256(request.idempotency_key.encode()).hexdigest()[:24]
        if request.payment_method_ref == SIMULATED_FAILING_CARD:
            return ChargeResult(f"sim_pi_{digest}", False, "Your card was declined.")
        return ChargeResult(f"sim_pi_{digest}", True)

    def parse_event(self, payload: bytes, signature_header: str | None) -> PaymentEvent:
        raise EventRejected("the simulated provider sends no webhooks")

    def checkout_event(
        self,
        checkout_ref: str,
        amount_minor: int,
        currency: str,
        outcome: SimulatedOutcome,
    ) -> PaymentEvent | None:
        """The event a completed checkout sends; None when the card was declined (the
        debtor stays on the checkout page, as with Stripe)."""
        if outcome is SimulatedOutcome.DECLINE:
            return None
        suffix = checkout_ref.removeprefix("sim_cs_")
        fails_later = outcome is SimulatedOutcome.PAY_THEN_DECLINE
        card = SIMULATED_FAILING_CARD if fails_later else SIMULATED_CARD
        return PaymentEvent(
            event_id=f"sim_evt_{suffix}",
            event_type="checkout.session.completed",
            kind=EventKind.CHECKOUT_COMPLETED,
            created=utcnow(),
            object_ref=checkout_ref,
            checkout_ref=checkout_ref,
            payment_ref=f"sim_pi_{suffix}",
            amount_minor=amount_minor,
            currency=currency,
            customer_ref=f"sim_cus_{suffix}",
            payment_method_ref=card,
        )
