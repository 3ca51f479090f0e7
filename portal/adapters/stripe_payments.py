"""Card payments through Stripe: Checkout for the debtor's first payment, saved cards after.

Stripe keeps the card details, so the portal never sees them (PCI scope stays with
Stripe): a debtor pays on a hosted Checkout page, optionally saving the card, and later
instalments are charged to it off-session. What actually happened arrives by signed
webhook; ``parse_event`` checks the signature with the SDK's own code and reduces the
few event types the portal acts on to a ``PaymentEvent``.

Only a declined card is an answer (``ChargeResult(succeeded=False)``). Stripe not
answering (no connection, a timeout, too many requests, its own 5xx) raises
``ServiceUnavailable``; any other ``stripe.StripeError`` (authentication, invalid
request) propagates unchanged. Either way a job charging an instalment fails and is
retried with the same idempotency key, and a checkout is asked for with a key derived
from the request, so trying again never makes a second charge or session.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import stripe
from stripe.params import PaymentIntentCreateParams
from stripe.params.checkout import SessionCreateParams, SessionCreateParamsPaymentIntentData

from portal.adapters.errors import PAYMENT_PROVIDER, ServiceUnavailable
from portal.adapters.payments import (
    ChargeRequest,
    ChargeResult,
    CheckoutRequest,
    EventKind,
    EventRejected,
    PaymentEvent,
    StartedCheckout,
)

# Stripe's own default: a signed delivery older than five minutes may be a replay.
SIGNATURE_TOLERANCE_SECONDS = 300
MAX_NETWORK_RETRIES = 1
# (connect, read) seconds: with the retry, a request gives up well inside the web
# server's 30 s request timeout.
HTTP_TIMEOUT = (3.0, 10.0)
# In the session's metadata when the card is kept: its webhook then names the card.
SAVE_CARD_FLAG = "save_card"

JsonObject = Mapping[str, Any]


class StripePayments:
    """The ``PaymentProvider`` backed by Stripe (``api_base``: another API address)."""

    name = "stripe"

    def __init__(
        self,
        secret_key: str,
        webhook_secret: str,
        api_base: str | None = None,
        *,
        timeout: tuple[float, float] = HTTP_TIMEOUT,
        max_network_retries: int = MAX_NETWORK_RETRIES,
    ) -> None:
        self._webhook_secret = webhook_secret
        self._client = stripe.StripeClient(
            secret_key,
            base_addresses={"api": api_base} if api_base else {},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout),
        )

    def start_checkout(self, request: CheckoutRequest) -> StartedCheckout:
        if request.amount_minor <= 0:
            raise ValueError("a checkout needs a positive amount")
        with _answering():
            session = self._client.v1.checkout.sessions.create(
                params=_checkout_params(request),
                options={"idempotency_key": checkout_idempotency_key(request)},
            )
        return StartedCheckout(session.id, session.url or "")

    def charge_saved_card(self, request: ChargeRequest) -> ChargeResult:
        params: PaymentIntentCreateParams = {
            "amount": request.amount_minor,
            "currency": request.currency.lower(),
            "customer": request.customer_ref,
            "payment_method": request.payment_method_ref,
            "off_session": True,
            "confirm": True,
            "description": request.description,
            "metadata": dict(request.metadata),
        }
        try:
            with _answering():
                intent = self._client.v1.payment_intents.create(
                    params=params, options={"idempotency_key": request.idempotency_key}
                )
        except stripe.CardError as error:  # declined, authentication required, expired...
            return ChargeResult(_declined_intent_id(error), False, error.user_message)
        if intent.status == "succeeded":
            return ChargeResult(intent.id, True)
        return ChargeResult(intent.id, False, f"the payment is {intent.status}")

    def parse_event(self, payload: bytes, signature_header: str | None) -> PaymentEvent:
        event = self._verified_event(payload, signature_header)
        obj: JsonObject = event["data"]["object"]
        base = PaymentEvent(
            event_id=str(event["id"]),
            event_type=str(event["type"]),
            kind=EventKind.IGNORED,
            created=datetime.fromtimestamp(int(event["created"]), tz=UTC),
            object_ref=_text(obj, "id"),
        )
        normalise = self._normalisers().get(base.event_type)
        return normalise(base, obj) if normalise else base

    def _verified_event(self, payload: bytes, signature_header: str | None) -> JsonObject:
        if not signature_header:
            raise EventRejected("the Stripe-Signature header is missing")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature_header, self._webhook_secret, SIGNATURE_TOLERANCE_SECONDS
            )
            event = json.loads(payload)
        except stripe.SignatureVerificationError as error:
            raise EventRejected(f"bad Stripe-Signature: {error.user_message}") from error
        except ValueError as error:  # not UTF-8, or not JSON
            raise EventRejected("the body is not a JSON Stripe event") from error
        if not (isinstance(event, dict) and _is_event(event)):
            raise EventRejected("the body is not a Stripe event")
        return event

    def _normalisers(self) -> dict[str, Callable[[PaymentEvent, JsonObject], PaymentEvent]]:
        return {
            "checkout.session.completed": self._checkout_completed,
            "payment_intent.succeeded": _payment_succeeded,
            "payment_intent.payment_failed": _payment_failed,
            "charge.refunded": _refunded,
            "charge.dispute.created": _disputed,
        }

    def _checkout_completed(self, base: PaymentEvent, session: JsonObject) -> PaymentEvent:
        if session.get("payment_status") != "paid":  # e.g. a bank debit still pending
            return base
        payment_ref = _text(session, "payment_intent")
        return replace(
            base,
            kind=EventKind.CHECKOUT_COMPLETED,
            checkout_ref=base.object_ref,
            payment_ref=payment_ref,
            amount_minor=_amount(session, "amount_total"),
            currency=_currency(session),
            customer_ref=_text(session, "customer"),
            payment_method_ref=self._saved_card(session, payment_ref),
        )

    def _saved_card(self, session: JsonObject, payment_ref: str | None) -> str | None:
        """The card kept for later instalments: the session only names its payment."""
        if payment_ref is None or _metadata(session).get(SAVE_CARD_FLAG) != "1":
            return None
        with _answering():
            intent = self._client.v1.payment_intents.retrieve(payment_ref)
        card = getattr(intent, "payment_method", None)
        return card if isinstance(card, str) else None


@contextmanager
def _answering() -> Iterator[None]:
    """Stripe not answering, or asking to be left alone for a while, as ``ServiceUnavailable``."""
    try:
        yield
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise ServiceUnavailable(PAYMENT_PROVIDER, type(error).__name__) from error
    except stripe.APIError as error:
        if (error.http_status or 500) >= 500:
            raise ServiceUnavailable(PAYMENT_PROVIDER, f"HTTP {error.http_status}") from error
        raise


def checkout_idempotency_key(request: CheckoutRequest) -> str:
    """The same checkout asked for twice on one day (a double click, a retry after a
    timeout) gets the same key, so Stripe answers with the session it made the first
    time. The day is part of the key: a session is only open for 24 hours."""
    facts = {**asdict(request), "metadata": dict(request.metadata), "day": _today()}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    return f"checkout-{digest[:40]}"


def _today() -> str:
    return datetime.now(UTC).date().isoformat()


def _is_event(event: JsonObject) -> bool:
    data = event.get("data")
    has_object = isinstance(data, dict) and isinstance(data.get("object"), dict)
    return has_object and {"id", "type", "created"} <= event.keys()


def _checkout_params(request: CheckoutRequest) -> SessionCreateParams:
    metadata = dict(request.metadata)
    intent_data: SessionCreateParamsPaymentIntentData = {"metadata": metadata}
    params: SessionCreateParams = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": request.currency.lower(),
                    "unit_amount": request.amount_minor,
                    "product_data": {"name": request.description},
                },
            }
        ],
        "success_url": request.success_url,
        "cancel_url": request.cancel_url,
        "locale": request.locale,
        "metadata": metadata,
        "payment_intent_data": intent_data,
    }
    if request.customer_email:
        params["customer_email"] = request.customer_email
    if request.save_card:
        params["customer_creation"] = "always"
        params["metadata"] = {**metadata, SAVE_CARD_FLAG: "1"}  # read back by _saved_card
        intent_data["setup_future_usage"] = "off_session"
    return params


def _declined_intent_id(error: stripe.CardError) -> str:
    intent = getattr(error.error, "payment_intent", None)
    return str(getattr(intent, "id", None) or "")


def _payment_succeeded(base: PaymentEvent, intent: JsonObject) -> PaymentEvent:
    return replace(
        _payment(base, intent),
        kind=EventKind.PAYMENT_SUCCEEDED,
        amount_minor=_amount(intent, "amount_received"),
    )


def _payment_failed(base: PaymentEvent, intent: JsonObject) -> PaymentEvent:
    error = intent.get("last_payment_error") or {}
    return replace(
        _payment(base, intent),
        kind=EventKind.PAYMENT_FAILED,
        amount_minor=_amount(intent, "amount"),
        failure=_text(error, "message"),
    )


def _payment(base: PaymentEvent, intent: JsonObject) -> PaymentEvent:
    instalment = _metadata(intent).get("instalment_id", "")
    return replace(
        base,
        payment_ref=base.object_ref,
        currency=_currency(intent),
        customer_ref=_text(intent, "customer"),
        payment_method_ref=_text(intent, "payment_method"),
        instalment_id=int(instalment) if instalment.isascii() and instalment.isdigit() else None,
    )


def _refunded(base: PaymentEvent, charge: JsonObject) -> PaymentEvent:
    return replace(
        base,
        kind=EventKind.REFUNDED,
        payment_ref=_text(charge, "payment_intent"),
        amount_minor=_amount(charge, "amount_refunded"),
        currency=_currency(charge),
        customer_ref=_text(charge, "customer"),
    )


def _disputed(base: PaymentEvent, dispute: JsonObject) -> PaymentEvent:
    return replace(
        base,
        kind=EventKind.DISPUTED,
        payment_ref=_text(dispute, "payment_intent"),
        amount_minor=_amount(dispute, "amount"),
        currency=_currency(dispute),
        failure=_text(dispute, "reason"),
    )


def _text(obj: JsonObject, key: str) -> str | None:
    value = obj.get(key)
    return value if isinstance(value, str) else None


def _amount(obj: JsonObject, key: str) -> int:
    value = obj.get(key)
    return value if isinstance(value, int) else 0


def _currency(obj: JsonObject) -> str:
    return (_text(obj, "currency") or "").upper()


def _metadata(obj: JsonObject) -> Mapping[str, str]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, dict) else {}
