import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from portal.adapters.errors import PAYMENT_PROVIDER, ServiceUnavailable
from portal.adapters.payments import (
    ChargeRequest,
    CheckoutRequest,
    EventKind,
    EventRejected,
    PaymentEvent,
)
from portal.adapters.stripe_payments import StripePayments
from tests.fake_stripe import (
    DECLINED_CARD,
    FakeStripe,
    event,
    fake_stripe,  # noqa: F401
    sign,
)


@pytest.fixture
def provider(fake_stripe: FakeStripe) -> StripePayments:  # noqa: F811
    return StripePayments(fake_stripe.secret_key, fake_stripe.webhook_secret, fake_stripe.url)


def checkout(save_card: bool = False, email: str | None = None) -> CheckoutRequest:
    return CheckoutRequest(
        12_345,
        "EUR",
        "Claim 26-ABCD",
        "https://portal.example/ok",
        "https://portal.example/cancel",
        customer_email=email,
        save_card=save_card,
        locale="de",
        metadata={"checkout_id": "7", "tenant": "acme"},
    )


def charge(key: str, card: str = "pm_card_visa") -> ChargeRequest:
    return ChargeRequest(
        5_000, "EUR", "cus_1", card, key, "Instalment 2 of 6", {"instalment_id": "42"}
    )


def deliver(provider: StripePayments, payload: bytes, secret: str) -> PaymentEvent:
    return provider.parse_event(payload, sign(payload, secret))


def test_a_checkout_is_a_session_for_the_amount_with_our_metadata(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    started = provider.start_checkout(checkout())
    (request,) = fake_stripe.requests
    assert (request.method, request.path) == ("POST", "/v1/checkout/sessions")
    params = request.params
    assert params["mode"] == "payment"
    assert params["line_items"] == [
        {
            "quantity": "1",
            "price_data": {
                "currency": "eur",
                "unit_amount": "12345",
                "product_data": {"name": "Claim 26-ABCD"},
            },
        }
    ]
    assert (params["success_url"], params["cancel_url"], params["locale"]) == (
        "https://portal.example/ok",
        "https://portal.example/cancel",
        "de",
    )
    assert params["metadata"] == {"checkout_id": "7", "tenant": "acme"}
    assert params["payment_intent_data"] == {"metadata": {"checkout_id": "7", "tenant": "acme"}}
    assert "customer_creation" not in params and "customer_email" not in params
    session = fake_stripe.sessions[started.provider_ref]
    assert started.redirect_url == session["url"]
    assert (session["amount_total"], session["currency"]) == (12_345, "eur")


def test_a_checkout_that_saves_the_card_makes_a_customer_for_off_session_use(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    provider.start_checkout(checkout(save_card=True, email="debtor@example.org"))
    params = fake_stripe.requests[0].params
    assert params["customer_creation"] == "always"
    assert params["customer_email"] == "debtor@example.org"
    assert params["payment_intent_data"]["setup_future_usage"] == "off_session"
    assert params["payment_intent_data"]["metadata"] == {"checkout_id": "7", "tenant": "acme"}
    assert params["metadata"]["save_card"] == "1"


def test_a_checkout_needs_a_positive_amount(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    with pytest.raises(ValueError, match="positive"):
        provider.start_checkout(CheckoutRequest(0, "EUR", "x", "https://a", "https://b"))
    assert fake_stripe.requests == []


def test_a_saved_card_is_charged_off_session(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    result = provider.charge_saved_card(charge("instalment-42-attempt-1"))
    (created,) = fake_stripe.charges_created()
    assert result.succeeded and result.failure is None
    assert result.payment_ref == created["id"]
    (request,) = fake_stripe.requests
    assert request.idempotency_key == "instalment-42-attempt-1"
    assert request.params == {
        "amount": "5000",
        "currency": "eur",
        "customer": "cus_1",
        "payment_method": "pm_card_visa",
        "off_session": "true",
        "confirm": "true",
        "description": "Instalment 2 of 6",
        "metadata": {"instalment_id": "42"},
    }


def test_the_same_idempotency_key_charges_once(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    first = provider.charge_saved_card(charge("instalment-42-attempt-1"))
    again = provider.charge_saved_card(charge("instalment-42-attempt-1"))
    assert first == again
    assert len(fake_stripe.charges_created()) == 1
    other = provider.charge_saved_card(charge("instalment-43-attempt-1"))
    assert other.payment_ref != first.payment_ref
    assert len(fake_stripe.charges_created()) == 2


def test_a_key_reused_for_another_charge_is_refused(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    provider.charge_saved_card(charge("instalment-42-attempt-1"))
    with pytest.raises(stripe.IdempotencyError):
        provider.charge_saved_card(charge("instalment-42-attempt-1", card="pm_card_other"))
    assert len(fake_stripe.charges_created()) == 1


def test_a_declined_card_is_an_unsuccessful_result_with_the_message(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    result = provider.charge_saved_card(charge("instalment-42-attempt-1", DECLINED_CARD))
    (declined,) = fake_stripe.charges_created()
    assert not result.succeeded
    assert result.failure == "Your card was declined."
    assert result.payment_ref == declined["id"]


def test_a_wrong_secret_key_raises(fake_stripe: FakeStripe) -> None:  # noqa: F811
    provider = StripePayments("sk_test_wrong", fake_stripe.webhook_secret, fake_stripe.url)
    with pytest.raises(stripe.AuthenticationError):
        provider.charge_saved_card(charge("instalment-42-attempt-1"))
    assert fake_stripe.charges_created() == []


def test_a_paid_checkout_that_saved_the_card_names_customer_and_card(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    started = provider.start_checkout(checkout(save_card=True))
    session = fake_stripe.complete_checkout(started.provider_ref, payment_method="pm_card_mc")
    created = int(time.time())
    payload = event("checkout.session.completed", session, "evt_1", created)
    parsed = deliver(provider, payload, fake_stripe.webhook_secret)
    assert parsed == PaymentEvent(
        event_id="evt_1",
        event_type="checkout.session.completed",
        kind=EventKind.CHECKOUT_COMPLETED,
        created=datetime.fromtimestamp(created, tz=UTC),
        object_ref=started.provider_ref,
        checkout_ref=started.provider_ref,
        payment_ref=session["payment_intent"],
        amount_minor=12_345,
        currency="EUR",
        customer_ref=session["customer"],
        payment_method_ref="pm_card_mc",
    )
    assert session["customer"].startswith("cus_")
    assert fake_stripe.requests[-1].path == f"/v1/payment_intents/{session['payment_intent']}"


def test_a_paid_checkout_without_a_saved_card_asks_stripe_nothing_more(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    started = provider.start_checkout(checkout())
    session = fake_stripe.complete_checkout(started.provider_ref)
    parsed = deliver(
        provider, event("checkout.session.completed", session), fake_stripe.webhook_secret
    )
    assert parsed.kind is EventKind.CHECKOUT_COMPLETED
    assert parsed.payment_ref == session["payment_intent"]
    assert parsed.customer_ref is None and parsed.payment_method_ref is None
    assert len(fake_stripe.requests) == 1


def test_an_unpaid_checkout_is_ignored(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    started = provider.start_checkout(checkout())
    session = fake_stripe.sessions[started.provider_ref]
    parsed = deliver(
        provider, event("checkout.session.completed", session), fake_stripe.webhook_secret
    )
    assert parsed.kind is EventKind.IGNORED
    assert parsed.event_type == "checkout.session.completed"


def intent(**fields: object) -> dict[str, object]:
    return {
        "id": "pi_1",
        "object": "payment_intent",
        "amount": 5_000,
        "amount_received": 5_000,
        "currency": "eur",
        "customer": "cus_1",
        "payment_method": "pm_1",
        "metadata": {"instalment_id": "42"},
        "status": "succeeded",
        "last_payment_error": None,
        **fields,
    }


def test_a_succeeded_payment_names_the_instalment(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    parsed = deliver(
        provider, event("payment_intent.succeeded", intent(), "evt_2"), fake_stripe.webhook_secret
    )
    assert (parsed.kind, parsed.event_id) == (EventKind.PAYMENT_SUCCEEDED, "evt_2")
    assert (parsed.object_ref, parsed.payment_ref) == ("pi_1", "pi_1")
    assert (parsed.amount_minor, parsed.currency) == (5_000, "EUR")
    assert (parsed.customer_ref, parsed.payment_method_ref) == ("cus_1", "pm_1")
    assert parsed.instalment_id == 42 and parsed.failure is None


@pytest.mark.parametrize("metadata", [{}, {"instalment_id": "x42"}, {"instalment_id": ""}])
def test_a_payment_without_a_numeric_instalment_names_none(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
    metadata: dict[str, str],
) -> None:
    payload = event("payment_intent.succeeded", intent(metadata=metadata))
    assert deliver(provider, payload, fake_stripe.webhook_secret).instalment_id is None


def test_a_failed_payment_carries_the_reason(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    failed = intent(
        status="requires_payment_method",
        amount_received=0,
        last_payment_error={
            "code": "card_declined",
            "message": "Your card has insufficient funds.",
        },
    )
    parsed = deliver(
        provider, event("payment_intent.payment_failed", failed), fake_stripe.webhook_secret
    )
    assert parsed.kind is EventKind.PAYMENT_FAILED
    assert (parsed.payment_ref, parsed.instalment_id) == ("pi_1", 42)
    assert parsed.failure == "Your card has insufficient funds."


def test_a_refund_gives_the_total_refunded_on_the_payment(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    charge_object = {
        "id": "ch_1",
        "object": "charge",
        "amount": 5_000,
        "amount_refunded": 3_000,
        "currency": "eur",
        "payment_intent": "pi_1",
        "refunded": False,
    }
    parsed = deliver(provider, event("charge.refunded", charge_object), fake_stripe.webhook_secret)
    assert parsed.kind is EventKind.REFUNDED
    assert (parsed.object_ref, parsed.payment_ref) == ("ch_1", "pi_1")
    assert (parsed.amount_minor, parsed.currency) == (3_000, "EUR")


def test_a_dispute_gives_the_amount_and_reason(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    dispute = {
        "id": "dp_1",
        "object": "dispute",
        "amount": 5_000,
        "currency": "eur",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    parsed = deliver(provider, event("charge.dispute.created", dispute), fake_stripe.webhook_secret)
    assert parsed.kind is EventKind.DISPUTED
    assert (parsed.object_ref, parsed.payment_ref) == ("dp_1", "pi_1")
    assert (parsed.amount_minor, parsed.currency, parsed.failure) == (5_000, "EUR", "fraudulent")


def test_other_event_types_are_ignored(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    payload = event(
        "customer.created", {"id": "cus_1", "object": "customer"}, "evt_3", 1_700_000_000
    )
    parsed = deliver(provider, payload, fake_stripe.webhook_secret)
    assert (parsed.kind, parsed.event_id, parsed.event_type) == (
        EventKind.IGNORED,
        "evt_3",
        "customer.created",
    )
    assert parsed.created == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)


def forged(payload: bytes, secret: str) -> str:
    timestamp, _signature = sign(payload, secret).split(",")
    return f"{timestamp},v1={'0' * 64}"


@pytest.mark.parametrize(
    ("header", "message"),
    [
        (forged, "signature"),
        (lambda payload, secret: sign(payload, "whsec_another"), "signature"),
        (lambda payload, secret: sign(payload, secret, int(time.time()) - 301), "tolerance"),
        (lambda payload, secret: None, "missing"),
        (lambda payload, secret: "", "missing"),
        (lambda payload, secret: "garbage", "signature"),
    ],
    ids=["forged", "other-secret", "stale", "no-header", "empty-header", "malformed"],
)
def test_deliveries_not_genuine_and_fresh_are_rejected(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
    header: Callable[[bytes, str], str | None],
    message: str,
) -> None:
    payload = event("payment_intent.succeeded", intent())
    with pytest.raises(EventRejected, match=message):
        provider.parse_event(payload, header(payload, fake_stripe.webhook_secret))


@pytest.mark.parametrize("payload", [b"not json", b"\xff\xfe", b"[1, 2]", b'{"id": "evt_1"}'])
def test_a_signed_body_that_is_not_an_event_is_rejected(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
    payload: bytes,
) -> None:
    with pytest.raises(EventRejected):
        provider.parse_event(payload, sign(payload, fake_stripe.webhook_secret))


def test_the_same_checkout_asked_twice_is_one_session(
    provider: StripePayments,
    fake_stripe: FakeStripe,  # noqa: F811
) -> None:
    first = provider.start_checkout(checkout())
    again = provider.start_checkout(checkout())
    assert again == first
    assert len(fake_stripe.sessions) == 1
    assert fake_stripe.requests[0].idempotency_key == fake_stripe.requests[1].idempotency_key
    other = provider.start_checkout(replace(checkout(), amount_minor=500))
    assert other.provider_ref != first.provider_ref
    assert len(fake_stripe.sessions) == 2


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_stripe_not_answering_is_an_unavailable_provider() -> None:
    provider = StripePayments("sk_test_x", "whsec_x", f"http://127.0.0.1:{_closed_port()}")
    with pytest.raises(ServiceUnavailable, match="the payment provider") as raised:
        provider.start_checkout(checkout())
    assert raised.value.service == PAYMENT_PROVIDER
    with pytest.raises(ServiceUnavailable):
        provider.charge_saved_card(charge("instalment-42-attempt-1"))


class _Failing(BaseHTTPRequestHandler):
    """Answers every request with the status in the server's ``status``."""

    server: Any

    def do_POST(self) -> None:
        payload = json.dumps({"error": {"type": "api_error", "message": "try later"}}).encode()
        self.send_response(self.server.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.mark.parametrize("status", [429, 500, 503])
def test_stripe_overloaded_or_failing_is_an_unavailable_provider(status: int) -> None:
    server: Any = ThreadingHTTPServer(("127.0.0.1", 0), _Failing)
    server.status = status
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        host, port = server.server_address[:2]
        provider = StripePayments("sk_test_x", "whsec_x", f"http://{host}:{port}")
        with pytest.raises(ServiceUnavailable):
            provider.charge_saved_card(charge("instalment-42-attempt-1"))
    finally:
        server.shutdown()
        server.server_close()
