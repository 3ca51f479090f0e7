"""The agency's network of lawyers, proposed to creditors for legal action."""

from __future__ import annotations

import re
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import Lawyer
from portal.services import audit

CODE = re.compile(r"^[A-Z]{2}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")


class LawyerError(ValueError):
    pass


@dataclass(frozen=True)
class LawyerDetails:
    name: str
    firm: str
    email: str
    jurisdictions: str  # "DE, AT": ISO country codes
    languages: str  # "de, en"
    fee_terms: str


def _codes(text: str, pattern: re.Pattern[str], what: str, upper: bool) -> list[str]:
    codes = [part.strip() for part in text.replace(";", ",").split(",") if part.strip()]
    codes = [code.upper() if upper else code.lower() for code in codes]
    if not codes:
        raise LawyerError(f"Give at least one {what}.")
    if bad := [code for code in codes if not pattern.match(code)]:
        raise LawyerError(f"Not a two-letter {what}: {', '.join(bad)}.")
    return list(dict.fromkeys(codes))


def add(session: Session, details: LawyerDetails, *, actor_id: int) -> Lawyer:
    name, firm = details.name.strip(), details.firm.strip()
    if not name or not firm:
        raise LawyerError("Give the lawyer's name and firm.")
    if len(name) > 200 or len(firm) > 200 or len(details.fee_terms) > 2000:
        raise LawyerError("Names are at most 200 characters, fee terms 2000.")
    try:
        email = validate_email(details.email.strip(), check_deliverability=False).normalized
    except EmailNotValidError as error:
        raise LawyerError(f"The e-mail address is not valid: {error}") from None
    lawyer = Lawyer(
        name=name,
        firm=firm,
        email=email,
        jurisdictions=_codes(details.jurisdictions, CODE, "country code", upper=True),
        languages=_codes(details.languages, LANGUAGE, "language code", upper=False),
        fee_terms=details.fee_terms.strip(),
    )
    session.add(lawyer)
    session.flush()
    audit.record(session, "lawyer.added", actor_id=actor_id, tenant_id=None, subject=lawyer)
    return lawyer


def set_active(session: Session, lawyer: Lawyer, active: bool, *, actor_id: int) -> None:
    lawyer.active = active
    action = "lawyer.reactivated" if active else "lawyer.deactivated"
    audit.record(session, action, actor_id=actor_id, tenant_id=None, subject=lawyer)
    session.flush()


def all_lawyers(session: Session) -> list[Lawyer]:
    return list(session.scalars(select(Lawyer).order_by(Lawyer.active.desc(), Lawyer.name)))
