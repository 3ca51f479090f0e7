"""The debtor's payment link: an unguessable token per case.

The token is an HMAC of the case's agency reference and a random nonce under a key
derived from the app's secret: 256 bits nobody can guess, that the portal can show
again (on the case page, in the API, in every letter) without storing it. Only its
SHA-256 is stored, to find the case when a debtor opens the link. A new nonce revokes
the old link; each link expires after the tenant's ``payment_link_valid_days``.

A debtor without the link finds the case by the agency reference printed on the letter
and a detail only they should know: the postal code, or a business's registration number.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.models import Case, Debtor, DebtorKind, Stage
from portal.services import tokens

# Agency references as placement makes them (``26-ABCD-EFGH``): two digits of the year and
# eight characters of Crockford's base32, which reads O as 0 and I and L as 1.
_REFERENCE = re.compile(r"[0-9]{2}[0-9A-HJKMNP-TV-Z]{8}")
_LOOK_ALIKES = str.maketrans("OIL", "011")
_SEPARATORS = re.compile(r"[\s\-]+")

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


def new_link(agency_reference: str, valid_days: int, now: datetime) -> dict[str, object]:
    """The columns of a fresh link for a case (for inserts and for re-issuing)."""
    nonce = secrets.token_hex(16)
    return {
        "payment_link_nonce": nonce,
        "payment_link_hash": tokens.digest(_derive(agency_reference, nonce)),
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
    # The debtor's page shows whose claim it is and to whom: loaded with the case.
    opens = select(Case).options(joinedload(Case.debtor), joinedload(Case.tenant))
    case = session.scalar(opens.where(Case.payment_link_hash == tokens.digest(token)))
    if case is None or case.payment_link_expires_at is None or case.payment_link_expires_at < now:
        return None
    return case


def current_token(case: Case, now: datetime) -> str:
    """The token of the case's current link; a fresh link when it expired or never was."""
    token = token_for(case)
    expires_at = case.payment_link_expires_at
    if token is None or expires_at is None or expires_at < now:
        return reissue(case, now)
    return token


def normalise_reference(value: str) -> str:
    """``26-ABCD-EFGH`` however it was typed (case, spaces, dashes, O for 0); "" when it
    cannot be an agency reference."""
    compact = _SEPARATORS.sub("", value).upper().translate(_LOOK_ALIKES)
    if not _REFERENCE.fullmatch(compact):
        return ""
    return f"{compact[:2]}-{compact[2:6]}-{compact[6:]}"


def _normalise_secret(value: str | None) -> bytes:
    """A postal code or registration number without case, spaces or dashes."""
    return _SEPARATORS.sub("", value or "").upper().encode()


def _matches(stored: str | None, given: bytes) -> bool:
    expected = _normalise_secret(stored)
    return bool(expected) and hmac.compare_digest(expected, given)


def _debtor_knows(debtor: Debtor, given: bytes) -> bool:
    postal_code = _matches(debtor.postal_code, given)
    registration = _matches(debtor.registration_number, given)  # compared either way
    return postal_code or (registration and debtor.kind is DebtorKind.BUSINESS)


def find_by_reference(session: Session, reference: str, secret: str) -> Case | None:
    """The open case with this agency reference whose debtor has this postal code (or, a
    business, this registration number); None whatever does not match. Call inside
    ``unscoped``: the debtor has no tenant until the case is found."""
    wanted, given = normalise_reference(reference), _normalise_secret(secret)
    if not wanted or not given:
        return None
    case = session.scalar(select(Case).where(Case.agency_reference == wanted))
    if case is None or case.stage is Stage.CLOSED or not _debtor_knows(case.debtor, given):
        return None
    return case
