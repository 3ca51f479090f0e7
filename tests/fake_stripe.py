"""A local stand-in for Stripe's API, so the real adapter and SDK run without the internet.

It serves only what ``StripePayments`` calls (Checkout Sessions and PaymentIntents), reads
the form-encoded bodies the stripe SDK sends, answers with Stripe-shaped JSON and errors,
and honours ``Idempotency-Key`` as Stripe does. Every request is recorded, so a test can
count the charges made. ``sign`` and ``event`` build webhook deliveries as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

API_VERSION = "2024-06-20"
DECLINED_CARD = "pm_card_chargeDeclined"
IDEMPOTENCY_MISMATCH = (
    "Keys for idempotent requests can only be used with the same parameters they were "
    "first used with. Try using a key other than '{key}' if you meant to execute a "
    "different request."
)

Json = dict[str, Any]


class StripeFailure(Exception):
    """An error answer: the HTTP status and Stripe's ``{"error": ...}`` body."""

    def __init__(self, status: HTTPStatus, error: Json) -> None:
        super().__init__(error.get("message"))
        self.status = status
        self.error = error


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    params: Json
    idempotency_key: str | None


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for ``payload``, as Stripe computes it."""
    signed_at = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{signed_at}.".encode() + payload, hashlib.sha256)
    return f"t={signed_at},v1={digest.hexdigest()}"


def event(
    event_type: str, obj: Json, event_id: str | None = None, created: int | None = None
) -> bytes:
    """The body of a webhook delivery about ``obj``."""
    return json.dumps(
        {
            "id": event_id or _new_id("evt"),
            "object": "event",
            "type": event_type,
            "created": int(time.time()) if created is None else created,
            "data": {"object": obj},
            "livemode": False,
            "api_version": API_VERSION,
        }
    ).encode()


def parse_form(body: str) -> Json:
    """``a[b][0][c]=1`` into ``{"a": {"b": [{"c": "1"}]}}``, as Stripe reads it."""
    tree: Json = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head, *rest = key.replace("]", "").split("[")
        node = tree
        for name in [head, *rest][:-1]:
            node = node.setdefault(name, {})
        node[[head, *rest][-1]] = value
    return _lists_from_indexes(tree)


def _lists_from_indexes(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    items = {key: _lists_from_indexes(value) for key, value in node.items()}
    if items and all(key.isdigit() for key in items):
        return [items[key] for key in sorted(items, key=int)]
    return items


def _new_id(prefix: str) -> str:
    return f"{prefix}_test_{secrets.token_hex(12)}"


def _error(status: HTTPStatus, kind: str, message: str, **details: Any) -> StripeFailure:
    return StripeFailure(status, {"type": kind, "message": message, **details})


class FakeStripe:
    """The fake API's state and helpers; ``start`` serves it on a free local port."""

    secret_key = "sk_test_fake"
    webhook_secret = "whsec_test_fake"

    def __init__(self) -> None:
        self.requests: list[RecordedRequest] = []
        self.sessions: dict[str, Json] = {}
        self.payment_intents: dict[str, Json] = {}
        self._session_intent_data: dict[str, Json] = {}
        self._charges: list[str] = []
        self._replies: dict[str, tuple[RecordedRequest, HTTPStatus, Json]] = {}
        self._lock = threading.Lock()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def charges_created(self) -> list[Json]:
        """The PaymentIntents created through the API (declined ones too), oldest first."""
        with self._lock:
            return [self.payment_intents[intent_id] for intent_id in self._charges]

    def complete_checkout(self, session_id: str, payment_method: str = "pm_card_visa") -> Json:
        """The debtor pays on the Checkout page: the session is paid, its payment made."""
        with self._lock:
            session = self.sessions[session_id]
            intent_data = self._session_intent_data[session_id]
            customer = _new_id("cus") if session["customer_creation"] == "always" else None
            intent = self._payment_intent(
                session["amount_total"],
                session["currency"],
                customer,
                payment_method,
                intent_data.get("metadata", {}),
            )
            intent["setup_future_usage"] = intent_data.get("setup_future_usage")
            session.update(
                status="complete",
                payment_status="paid",
                payment_intent=intent["id"],
                customer=customer,
            )
            return dict(session)

    def handle(self, request: RecordedRequest, authorization: str | None) -> tuple[int, Json]:
        """One API call: the HTTP status and JSON body to answer with."""
        with self._lock:
            self.requests.append(request)
            try:
                if authorization != f"Bearer {self.secret_key}":
                    raise _error(
                        HTTPStatus.UNAUTHORIZED, "invalid_request_error", "Invalid API Key provided"
                    )
                return self._idempotent(request)
            except StripeFailure as failure:
                return failure.status, {"error": failure.error}

    def _idempotent(self, request: RecordedRequest) -> tuple[int, Json]:
        key = request.idempotency_key
        if request.method != "POST" or key is None:
            return HTTPStatus.OK, self._route(request)
        if key in self._replies:
            first, status, body = self._replies[key]
            if (first.path, first.params) != (request.path, request.params):
                message = IDEMPOTENCY_MISMATCH.format(key=key)
                raise _error(HTTPStatus.BAD_REQUEST, "idempotency_error", message)
            return status, body
        try:
            status, body = HTTPStatus.OK, self._route(request)
        except StripeFailure as failure:
            status, body = failure.status, {"error": failure.error}
        self._replies[key] = (request, status, body)
        return status, body

    def _route(self, request: RecordedRequest) -> Json:
        parts = request.path.strip("/").split("/")
        match request.method, parts:
            case "POST", ["v1", "checkout", "sessions"]:
                return self._create_session(request.params)
            case "GET", ["v1", "checkout", "sessions", session_id]:
                return self._find(self.sessions, "checkout.session", session_id)
            case "POST", ["v1", "payment_intents"]:
                return self._create_charge(request.params)
            case "GET", ["v1", "payment_intents", intent_id]:
                return self._find(self.payment_intents, "payment_intent", intent_id)
        message = f"Unrecognized request URL ({request.method}: {request.path})."
        raise _error(HTTPStatus.NOT_FOUND, "invalid_request_error", message)

    def _find(self, objects: dict[str, Json], kind: str, object_id: str) -> Json:
        if object_id not in objects:
            raise _error(
                HTTPStatus.NOT_FOUND,
                "invalid_request_error",
                f"No such {kind}: '{object_id}'",
                code="resource_missing",
            )
        return objects[object_id]

    def _create_session(self, params: Json) -> Json:
        price = params["line_items"][0]["price_data"]
        quantity = int(params["line_items"][0].get("quantity", "1"))
        session_id = _new_id("cs")
        self._session_intent_data[session_id] = params.get("payment_intent_data", {})
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"{self.url}/checkout/{session_id}",
            "mode": params["mode"],
            "amount_total": int(price["unit_amount"]) * quantity,
            "currency": price["currency"],
            "metadata": params.get("metadata", {}),
            "customer": None,
            "customer_creation": params.get("customer_creation", "if_required"),
            "customer_email": params.get("customer_email"),
            "locale": params.get("locale"),
            "success_url": params["success_url"],
            "cancel_url": params["cancel_url"],
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "livemode": False,
            "created": int(time.time()),
        }
        return self.sessions[session_id]

    def _create_charge(self, params: Json) -> Json:
        intent = self._payment_intent(
            int(params["amount"]),
            params["currency"],
            params.get("customer"),
            params.get("payment_method"),
            params.get("metadata", {}),
        )
        intent["description"] = params.get("description")
        self._charges.append(intent["id"])
        if intent["payment_method"] == DECLINED_CARD:
            raise self._decline(intent)
        return intent

    def _payment_intent(
        self,
        amount: int,
        currency: str,
        customer: str | None,
        payment_method: str | None,
        metadata: Json,
    ) -> Json:
        intent_id = _new_id("pi")
        self.payment_intents[intent_id] = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": amount,
            "currency": currency,
            "customer": customer,
            "payment_method": payment_method,
            "metadata": metadata,
            "status": "succeeded",
            "last_payment_error": None,
            "livemode": False,
            "created": int(time.time()),
        }
        return self.payment_intents[intent_id]

    def _decline(self, intent: Json) -> StripeFailure:
        error = {
            "type": "card_error",
            "code": "card_declined",
            "decline_code": "generic_decline",
            "message": "Your card was declined.",
        }
        intent.update(
            status="requires_payment_method",
            amount_received=0,
            payment_method=None,
            last_payment_error={**error, "payment_method": {"id": DECLINED_CARD}},
        )
        return StripeFailure(HTTPStatus.PAYMENT_REQUIRED, {**error, "payment_intent": intent})


class _Server(ThreadingHTTPServer):
    def __init__(self, fake: FakeStripe) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self._answer()

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the test output is not the place for an access log."""

    def _answer(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else url.query
        request = RecordedRequest(
            self.command, url.path, parse_form(body), self.headers.get("Idempotency-Key")
        )
        status, answer = self.server.fake.handle(request, self.headers.get("Authorization"))
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", _new_id("req"))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    """A fake Stripe API served for one test."""
    server = FakeStripe()
    server.start()
    try:
        yield server
    finally:
        server.stop()
