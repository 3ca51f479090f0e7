"""The JSON API: placing, listing, reading and withdrawing cases, documents, and every refusal.

Every response is checked against the OpenAPI document by ``ApiClient``.
"""

from __future__ import annotations

import dataclasses
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from portal.api import openapi
from portal.api.operations import JSON_LIMIT, OPERATIONS
from portal.models import (
    Activity,
    ActivityKind,
    ApiKey,
    Case,
    Document,
    IdempotentResponse,
    Role,
    Stage,
    Tenant,
    TenantStatus,
)
from portal.services import idempotency, placement
from portal.services.timeline import log_activity
from tenants.scoping import TenantScope, set_scope, unscoped
from tests import document_samples as samples
from tests.api_support import ApiClient, new_key, placement_body
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user


@pytest.fixture
def world(session: Session) -> dict:
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        other = make_tenant(session, "other")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        world = {
            "tenant": tenant,
            "other": other,
            "case": case,
            "case_id": case.id,
            "secret": new_key(session, tenant),
            "other_secret": new_key(session, other),
            "admin": make_user(session, Role.CREDITOR_ADMIN, tenant),
        }
        session.commit()
    return world


@pytest.fixture
def api(app: Flask, client: FlaskClient, world: dict) -> ApiClient:
    return ApiClient(app, client, world["secret"])


def count(session: Session, model, **where) -> int:
    with unscoped(session):
        statement = select(func.count()).select_from(model).filter_by(**where)
        return session.scalar(statement)


def load(session: Session, model, object_id):
    session.expire_all()
    set_scope(session, TenantScope.every_tenant())
    return session.get(model, object_id)


def arrange(session: Session, model, object_id: int, **changes) -> None:
    """Set columns directly (the state a test starts from), committed."""
    with unscoped(session):
        found = session.get(model, object_id)
        for name, value in changes.items():
            setattr(found, name, value)
        session.commit()


def field_errors(response) -> dict[str, str]:
    return {error["field"]: error["message"] for error in response.get_json()["errors"]}


# --- placing -------------------------------------------------------------------------------


def test_place_a_case(api: ApiClient, session: Session, world: dict) -> None:
    response = api.post("/cases", placement_body("ERP-1"))
    assert response.status_code == 201, response.get_data(as_text=True)
    case = response.get_json()
    assert case["creditor_reference"] == "ERP-1"
    assert case["stage"] == "placed"
    assert case["currency"] == "EUR"
    assert case["balance"]["principal"] == {"amount": "1334.56", "currency": "EUR"}
    assert case["outstanding"] == {"amount": "1334.56", "currency": "EUR"}
    assert [invoice["amount"]["amount"] for invoice in case["invoices"]] == ["1234.56", "100.00"]
    assert case["invoices"][0]["due_date"] == "2026-02-10"
    assert case["timeline"][0]["kind"] == "placement"
    assert case["payment_url"].startswith("http://localhost/pay/")
    assert case["agency_reference"]
    stored = load(session, Case, case["id"])
    assert stored.tenant_id == world["tenant"].id
    assert stored.contract_interest_bp == 950
    assert stored.warning_signs[0] == "not_returning_calls"
    assert [contact.name for contact in stored.debtor.contacts] == ["Erika Muster"]
    # The payment link opens the debtor's page.
    assert api.client.get(case["payment_url"].removeprefix("http://localhost")).status_code == 200


def test_a_currency_of_its_own(api: ApiClient) -> None:
    body = placement_body("JPY-1", currency="JPY")
    body["invoices"][0]["amount"] = "125000"
    body["invoices"][1]["amount"] = "5000"
    case = api.post("/cases", body).get_json()
    assert case["balance"]["principal"] == {"amount": "130000", "currency": "JPY"}


def test_placement_problems_name_their_fields(api: ApiClient, session: Session) -> None:
    body = placement_body("ERP-2")
    body["invoices"][1]["due_date"] = (datetime.now(UTC).date() + timedelta(days=9)).isoformat()
    body["invoices"][1]["number"] = body["invoices"][0]["number"]
    body["debtor"]["email"] = "not-an-address"
    body["debtor"]["contacts"] = [{"name": "  "}]
    body["payment_term_days"] = 400
    body["currency"] = "EURO"
    response = api.post("/cases", body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    problem = response.get_json()
    assert problem["type"] == "/api/v1/problems/placement-refused"
    assert problem["status"] == 422
    errors = field_errors(response)
    assert errors["/invoices/1/due_date"] == "Not yet due: the due date is in the future."
    assert errors["/invoices/1/number"] == "The same invoice number appears twice."
    assert errors["/debtor/email"] == "Not a valid e-mail address."
    assert errors["/debtor/contacts/0/name"] == "Required."
    assert errors["/payment_term_days"] == "Between 0 and 365 days."
    assert errors["/currency"] == "Not an ISO 4217 currency code."
    assert count(session, Case) == 1  # the world's case only


def test_amounts_and_rates_that_do_not_read(api: ApiClient, session: Session) -> None:
    body = placement_body("ERP-3", contract_interest="9.555")
    body["invoices"][0]["amount"] = "12.345"
    body["invoices"][1]["amount"] = "twelve"
    errors = field_errors(api.post("/cases", body))
    assert errors["/invoices/0/amount"] == "EUR amounts have at most 2 decimals"
    assert "is not an amount" in errors["/invoices/1/amount"]
    assert errors["/contract_interest"] == "A percentage with at most two decimals."
    body = placement_body("ERP-3", contract_interest="1e999999999999")
    assert field_errors(api.post("/cases", body)) == {"/contract_interest": "Between 0 and 100 %."}
    assert count(session, Case) == 1


def test_an_account_placed_twice_is_refused(api: ApiClient, session: Session) -> None:
    assert api.post("/cases", placement_body("ERP-4")).status_code == 201
    response = api.post("/cases", placement_body("ERP-4"))
    assert response.status_code == 422
    assert field_errors(response)["/creditor_reference"].startswith("Already placed as case")
    assert count(session, Case, creditor_reference="ERP-4") == 1


def test_a_placement_racing_another_is_409(api: ApiClient, session: Session, monkeypatch) -> None:
    """Two requests place the same reference at once: both pass the check, the database's
    unique constraint stops the second."""
    assert api.post("/cases", placement_body("RACE-2")).status_code == 201
    monkeypatch.setattr(placement, "existing_references", lambda *_args: {})
    monkeypatch.setattr(placement, "existing_debtor_invoices", lambda *_args: {})
    response = api.post("/cases", placement_body("RACE-2"))
    assert response.status_code == 409
    assert count(session, Case, creditor_reference="RACE-2") == 1


def test_a_body_of_the_wrong_shape(api: ApiClient, session: Session) -> None:
    body = placement_body("ERP-5", reminders_sent="2", colour="blue")
    del body["debtor"]["name"]
    body["invoices"][0]["issue_date"] = "10.01.2026"
    body["debtor"]["name\x00"] = "x"
    response = api.post("/cases", body)
    assert response.status_code == 422
    problem = response.get_json()
    assert problem["type"] == "/api/v1/problems/validation"
    errors = field_errors(response)
    assert set(errors) >= {
        "/reminders_sent",
        "/colour",
        "/debtor/name",
        "/invoices/0/issue_date",
    }
    assert errors["/debtor/name"] == "Field required"
    not_an_object = api.post("/cases", ["a", "list"])
    assert not_an_object.status_code == 422
    assert field_errors(not_an_object) == {"": "Input should be an object"}
    assert count(session, Case) == 1


def test_text_with_control_characters_is_refused(api: ApiClient, session: Session) -> None:
    body = placement_body("ERP-\x00")
    assert "/creditor_reference" in field_errors(api.post("/cases", body))
    assert count(session, Case) == 1


def test_malformed_json_is_400(api: ApiClient) -> None:
    response = api.post("/cases", data='{"creditor_reference": ', content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["detail"] == "The body is not valid JSON."
    assert (
        api.post("/cases", data=b'{"a": "\xff"}', content_type="application/json").status_code
        == 400
    )


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "multipart/form-data"]
)
def test_a_body_that_is_not_json_is_415(api: ApiClient, session: Session, content_type) -> None:
    payload = json.dumps(placement_body("ERP-6"))
    response = api.post("/cases", data=payload, content_type=content_type)
    assert response.status_code == 415
    assert response.content_type == "application/problem+json"
    assert api.post("/cases", data=payload, content_type="").status_code == 415
    assert count(session, Case) == 1


def test_a_body_over_the_limit_is_413(api: ApiClient, session: Session) -> None:
    body = placement_body("ERP-7")
    body["debtor"]["address_line2"] = "x" * JSON_LIMIT
    response = api.post("/cases", body)
    assert response.status_code == 413
    assert response.get_json()["status"] == 413
    assert count(session, Case) == 1


def test_placement_through_the_api_is_not_a_person(api: ApiClient, session: Session) -> None:
    case_id = api.post("/cases", placement_body("ERP-8")).get_json()["id"]
    with unscoped(session):
        placement = session.scalars(select(Activity).where(Activity.case_id == case_id)).one()
    assert placement.actor_id is None


# --- idempotency ---------------------------------------------------------------------------


def test_a_repeated_post_gets_the_first_answer(api: ApiClient, session: Session) -> None:
    headers = {"Idempotency-Key": "order-4711"}
    first = api.post("/cases", placement_body("IDEM-1"), headers=headers)
    again = api.post("/cases", placement_body("IDEM-1"), headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert count(session, Case, creditor_reference="IDEM-1") == 1
    assert count(session, IdempotentResponse) == 1


def test_the_same_key_with_another_body_is_refused(api: ApiClient, session: Session) -> None:
    headers = {"Idempotency-Key": "order-4712"}
    assert api.post("/cases", placement_body("IDEM-2"), headers=headers).status_code == 201
    response = api.post("/cases", placement_body("IDEM-3"), headers=headers)
    assert response.status_code == 422
    assert response.get_json()["type"] == "/api/v1/problems/idempotency-key-reused"
    assert "Idempotency-Key" in field_errors(response)
    assert count(session, Case, creditor_reference="IDEM-3") == 0
    # Another path is another request too.
    case_id = api.post("/cases", placement_body("IDEM-4")).get_json()["id"]
    moved = api.post(f"/cases/{case_id}/withdraw", {"reason": "x"}, headers=headers)
    assert moved.status_code == 422


def test_a_refusal_is_replayed_too(api: ApiClient, session: Session) -> None:
    headers = {"Idempotency-Key": "bad-one"}
    body = placement_body("IDEM-5", currency="EURO")
    first = api.post("/cases", body, headers=headers)
    again = api.post("/cases", body, headers=headers)
    assert first.status_code == again.status_code == 422
    assert again.get_json() == first.get_json()
    assert again.content_type == "application/problem+json"
    assert again.headers["Idempotent-Replayed"] == "true"


def test_keys_are_per_api_key(api: ApiClient, session: Session, world: dict) -> None:
    """Another tenant's key may use the same Idempotency-Key for its own request."""
    headers = {"Idempotency-Key": "shared"}
    assert api.post("/cases", placement_body("IDEM-6"), headers=headers).status_code == 201
    other = api.with_key(world["other_secret"])
    response = other.post("/cases", placement_body("IDEM-6"), headers=headers)
    assert response.status_code == 201
    assert "Idempotent-Replayed" not in response.headers


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "with space", "schlüssel"])
def test_an_unusable_idempotency_key_is_400(api: ApiClient, session: Session, key: str) -> None:
    response = api.post("/cases", placement_body("IDEM-7"), headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "Idempotency-Key" in field_errors(response)
    assert count(session, Case, creditor_reference="IDEM-7") == 0


def test_a_key_claimed_by_a_concurrent_request(
    api: ApiClient, session: Session, world: dict, monkeypatch
) -> None:
    """The look-up misses a key another request commits a moment later: the unique
    constraint stops the second claim, and the first request's answer is replayed."""
    headers = {"Idempotency-Key": "race"}
    first = api.post("/cases", placement_body("RACE-1"), headers=headers)
    real_find = idempotency.find
    misses = iter([None])
    monkeypatch.setattr(idempotency, "find", lambda *args: next(misses, None) or real_find(*args))
    again = api.post("/cases", placement_body("RACE-1"), headers=headers)
    assert again.status_code == 201
    assert again.get_json() == first.get_json()
    assert count(session, Case, creditor_reference="RACE-1") == 1


def test_withdraw_and_documents_are_idempotent(
    api: ApiClient, session: Session, world: dict
) -> None:
    case_id = world["case_id"]
    headers = {"Idempotency-Key": "withdraw-1"}
    first = api.post(f"/cases/{case_id}/withdraw", {"reason": "Paid us"}, headers=headers)
    again = api.post(f"/cases/{case_id}/withdraw", {"reason": "Paid us"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.get_json() == first.get_json()
    assert count(session, Activity, case_id=case_id, kind=ActivityKind.STAGE_CHANGE) == 1

    def upload(content: bytes):
        """The same bytes each time, as a client retrying a request sends them."""
        fields = {"kind": "invoice", "file": FileStorage(io.BytesIO(content), "invoice.pdf")}
        boundary, body = encode_multipart(fields, boundary="retry-boundary")
        return api.post(
            f"/cases/{case_id}/documents",
            data=body,
            content_type=f"multipart/form-data; boundary={boundary}",
            headers={"Idempotency-Key": "doc-1"},
        )

    first_upload = upload(samples.pdf())
    assert first_upload.status_code == 201, first_upload.get_data(as_text=True)
    replay = upload(samples.pdf())
    assert replay.status_code == 201
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert count(session, Document, case_id=case_id) == 1
    assert upload(samples.pdf(padding=10)).status_code == 422


# --- listing -------------------------------------------------------------------------------


def _cases_changed_at(session: Session, tenant, moments: list[datetime]) -> list[int]:
    ids = []
    with unscoped(session):
        for moment in moments:
            case = make_case(session, tenant)
            session.execute(  # arranged: the time of the last change
                Case.__table__.update().where(Case.id == case.id).values(updated_at=moment)
            )
            ids.append(case.id)
        session.commit()
    return ids


def test_the_list_pages_with_a_cursor(api: ApiClient, session: Session, world: dict) -> None:
    start = datetime(2026, 3, 1, 9, tzinfo=UTC)
    moments = [start + timedelta(minutes=m) for m in (5, 1, 3, 3, 3, 2)]
    ids = _cases_changed_at(session, world["tenant"], moments)
    with unscoped(session):
        make_case(session, world["other"], debtor_name="Not Yours AG")
        session.commit()
    expected = [case_id for _moment, case_id in sorted(zip(moments, ids, strict=True))]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, "updated_since": start.isoformat()}
        if cursor:
            query["cursor"] = cursor
        page = api.get("/cases", query_string=query).get_json()
        seen += [case["id"] for case in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [*expected, world["case_id"]]  # the world's case changed last (today)
    assert pages == 4
    listed = api.get("/cases").get_json()["data"]
    assert "Not Yours AG" not in {case["debtor_name"] for case in listed}
    assert len(listed) == 7


def test_the_list_filters(api: ApiClient, session: Session, world: dict) -> None:
    with unscoped(session):
        closed = make_case(session, world["tenant"])
        closed.stage = Stage.CLOSED
        session.commit()
    by_stage = api.get("/cases", query_string={"stage": "closed"}).get_json()["data"]
    assert [case["id"] for case in by_stage] == [closed.id]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    assert api.get("/cases", query_string={"updated_since": later}).get_json()["data"] == []
    case = api.get("/cases").get_json()["data"][0]
    assert case["outstanding"] == {"amount": "1000.00", "currency": "EUR"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"stage": "legal"}, "stage"),
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"updated_since": "2026-03-01T09:00:00"}, "updated_since"),
        ({"updated_since": "yesterday"}, "updated_since"),
        ({"updated_since": "0001-01-01T00:00:00+05:00"}, "updated_since"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "WyJ4IiwgMV0"}, "cursor"),
        ({"updatedSince": "2026-03-01T09:00:00Z"}, "updatedSince"),
    ],
)
def test_bad_list_parameters_are_400(api: ApiClient, query: dict, field: str) -> None:
    response = api.get("/cases", query_string=query)
    assert response.status_code == 400
    assert field in field_errors(response)


# --- reading one ---------------------------------------------------------------------------


def test_read_a_case(api: ApiClient, session: Session, world: dict) -> None:
    case = world["case"]
    with unscoped(session):
        log_activity(session, case, ActivityKind.NOTE, "Internal note", visible_to_creditor=False)
        log_activity(session, case, ActivityKind.CALL, "Called the debtor", outcome="No answer")
        session.commit()
    response = api.get(f"/cases/{case.id}")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    found = response.get_json()
    assert found["id"] == case.id
    assert found["agency_reference"] == case.agency_reference
    assert found["debtor"]["name"] == "Keller Bau GmbH"
    assert found["balance"]["outstanding"] == {"amount": "1000.00", "currency": "EUR"}
    summaries = [entry["summary"] for entry in found["timeline"]]
    assert "Called the debtor" in summaries
    assert "Internal note" not in summaries
    assert found["payment_url"].startswith("http://localhost/pay/")
    assert datetime.fromisoformat(found["placed_at"]).tzinfo is not None


def test_an_expired_payment_link_is_not_given(api: ApiClient, session: Session, world) -> None:
    expired = datetime.now(UTC) - timedelta(days=1)
    arrange(session, Case, world["case_id"], payment_link_expires_at=expired)
    found = api.get(f"/cases/{world['case_id']}").get_json()
    assert found["payment_url"] is None
    assert found["payment_url_expires_at"] is None


def test_an_unknown_case_is_404(api: ApiClient) -> None:
    for path in ("/cases/999999", "/cases/2147483647"):
        response = api.get(path)
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"


def test_urls_that_match_no_route_answer_problems(api: ApiClient) -> None:
    for path in ("/cases/0", "/cases/99999999999", "/nothing-here"):
        response = api.client.get(f"/api/v1{path}", headers={"Authorization": "Bearer x"})
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
    response = api.client.delete("/api/v1/cases")
    assert response.status_code == 405
    assert response.content_type == "application/problem+json"
    assert set(response.headers["Allow"].split(", ")) >= {"GET", "POST"}


# --- withdrawing ---------------------------------------------------------------------------


def test_withdraw_closes_a_case(api: ApiClient, session: Session, world: dict) -> None:
    response = api.post(f"/cases/{world['case_id']}/withdraw", {"reason": "Paid us directly"})
    assert response.status_code == 200
    found = response.get_json()
    assert (found["stage"], found["closure"]) == ("closed", "withdrawn")
    assert found["timeline"][0]["kind"] == "stage_change"
    stored = load(session, Case, world["case_id"])
    assert stored.withdrawal_reason == "Paid us directly"
    again = api.post(f"/cases/{world['case_id']}/withdraw", {"reason": "Again"})
    assert again.status_code == 409
    assert again.get_json()["detail"] == "This case is already closed."


def test_withdraw_in_legal_is_a_request(api: ApiClient, session: Session, world: dict) -> None:
    arrange(session, Case, world["case_id"], stage=Stage.LITIGATION)  # legal: the agency's
    response = api.post(f"/cases/{world['case_id']}/withdraw", {"reason": "Settled"})
    assert response.status_code == 202
    found = response.get_json()
    assert found["stage"] == "legal.litigation"
    assert found["withdrawal_requested_at"] is not None
    again = api.post(f"/cases/{world['case_id']}/withdraw", {"reason": "Settled"})
    assert again.status_code == 409


@pytest.mark.parametrize("body", [{"reason": ""}, {"reason": "   "}, {}, {"reason": 5}])
def test_withdraw_needs_a_reason(api: ApiClient, session: Session, world: dict, body) -> None:
    response = api.post(f"/cases/{world['case_id']}/withdraw", body)
    assert response.status_code == 422
    assert "/reason" in field_errors(response)
    assert load(session, Case, world["case_id"]).stage is Stage.PLACED


def test_withdraw_takes_json_only(api: ApiClient, world: dict) -> None:
    response = api.post(f"/cases/{world['case_id']}/withdraw", data={"reason": "Paid"})
    assert response.status_code == 415


# --- documents -----------------------------------------------------------------------------


def _upload(api: ApiClient, case_id: int, content: bytes | None, **fields):
    filename = fields.pop("filename", "invoice.pdf")
    data: dict = {"kind": "invoice", **fields}
    if content is not None:
        data["file"] = (io.BytesIO(content), filename)
    return api.post(f"/cases/{case_id}/documents", data=data, content_type="multipart/form-data")


def test_upload_a_document(app: Flask, api: ApiClient, session: Session, world: dict) -> None:
    case_id = world["case_id"]
    response = _upload(api, case_id, samples.pdf(), shareable_with_debtor="true")
    assert response.status_code == 201
    document = response.get_json()
    assert document["content_type"] == "application/pdf"
    assert document["shareable_with_debtor"] is True
    stored = load(session, Document, document["id"])
    assert stored.case_id == case_id
    assert stored.uploaded_by_id is None
    with app.extensions["portal.storage"].open(stored.storage_key) as stream:
        assert stream.read() == samples.pdf()
    listed = api.get(f"/cases/{case_id}").get_json()["documents"]
    assert [item["id"] for item in listed] == [document["id"]]


def test_a_refused_document_stores_nothing(api: ApiClient, session: Session, world) -> None:
    case_id = world["case_id"]
    exe = _upload(api, case_id, samples.windows_exe(), filename="invoice.pdf")
    assert exe.status_code == 422
    assert exe.get_json()["type"] == "/api/v1/problems/document-refused"
    assert "a Windows program" in field_errors(exe)["/file"]
    empty = _upload(api, case_id, b"")
    assert empty.status_code == 422
    missing = _upload(api, case_id, None)
    assert field_errors(missing) == {"/file": "Choose a file to upload."}
    bad_kind = _upload(api, case_id, samples.pdf(), kind="selfie")
    assert bad_kind.status_code == 422
    assert "/kind" in field_errors(bad_kind)
    assert count(session, Document) == 0


def test_a_document_over_the_limit_is_413(
    app: Flask, api: ApiClient, session: Session, world: dict, monkeypatch
) -> None:
    settings = app.extensions["portal.settings"]
    monkeypatch.setitem(
        app.extensions, "portal.settings", dataclasses.replace(settings, max_document_bytes=2000)
    )
    response = _upload(api, world["case_id"], samples.pdf(padding=3000))
    assert response.status_code == 413
    assert "limit" in field_errors(response)["/file"]
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)  # cut off before any view
    assert _upload(api, world["case_id"], samples.pdf(padding=3000)).status_code == 413
    assert count(session, Document) == 0


def test_documents_take_multipart_only(api: ApiClient, world: dict) -> None:
    response = api.post(f"/cases/{world['case_id']}/documents", {"kind": "invoice"})
    assert response.status_code == 415


# --- keys, limits, the document --------------------------------------------------------------


def test_no_key_is_401_with_a_challenge(api: ApiClient, client: FlaskClient, world: dict) -> None:
    anonymous = api.with_key(None)
    for response in (anonymous.get("/cases"), anonymous.post("/cases", placement_body())):
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="api"'
        assert response.content_type == "application/problem+json"
    wrong = api.with_key("not-a-key").get(f"/cases/{world['case_id']}")
    assert wrong.status_code == 401
    assert wrong.headers["WWW-Authenticate"] == 'Bearer realm="api", error="invalid_token"'
    basic = anonymous.get("/cases", headers={"Authorization": f"Basic {world['secret']}"})
    assert basic.status_code == 401


def test_a_portal_session_is_no_key(api: ApiClient, client: FlaskClient, world: dict) -> None:
    sign_in(client, world["admin"])
    assert api.with_key(None).get("/cases").status_code == 401


def test_revoked_keys_and_suspended_tenants_are_401(
    api: ApiClient, session: Session, world: dict
) -> None:
    assert api.get("/cases").status_code == 200
    arrange(session, Tenant, world["tenant"].id, status=TenantStatus.SUSPENDED)
    assert api.get("/cases").status_code == 401
    arrange(session, Tenant, world["tenant"].id, status=TenantStatus.ACTIVE)
    assert api.get("/cases").status_code == 200
    with unscoped(session):
        for key in session.scalars(select(ApiKey).where(ApiKey.tenant_id == world["tenant"].id)):
            key.revoked_at = datetime.now(UTC)
        session.commit()
    assert api.get("/cases").status_code == 401


def test_the_last_use_is_kept(api: ApiClient, session: Session, world: dict) -> None:
    with unscoped(session):
        key = session.scalars(select(ApiKey).where(ApiKey.tenant_id == world["tenant"].id)).one()
        assert key.last_used_at is None
    api.get("/cases")
    assert load(session, ApiKey, key.id).last_used_at is not None


def test_requests_are_limited_per_key(
    app: Flask, api: ApiClient, session: Session, world: dict, monkeypatch
) -> None:
    monkeypatch.setitem(app.config, "API_RATE_LIMIT", "3 per minute")
    for _ in range(3):
        assert api.get("/cases").status_code == 200
    limited = api.post("/cases", placement_body("LIMITED"))
    assert limited.status_code == 429
    assert limited.content_type == "application/problem+json"
    assert int(limited.headers["Retry-After"]) > 0
    assert limited.get_json()["status"] == 429
    assert count(session, Case, creditor_reference="LIMITED") == 0
    assert api.with_key(world["other_secret"]).get("/cases").status_code == 200


def test_csrf_does_not_apply_to_the_api(app: Flask, api: ApiClient) -> None:
    assert app.config.get("WTF_CSRF_ENABLED", True)
    assert api.post("/cases", placement_body("NO-CSRF")).status_code == 201


def test_the_openapi_document(app: Flask, client: FlaskClient) -> None:
    response = client.get("/api/v1/openapi.json")  # public: it describes, it holds no data
    assert response.status_code == 200
    document = response.get_json()
    validate(document)
    assert document["openapi"] == "3.1.0"
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    served = {
        (openapi._path(rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint in OPERATIONS
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == served
    assert len(served) == 5
    routes = {r.endpoint for r in app.url_map.iter_rules() if r.endpoint.startswith("api.")}
    assert routes - set(OPERATIONS) == {"api.openapi_document"}
    case = document["components"]["schemas"]["CaseOut"]
    assert case["properties"]["balance"] == {"$ref": "#/components/schemas/BalanceOut"}
    assert "401" in document["paths"]["/cases"]["get"]["responses"]
