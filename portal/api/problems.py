"""Errors as ``application/problem+json`` (RFC 9457), the one shape every refusal takes.

Plain HTTP errors carry ``type: about:blank`` and the status's own title; the API's
own kinds of problem have a ``type`` of their own under ``/api/v1/problems/``. Field
errors name the field as a JSON pointer into the request body (``/invoices/1/amount``)
or, for query parameters and headers, by the parameter's name.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from http import HTTPStatus

from flask import Response
from pydantic import ValidationError
from werkzeug.exceptions import HTTPException

from portal.api.schemas import FieldError, ProblemDetails
from portal.services.placement import Problem

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPES = "/api/v1/problems/"

INVALID_REQUEST = "invalid-request"
VALIDATION = "validation"
PLACEMENT_REFUSED = "placement-refused"
DOCUMENT_REFUSED = "document-refused"
WITHDRAWAL_REFUSED = "withdrawal-refused"
IDEMPOTENCY_KEY_REUSED = "idempotency-key-reused"


class ApiProblem(Exception):
    """Raised anywhere in an API request to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: Iterable[FieldError] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail or HTTPStatus(status).phrase)
        self.status = status
        self.details = ProblemDetails(
            type=PROBLEM_TYPES + kind if kind else "about:blank",
            title=title or HTTPStatus(status).phrase,
            status=status,
            detail=detail,
            errors=list(errors),
        )
        self.headers = dict(headers or {})

    def body(self) -> str:
        details = self.details.model_dump(mode="json", exclude_none=True)
        return json.dumps(details, ensure_ascii=False)

    def response(self) -> Response:
        return problem_response(self.status, self.body(), self.headers)


def problem_response(status: int, body: str, headers: Mapping[str, str] | None = None) -> Response:
    response = Response(body, status, mimetype=PROBLEM_JSON)
    response.headers.update(headers or {})
    return response


def from_http_error(error: HTTPException) -> ApiProblem:
    """A werkzeug error (404, 405, 413 ...) as a problem, keeping its headers."""
    status = error.code or 500
    headers = {name: value for name, value in error.get_headers() if name.lower() != "content-type"}
    detail = error.description if status < 500 else None
    return ApiProblem(status, detail, headers=headers)


def pointer(*parts: str | int) -> str:
    """A JSON pointer (RFC 6901) to the value at ``parts`` in the request body."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in parts)


def dotted_to_pointer(path: str) -> str:
    """``invoices.1.amount`` (the placement service's field paths) as ``/invoices/1/amount``."""
    return pointer(*path.split(".")) if path and path != "tenant" else ""


def placement_errors(problems: Iterable[Problem]) -> list[FieldError]:
    return [FieldError(field=dotted_to_pointer(p.field), message=p.message) for p in problems]


def validation_errors(error: ValidationError, *, in_body: bool = True) -> list[FieldError]:
    """Pydantic's errors, each on its field: a body pointer, or a parameter's name."""
    found = []
    for item in error.errors(include_url=False, include_context=False, include_input=False):
        location = [part for part in item["loc"] if not str(part).startswith("function-")]
        field = pointer(*location) if in_body else ".".join(str(part) for part in location)
        found.append(FieldError(field=field, message=item["msg"]))
    return found
