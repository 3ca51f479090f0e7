"""Calling the JSON API in tests, every response checked against the OpenAPI document.

``ApiClient`` is the only way the API tests call the API: each response it receives is
validated (status, content type, headers, body) against the document the app serves, so
a response the document does not describe fails the test that got it.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from openapi_core import Config, OpenAPI
from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest, WerkzeugOpenAPIResponse
from sqlalchemy.orm import Session
from werkzeug.test import TestResponse

from portal.models import Tenant
from portal.services import api_keys

_documents: dict[int, OpenAPI] = {}


class AnsweredRequest(WerkzeugOpenAPIRequest):
    """The request a response answered; its body was read by the app already, and
    checking a response needs only the method, path and headers."""

    @property
    def body(self) -> bytes | None:
        return None


def openapi_for(app: Flask) -> OpenAPI:
    if id(app) not in _documents:
        response = app.test_client().get("/api/v1/openapi.json")
        assert response.status_code == 200
        # Problem documents are JSON under their own media type (RFC 9457).
        config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
        _documents[id(app)] = OpenAPI.from_dict(response.get_json(), config=config)
    return _documents[id(app)]


def new_key(session: Session, tenant: Tenant, name: str = "ERP") -> str:
    """A key for ``tenant`` (call inside ``unscoped``); returns the secret."""
    return api_keys.create_key(session, tenant, name, created_by_id=None).secret


class ApiClient:
    """The test client with a bearer key, checking every answer against the document."""

    def __init__(self, app: Flask, client: FlaskClient, secret: str | None) -> None:
        self.app, self.client, self.secret = app, client, secret
        self.checked = 0

    def with_key(self, secret: str | None) -> ApiClient:
        return ApiClient(self.app, self.client, secret)

    def open(self, path: str, method: str = "GET", **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.pop("headers", {}) or {})
        if self.secret is not None:
            headers.setdefault("Authorization", f"Bearer {self.secret}")
        response = self.client.open(f"/api/v1{path}", method=method, headers=headers, **kwargs)
        self.validate(response)
        return response

    def validate(self, response: TestResponse) -> None:
        openapi_for(self.app).validate_response(
            AnsweredRequest(response.request), WerkzeugOpenAPIResponse(response)
        )
        self.checked += 1

    def get(self, path: str, **kwargs: Any) -> TestResponse:
        return self.open(path, "GET", **kwargs)

    def post(self, path: str, payload: Any = None, **kwargs: Any) -> TestResponse:
        if payload is not None:
            kwargs["data"] = json.dumps(payload)
            kwargs.setdefault("content_type", "application/json")
        return self.open(path, "POST", **kwargs)


def placement_body(reference: str = "ERP-1", **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "creditor_reference": reference,
        "debtor": {
            "kind": "business",
            "name": f"Debtor of {reference} GmbH",
            "email": "accounts@debtor.example",
            "postal_code": "10115",
            "city": "Berlin",
            "contacts": [{"name": "Erika Muster", "position": "CFO"}],
        },
        "invoices": [
            {
                "number": f"{reference}-A",
                "issue_date": "2026-01-10",
                "due_date": "2026-02-10",
                "amount": "1234.56",
            },
            {
                "number": f"{reference}-B",
                "issue_date": "2026-01-20",
                "due_date": "2026-02-20",
                "amount": "100",
            },
        ],
        "contract_interest": "9.5",
        "warning_signs": ["not_returning_calls"],
    }
    body.update(fields)
    return body
