"""The debtor's payment link: an unguessable token per case.

The token is an HMAC of the case's agency reference and a random nonce under a key
derived from the app's secret: 256 bits nobody can guess, that the portal can show
again (on the case page, in the API, in every letter) without storing it. Only its
SHA-256 is stored, to find the case when a debtor opens the link. A new nonce revokes
the old link; each link expires after the tenant's ``payment_link_valid_days``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Case

_key: bytes | None = None


def set_secret(app_secret: str) -> None:
    """Derive the link key from the app's secret (called once when the app is built)."""
    global _key  # noqa: PLW0603 - one key for the process, like the secret it comes from
    _key = hmac.new(app_secret.encode(), b"payment-links", hashlib.sha256).digest()


def _derive(agency_reference: str, nonce: str) -> str:
    if _key is None:
        raise RuntimeError("payment links need set_secret() first")
    digest = hmac.new(_key, f"{agency_reference}:{nonce}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link(agency_reference: str, valid_days: int, now: datetime) -> dict[str, object]:
    """The columns of a fresh link for a case (for inserts and for re-issuing)."""
    nonce = secrets.token_hex(16)
    return {
        "payment_link_nonce": nonce,
        "payment_link_hash": _hash(_derive(agency_reference, nonce)),
        "payment_link_expires_at": now + timedelta(days=valid_days),
    }


def token_for(case: Case) -> str | None:
    if case.payment_link_nonce is None:
        return None
    return _derive(case.agency_reference, case.payment_link_nonce)


def reissue(case: Case, now: datetime) -> str:
    """Revoke the current link and make a new one; returns the new token."""
    columns = new_link(case.agency_reference, case.tenant.payment_link_valid_days, now)
    for column, value in columns.items():
        setattr(case, column, value)
    return _derive(case.agency_reference, str(columns["payment_link_nonce"]))


def revoke(case: Case) -> None:
    case.payment_link_nonce = case.payment_link_hash = case.payment_link_expires_at = None


def find_case(session: Session, token: str, now: datetime) -> Case | None:
    """The case a link opens, if the link is current. Call inside ``unscoped``: the debtor
    has no tenant until the link says which."""
    if not 20 <= len(token) <= 100:
        return None
    case = session.scalar(select(Case).where(Case.payment_link_hash == _hash(token)))
    if case is None or case.payment_link_expires_at is None or case.payment_link_expires_at < now:
        return None
    return case
