"""API operations: each route declared once with its models, run through fixed steps.

``operation`` registers the route and what the OpenAPI document says about it, from the
same models that check the request, so the two cannot drift. Every request to an
operation then goes through the same steps, in order:

1. the key was checked before the view (``portal.api.auth``), so the rate limit counts
   per key;
2. a POST must come with the right content type (415) and, for JSON, fit in
   ``JSON_LIMIT`` bytes (413);
3. with an ``Idempotency-Key``, a repeat replays the first response (or, with another
   body, is refused);
4. the body, form or query is checked against its model (400 for JSON that does not
   parse and for bad query parameters, 422 for a body of the wrong shape);
5. the view runs, and the request's one transaction is committed, or rolled back when
   the view raised an ``ApiProblem``.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from flask import Response, current_app, request
from pydantic import BaseModel, ValidationError

from portal import db
from portal.api import bp
from portal.api.auth import current_key, rate_limit_key
from portal.api.problems import (
    IDEMPOTENCY_KEY_REUSED,
    INVALID_REQUEST,
    VALIDATION,
    ApiProblem,
    problem_response,
    validation_errors,
)
from portal.api.schemas import FieldError
from portal.extensions import limiter
from portal.services import idempotency

JSON_LIMIT = 1024 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Visible ASCII, no spaces: what survives every HTTP hop unchanged (a UUID, say).
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"
REPLAYED_HEADER = "Idempotent-Replayed"


@dataclass(frozen=True)
class Reply:
    """What a view answers: a status and a model to send as JSON."""

    status: int
    body: BaseModel

    def json(self) -> str:
        return self.body.model_dump_json()


@dataclass(frozen=True)
class Operation:
    """One route as the OpenAPI document describes it."""

    endpoint: str
    method: str
    summary: str
    description: str
    ok: Mapping[int, tuple[str, type[BaseModel]]]
    refusals: Mapping[int, str] = field(default_factory=dict)
    body: type[BaseModel] | None = None
    form: type[BaseModel] | None = None
    form_schema: type[BaseModel] | None = None
    query: type[BaseModel] | None = None

    @property
    def content_type(self) -> str | None:
        if self.body is not None:
            return "application/json"
        if self.form is not None:
            return "multipart/form-data"
        return None


OPERATIONS: dict[str, Operation] = {}
View = Callable[..., Reply]


def operation(
    rule: str,
    method: str,
    *,
    summary: str,
    ok: Mapping[int, tuple[str, type[BaseModel]]],
    refusals: Mapping[int, str] | None = None,
    body: type[BaseModel] | None = None,
    form: type[BaseModel] | None = None,
    form_schema: type[BaseModel] | None = None,
    query: type[BaseModel] | None = None,
    description: str = "",
) -> Callable[[View], View]:
    """Register ``view`` at ``rule`` (under /api/v1) as a documented operation."""

    def decorator(view: View) -> View:
        endpoint = f"{bp.name}.{view.__name__}"
        declared = Operation(
            endpoint=endpoint,
            method=method,
            summary=summary,
            description=description or inspect.cleandoc(view.__doc__ or ""),
            ok=ok,
            refusals=refusals or {},
            body=body,
            form=form,
            form_schema=form_schema or form,
            query=query,
        )
        OPERATIONS[endpoint] = declared

        @wraps(view)
        def run(**path_args: Any) -> Response:
            if method == "GET":
                return _json(_call(declared, view, path_args, b""))
            return _post(declared, view, path_args)

        limited = limiter.shared_limit(
            lambda: str(current_app.config["API_RATE_LIMIT"]), scope="api", key_func=rate_limit_key
        )(run)
        bp.add_url_rule(rule, endpoint=view.__name__, view_func=limited, methods=[method])
        return view

    return decorator


def _json(reply: Reply) -> Response:
    return Response(reply.json(), reply.status, mimetype="application/json")


def _raw_body(declared: Operation) -> bytes:
    """The body as sent, after the content type and size checks."""
    mimetype = request.mimetype
    if declared.body is not None:
        if not (mimetype == "application/json" or mimetype.endswith("+json")):
            raise ApiProblem(415, "Send the body as JSON (Content-Type: application/json).")
        request.max_content_length = JSON_LIMIT
        return request.get_data(cache=True)
    if declared.form is not None:
        if mimetype != "multipart/form-data":
            raise ApiProblem(415, "Send the document as multipart/form-data.")
        # Only a repeatable request needs its bytes now (for the fingerprint); otherwise
        # the form parser streams the upload to a temporary file as usual.
        return request.get_data(cache=True) if request.headers.get(IDEMPOTENCY_HEADER) else b""
    return b""


def _inputs(declared: Operation, raw: bytes) -> dict[str, BaseModel]:
    """The view's checked inputs: ``body``, ``form`` or ``query``."""
    try:
        if declared.body is not None:
            return {"body": declared.body.model_validate_json(raw)}
        if declared.form is not None:
            return {"form": declared.form.model_validate(request.form.to_dict())}
        if declared.query is not None:
            return {"query": declared.query.model_validate(request.args.to_dict())}
    except ValidationError as error:
        raise _refusal(declared, error) from None
    return {}


def _refusal(declared: Operation, error: ValidationError) -> ApiProblem:
    if declared.query is not None:
        return ApiProblem(
            400,
            "Some query parameters are not valid.",
            kind=INVALID_REQUEST,
            title="Invalid query parameters",
            errors=validation_errors(error, in_body=False),
        )
    if any(item["type"] == "json_invalid" for item in error.errors()):
        return ApiProblem(
            400, "The body is not valid JSON.", kind=INVALID_REQUEST, title="Malformed request"
        )
    return ApiProblem(
        422,
        "Some fields of the request have the wrong type or are missing.",
        kind=VALIDATION,
        title="Invalid request",
        errors=validation_errors(error),
    )


def _call(declared: Operation, view: View, path_args: dict[str, Any], raw: bytes) -> Reply:
    return view(**path_args, **_inputs(declared, raw))


def _post(declared: Operation, view: View, path_args: dict[str, Any]) -> Response:
    raw = _raw_body(declared)
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        try:
            reply = _call(declared, view, path_args, raw)
        except ApiProblem:
            db.session.rollback()
            raise
        db.session.commit()
        return _json(reply)
    if not re.fullmatch(IDEMPOTENCY_KEY_PATTERN, key):
        message = "1 to 255 visible ASCII characters, no spaces."
        raise _header_problem(400, "Invalid Idempotency-Key", message)
    request_print = idempotency.fingerprint(request.method, request.path, raw)
    claim = idempotency.claim(db.session, current_key(), key, request_print)
    if claim.outcome is idempotency.Outcome.MISMATCH:
        db.session.rollback()
        raise _header_problem(
            422,
            "Idempotency-Key reused",
            "Used before for another request: use a new key for a new request.",
            kind=IDEMPOTENCY_KEY_REUSED,
        )
    if claim.outcome is idempotency.Outcome.REPLAY:
        db.session.rollback()
        return _replay(claim.record.status_code, claim.record.body)
    try:
        with db.session.begin_nested():  # on a refusal the work goes and the claim stays
            reply = _call(declared, view, path_args, raw)
        status, body, response = reply.status, reply.json(), _json(reply)
    except ApiProblem as problem:
        status, body, response = problem.status, problem.body(), problem.response()
    idempotency.finish(db.session, claim.record, status, body)
    db.session.commit()
    return response


def _header_problem(
    status: int, title: str, message: str, *, kind: str = INVALID_REQUEST
) -> ApiProblem:
    return ApiProblem(
        status,
        f"Idempotency-Key: {message}",
        kind=kind,
        title=title,
        errors=[FieldError(field=IDEMPOTENCY_HEADER, message=message)],
    )


def _replay(status: int, body: str) -> Response:
    """The stored first response, sent again."""
    if status >= 400:
        response = problem_response(status, body)
    else:
        response = Response(body, status, mimetype="application/json")
    response.headers[REPLAYED_HEADER] = "true"
    return response
