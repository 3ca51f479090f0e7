"""A settlement that stands is confirmed to the debtor by letter, kept on the case as a PDF."""

from __future__ import annotations

import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from portal.models import Case, Role
from portal.services import settlements
from tenants.scoping import TenantScope, set_scope, unscoped
from tests.conftest import sign_in
from tests.factories import make_case, make_tenant, make_user
from tests.integration.test_letters import pdf_support, pdf_text


def test_the_creditors_approval_sends_the_settlement_confirmation(
    app: Flask, client: FlaskClient, session: Session
) -> None:
    pdf_support()
    with unscoped(session):
        tenant = make_tenant(session, "acme")
        case = make_case(session, tenant, debtor_name="Keller Bau GmbH", amounts=(100_000,))
        creditor = make_user(session, Role.CREDITOR_ADMIN, tenant)
        settlement = settlements.propose(
            session, case, amount_minor=50_000, note="Half now", actor_id=None
        )
        session.commit()
    path = f"/creditor/cases/{case.id}"
    sign_in(client, creditor)
    page = client.get(path).get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    response = client.post(
        f"{path}/settlements/{settlement.id}/decision",
        data={"csrf_token": token, "decision-comment": "Agreed", "decision": "approve"},
    )
    assert response.status_code == 302
    session.expire_all()
    set_scope(session, TenantScope.every_tenant())
    [letter] = [
        d for d in session.get(Case, case.id).documents if d.filename.startswith("settlement")
    ]
    text = pdf_text(app.extensions["portal.storage"].get(letter.storage_key))
    assert "€500.00" in text and case.agency_reference in text
