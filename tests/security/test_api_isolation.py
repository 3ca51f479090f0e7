"""Every API route that names a case, with one tenant's key and another tenant's case: 404.

The routes come from the URL map, so a new case endpoint is covered without anyone
remembering to add it. Each request is one that works on the key's own case (the
control below), so the 404 is the tenancy's doing, not a refusal of the request.
"""

from __future__ import annotations

import io
import json

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from portal.models import Activity, Case, Document, IdempotentResponse
from tenants.scoping import unscoped
from tests import document_samples as samples
from tests.api_support import ApiClient, new_key
from tests.factories import make_case, make_tenant

SECRET_DEBTOR = "Zeta Confidential Holdings"
SECRET_REFERENCE = "ZETA-SECRET-4711"


def case_routes(app: Flask) -> list[tuple[Rule, str]]:
    return [
        (rule, method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.") and "case_id" in rule.arguments
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"})
    ]


def request_for(rule: Rule, method: str) -> dict:
    """A request this route accepts for a case the caller may see."""
    if rule.endpoint == "api.withdraw":
        return {"payload": {"reason": "Paid us directly"}}
    if rule.endpoint == "api.add_document":
        return {
            "data": {"kind": "invoice", "file": (io.BytesIO(samples.pdf()), "invoice.pdf")},
            "content_type": "multipart/form-data",
        }
    assert method == "GET", f"{method} {rule.rule}: say here what to send"
    return {}


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        ours, theirs = make_tenant(session, "ours"), make_tenant(session, "theirs")
        mine = make_case(session, ours, debtor_name="Our Own Debtor", reference="OURS-1")
        other = make_case(session, theirs, debtor_name=SECRET_DEBTOR, reference=SECRET_REFERENCE)
        world = {
            "secret": new_key(session, ours),
            "mine": mine.id,
            "theirs": other.id,
            "theirs_tenant": theirs.id,
        }
        session.commit()
    return world


def snapshot(session: Session, tenant_id: int) -> dict:
    with unscoped(session):
        counts = {
            model.__name__: session.scalar(
                select(func.count()).select_from(model).where(model.tenant_id == tenant_id)
            )
            for model in (Case, Document, Activity, IdempotentResponse)
        }
        cases = session.execute(
            select(Case.id, Case.stage, Case.closure, Case.withdrawal_requested_at)
            .where(Case.tenant_id == tenant_id)
            .order_by(Case.id)
        ).all()
    return {"counts": counts, "cases": cases}


def call(api: ApiClient, rule: Rule, method: str, case_id: int, **headers: str):
    path = rule.build({"case_id": case_id}, append_unknown=False)[1].removeprefix("/api/v1")
    return api.open(path, method, headers=headers, **_encoded(request_for(rule, method)))


def _encoded(spec: dict) -> dict:
    if "payload" in spec:
        return {"data": json.dumps(spec["payload"]), "content_type": "application/json"}
    return spec


def test_another_tenants_case_is_not_found_on_every_case_route(
    app: Flask, client: FlaskClient, session: Session, world: dict
) -> None:
    api = ApiClient(app, client, world["secret"])
    routes = case_routes(app)
    assert {rule.endpoint for rule, _method in routes} == {
        "api.get_case",
        "api.withdraw",
        "api.add_document",
    }
    before = snapshot(session, world["theirs_tenant"])
    for rule, method in routes:
        for headers in ({}, {"Idempotency-Key": f"probe-{rule.endpoint}"}):
            response = call(api, rule, method, world["theirs"], **headers)
            where = f"{method} {rule.rule} {headers}"
            assert response.status_code == 404, f"{where}: {response.status_code}"
            assert response.content_type == "application/problem+json", where
            body = response.get_data(as_text=True)
            assert SECRET_DEBTOR not in body and SECRET_REFERENCE not in body, where
    assert snapshot(session, world["theirs_tenant"]) == before


def test_the_same_requests_work_on_the_callers_own_case(
    app: Flask, client: FlaskClient, world: dict
) -> None:
    """Control: the requests above are good ones; only the case's tenant refused them."""
    api = ApiClient(app, client, world["secret"])
    for rule, method in case_routes(app):
        response = call(api, rule, method, world["mine"])
        assert response.status_code in {200, 201, 202}, f"{method} {rule.rule}"
