"""Schemathesis drives the API from its OpenAPI document: no 5xx, every answer as documented.

Examples are bounded (``MAX_EXAMPLES`` per operation and data-generation mode) so the run
stays a few seconds per database. Requests carry a valid key for a tenant with one case;
generated case ids mostly miss it, so both the found and the not-found paths are walked.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
from schemathesis.specs.openapi.schemas import OpenApiSchema
from sqlalchemy.orm import Session

from portal.extensions import limiter
from tenants.scoping import unscoped
from tests.api_support import new_key
from tests.factories import make_case, make_tenant

MAX_EXAMPLES = 25
OPERATIONS = [
    ("POST", "/cases"),
    ("GET", "/cases"),
    ("GET", "/cases/{case_id}"),
    ("POST", "/cases/{case_id}/withdraw"),
    ("POST", "/cases/{case_id}/documents"),
]
# Generated ids mostly miss the one case there is: each case route also runs aimed at it.
TARGETS = [(method, path, False) for method, path in OPERATIONS] + [
    (method, path, True) for method, path in OPERATIONS if "{case_id}" in path
]
STATUSES: Counter[str] = Counter()


@pytest.fixture
def api_schema(app: Flask, session: Session, monkeypatch: pytest.MonkeyPatch) -> OpenApiSchema:
    # Far more requests than a person sends: the per-key limit has its own test.
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "100000 per minute")
    limiter.reset()
    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)


@pytest.fixture
def target(session: Session) -> dict:
    """A key, and the one case of its tenant."""
    with unscoped(session):
        tenant = make_tenant(session, "fuzzed")
        case = make_case(session, tenant, debtor_name="Fuzz Target GmbH")
        target = {"secret": new_key(session, tenant), "case_id": case.id}
        session.commit()
    return target


@pytest.fixture(scope="module", autouse=True)
def _summary() -> Iterator[None]:
    yield
    if STATUSES:
        print("\nschemathesis answers:", dict(sorted(STATUSES.items())))


def test_every_operation_is_fuzzed(api_schema: OpenApiSchema) -> None:
    documented = [(op.method.upper(), op.path) for op in _operations(api_schema)]
    assert sorted(documented) == sorted(OPERATIONS)


def _operations(api_schema: OpenApiSchema) -> list:
    return [result.ok() for result in api_schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path", "own_case"), TARGETS)
def test_the_api_keeps_to_its_document(
    api_schema: OpenApiSchema,
    target: dict,
    method: str,
    path: str,
    mode: GenerationMode,
    own_case: bool,
) -> None:
    operation = api_schema[path][method]
    fixed = {"case_id": target["case_id"]} if own_case else None
    strategy = operation.as_strategy(generation_mode=mode, path_parameters=fixed)

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case: Case) -> None:
        response = case.call_and_validate(
            headers={"Authorization": f"Bearer {target['secret']}"},
            # What a placement must satisfy beyond its shape (dates not in the future,
            # no duplicates, at least one invoice ...) is the placement service's to say,
            # not the schema's: a well-shaped request may be refused with a 422. And a
            # negative case whose only flaw is its Authorization header stops being one
            # once the valid key above replaces that header, so its acceptance is no fault.
            excluded_checks=[positive_data_acceptance, negative_data_rejection]
            if mode is GenerationMode.NEGATIVE
            else [positive_data_acceptance],
        )
        where = "own case" if own_case else "any id"
        STATUSES[f"{mode.value} {method} {path} ({where}) {response.status_code}"] += 1

    run()
