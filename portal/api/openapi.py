"""The OpenAPI 3.1 document, made from the routes and the pydantic models they run on.

Nothing here describes a field by hand: the schemas are pydantic's JSON Schema (the
dialect OpenAPI 3.1 uses), the paths and their parameters come from the URL map, and the
answers each operation can give from what it declared with ``operation``.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, Response, current_app, json
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema
from werkzeug.routing import IntegerConverter, Rule

from portal.api import bp
from portal.api.operations import (
    IDEMPOTENCY_HEADER,
    IDEMPOTENCY_KEY_PATTERN,
    OPERATIONS,
    Operation,
)
from portal.api.problems import PROBLEM_JSON
from portal.api.schemas import ProblemDetails

TITLE = "Placement portal API"
VERSION = "1.0.0"
DESCRIPTION = """\
Place overdue accounts with the agency and follow them.

- Authenticate with a tenant API key: `Authorization: Bearer <key>`. A creditor admin
  makes keys in the portal (API keys page); the key is shown once.
- Every POST takes an `Idempotency-Key` header: the same key with the same body returns
  the first response again and changes nothing; with another body it is refused (422).
- Errors are `application/problem+json` (RFC 9457); `errors` lists each field's problem,
  the field named by a JSON pointer into the body (`/invoices/1/amount`).
- Amounts are decimal strings with their currency; times are ISO 8601 in UTC.
- Lists are ordered and paged with an opaque `cursor`.
- Requests are limited per key; over the limit the answer is 429 with `Retry-After`.
"""
PROBLEM_REF = "ProblemDetails"
PATH_ARGUMENT = re.compile(r"<(?:[^>:]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
STANDARD_REFUSALS = {
    401: "No API key, or one that is not valid or was revoked.",
    429: "Too many requests with this key: wait as long as `Retry-After` says.",
}
BODY_REFUSALS = {
    400: "The body is not valid JSON, or the Idempotency-Key header is not valid.",
    413: "The body is too large.",
    415: "The body is not of the content type this operation takes.",
    422: "A field has the wrong type or is missing, "
    "or the Idempotency-Key was used for another request.",
}


def _models(operations: list[Operation]) -> list[tuple[type[BaseModel], JsonSchemaMode]]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ProblemDetails, "serialization")]
    for declared in operations:
        for model in (declared.body, declared.form_schema, declared.query):
            if model is not None:
                wanted.append((model, "validation"))
        wanted.extend((model, "serialization") for _status, model in declared.ok.values())
    return list(dict.fromkeys(wanted))


def _path(rule: Rule) -> str:
    return PATH_ARGUMENT.sub(r"{\1}", rule.rule.removeprefix(bp.url_prefix or ""))


def _path_parameters(rule: Rule) -> list[dict[str, Any]]:
    parameters = []
    for name in sorted(rule.arguments):
        converter = rule._converters.get(name)  # werkzeug keeps them here
        schema: dict[str, Any] = {"type": "string"}
        if isinstance(converter, IntegerConverter):
            schema = {"type": "integer"}
            if converter.min is not None:
                schema["minimum"] = converter.min
            if converter.max is not None:
                schema["maximum"] = converter.max
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema})
    return parameters


def _query_parameters(model: type[BaseModel], schemas: dict[str, Any]) -> list[dict[str, Any]]:
    """One parameter per field of the query model, its schema as pydantic made it."""
    model_schema = schemas[model.__name__]
    required = set(model_schema.get("required", ()))
    parameters = []
    for name, generated in model_schema["properties"].items():
        schema = dict(generated)
        description = schema.pop("description", None)
        schema.pop("title", None)
        options = schema.pop("anyOf", None) or []
        if any(option.get("type") == "null" for option in options):  # absent, not null
            rest = [option for option in options if option.get("type") != "null"]
            schema.pop("default", None)
            schema |= rest[0] if len(rest) == 1 else {"anyOf": rest}
        elif options:
            schema["anyOf"] = options
        parameter = {"name": name, "in": "query", "required": name in required, "schema": schema}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _problem(description: str, status: int) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"#/components/schemas/{PROBLEM_REF}"}}},
    }
    if status == 401:
        answer["headers"] = {
            "WWW-Authenticate": {"required": True, "schema": {"type": "string"}},
        }
    if status == 429:
        answer["headers"] = {
            "Retry-After": {
                "required": True,
                "description": "Seconds to wait.",
                "schema": {"type": "string"},
            },
        }
    return answer


def _operation(
    rule: Rule, declared: Operation, refs: dict[Any, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    parameters = _path_parameters(rule)
    refusals = dict(STANDARD_REFUSALS)
    if rule.arguments:
        refusals[404] = "No such case among yours."
    if declared.query is not None:
        parameters += _query_parameters(declared.query, schemas)
        refusals[400] = "A query parameter is not valid."
    found: dict[str, Any] = {
        "operationId": declared.endpoint.removeprefix(f"{bp.name}."),
        "summary": declared.summary,
        "description": declared.description,
        "parameters": parameters,
    }
    if declared.method == "POST":
        parameters.append(
            {
                "name": IDEMPOTENCY_HEADER,
                "in": "header",
                "required": False,
                "description": "Makes a retry safe: the same key and body give the first answer.",
                "schema": {"type": "string", "pattern": IDEMPOTENCY_KEY_PATTERN},
            }
        )
        refusals |= BODY_REFUSALS
        model = declared.body or declared.form_schema
        if model is not None and declared.content_type is not None:
            found["requestBody"] = {
                "required": True,
                "content": {declared.content_type: {"schema": refs[(model, "validation")]}},
            }
    refusals |= declared.refusals
    responses: dict[str, Any] = {
        str(status): {
            "description": description,
            "content": {"application/json": {"schema": refs[(model, "serialization")]}},
        }
        for status, (description, model) in declared.ok.items()
    }
    responses |= {str(s): _problem(text, s) for s, text in sorted(refusals.items())}
    found["responses"] = responses
    return found


def build_document(app: Flask) -> dict[str, Any]:
    rules = [rule for rule in app.url_map.iter_rules() if rule.endpoint in OPERATIONS]
    operations = [OPERATIONS[rule.endpoint] for rule in rules]
    refs, definitions = models_json_schema(
        _models(operations), ref_template="#/components/schemas/{model}"
    )
    schemas: dict[str, Any] = definitions.get("$defs", {})
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(rules, key=lambda rule: rule.rule):
        declared = OPERATIONS[rule.endpoint]
        paths.setdefault(_path(rule), {})[declared.method.lower()] = _operation(
            rule, declared, refs, schemas
        )
    return {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": bp.url_prefix}],
        "security": [{"apiKey": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A tenant API key.",
                }
            },
        },
    }


def document() -> dict[str, Any]:
    """The document for the running app, made once."""
    made: dict[str, Any] | None = current_app.extensions.get("portal.openapi")
    if made is None:
        made = current_app.extensions["portal.openapi"] = build_document(current_app)
    return made


@bp.get("/openapi.json")
def openapi_document() -> Response:
    return Response(json.dumps(document()), mimetype="application/json")
