"""Taking money from debtors: a simulated provider by default, Stripe in production.

The portal asks a provider for a checkout (where to send the debtor) and later learns
of the payment through an event carrying the provider's own id, which the ledger
uses as its idempotency key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class CheckoutRequest:
    case_reference: str
    amount_minor: int
    currency: str
    success_url: str
    cancel_url: str


@dataclass(frozen=True)
class Checkout:
    provider_id: str
    redirect_url: str


@dataclass(frozen=True)
class PaymentEvent:
    event_id: str
    checkout_id: str
    amount_minor: int
    currency: str


class PaymentProvider(Protocol):
    name: str

    def start_checkout(self, request: CheckoutRequest) -> Checkout: ...


class CheckoutNotFound(LookupError):
    pass


class SimulatedPayments:
    """Pretends to be a card processor: every checkout succeeds when confirmed.

    Refused in production by the settings; used locally and in tests.
    """

    name = "simulated"

    def __init__(self) -> None:
        self._open: dict[str, CheckoutRequest] = {}

    def start_checkout(self, request: CheckoutRequest) -> Checkout:
        if request.amount_minor <= 0:
            raise ValueError("a checkout needs a positive amount")
        checkout_id = "sim_cs_" + secrets.token_hex(12)
        self._open[checkout_id] = request
        return Checkout(checkout_id, f"{request.success_url}?checkout={checkout_id}")

    def confirm(self, checkout_id: str) -> PaymentEvent:
        """The debtor paid: the event the provider would send for this checkout."""
        request = self._open.pop(checkout_id, None)
        if request is None:
            raise CheckoutNotFound(checkout_id)
        return PaymentEvent(
            event_id="sim_evt_" + checkout_id.removeprefix("sim_cs_"),
            checkout_id=checkout_id,
            amount_minor=request.amount_minor,
            currency=request.currency,
        )
