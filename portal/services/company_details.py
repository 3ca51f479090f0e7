"""The creditor's company details: who they are, who approves legal costs and settlements
on their side, and the bank account the agency pays remittances into.

Every problem is reported at once, by field, and a refused change changes nothing. The
IBAN is kept in its compact form and shown grouped in fours; the audit log keeps only
its last four characters.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass

from schwifty import BIC, IBAN
from schwifty.exceptions import (
    InvalidBBANChecksum,
    InvalidChecksumDigits,
    InvalidLength,
    SchwiftyException,
)
from sqlalchemy.orm import Session

from portal.models import Tenant
from portal.services import audit
from portal.services.users import UserError, normalise_email

# Column sizes (tenants table); the address is free text, kept to a letterhead's length.
MAX_LENGTHS = {
    "legal_name": 200,
    "legal_address": 500,
    "registration_number": 50,
    "vat_number": 50,
    "approver_name": 200,
    "approver_email": 254,
    "account_holder": 200,
    "iban": 42,  # 34 characters, with the spaces of the printed form
    "bic": 14,
}
# A VAT identification number: the country prefix, then 2 to 13 letters or digits.
VAT_NUMBER = re.compile(r"^[A-Z]{2}[0-9A-Z]{2,13}$")
VAT_SEPARATORS = re.compile(r"[\s.\-]")


class CompanyDetailsError(ValueError):
    """Some fields are refused: ``problems`` maps each field to what is wrong with it."""

    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(problems.values()))
        self.problems = problems


@dataclass(frozen=True)
class CompanyDetails:
    legal_name: str
    legal_address: str = ""
    registration_number: str = ""
    vat_number: str = ""
    approver_name: str = ""
    approver_email: str = ""
    account_holder: str = ""
    iban: str = ""
    bic: str = ""


def details_of(tenant: Tenant) -> CompanyDetails:
    """The tenant's details as a person reads them (the IBAN grouped in fours)."""
    return CompanyDetails(
        legal_name=tenant.name,
        legal_address=tenant.legal_address or "",
        registration_number=tenant.registration_number or "",
        vat_number=tenant.vat_number or "",
        approver_name=tenant.approver_name or "",
        approver_email=tenant.approver_email or "",
        account_holder=tenant.remittance_account_holder or "",
        iban=IBAN(tenant.remittance_iban).formatted if tenant.remittance_iban else "",
        bic=tenant.remittance_bic or "",
    )


def update(session: Session, tenant: Tenant, given: CompanyDetails, *, actor_id: int) -> None:
    """Store the details, or raise ``CompanyDetailsError`` and change nothing."""
    cleaned = _cleaned(given)
    before = _stored(tenant)
    changed = {name for name, value in asdict(cleaned).items() if before[name] != value}
    if not changed:
        return
    tenant.name = cleaned.legal_name
    tenant.legal_address = cleaned.legal_address or None
    tenant.registration_number = cleaned.registration_number or None
    tenant.vat_number = cleaned.vat_number or None
    tenant.approver_name = cleaned.approver_name or None
    tenant.approver_email = cleaned.approver_email or None
    tenant.remittance_account_holder = cleaned.account_holder or None
    tenant.remittance_iban = cleaned.iban or None
    tenant.remittance_bic = cleaned.bic or None
    after = asdict(cleaned)
    audit.record(
        session, "tenant.company_details_changed", actor_id=actor_id, tenant_id=tenant.id,
        subject=tenant,
        before={name: _for_audit(name, before[name]) for name in sorted(changed)},
        after={name: _for_audit(name, after[name]) for name in sorted(changed)},
    )  # fmt: skip
    session.flush()


def _stored(tenant: Tenant) -> dict[str, str]:
    """The details as stored (compact IBAN), to compare with what was given."""
    return asdict(details_of(tenant)) | {"iban": tenant.remittance_iban or ""}


def _for_audit(name: str, value: str) -> str:
    if name == "iban" and value:
        return "*" * (len(value) - 4) + value[-4:]
    return value


def _cleaned(given: CompanyDetails) -> CompanyDetails:
    values = {name: value.strip() for name, value in asdict(given).items()}
    problems = {
        name: f"At most {limit} characters."
        for name, limit in MAX_LENGTHS.items()
        if len(values[name]) > limit
    }
    if not values["legal_name"]:
        problems["legal_name"] = "Give the company's legal name."
    for name, check in CHECKS.items():
        if values[name] and name not in problems:
            try:
                values[name] = check(values[name])
            except ValueError as error:
                problems[name] = str(error)
    if values["iban"] and not values["account_holder"] and "account_holder" not in problems:
        problems["account_holder"] = "Give the name the account is held in."
    if problems:
        raise CompanyDetailsError(problems)
    return CompanyDetails(**values)


def _vat_number(value: str) -> str:
    compact = VAT_SEPARATORS.sub("", value).upper()
    if not VAT_NUMBER.match(compact):
        raise ValueError(
            "A VAT number starts with its two-letter country code, then 2 to 13 letters "
            "or digits, e.g. DE123456789."
        )
    return compact


def _email(value: str) -> str:
    try:
        return normalise_email(value)
    except UserError:
        raise ValueError("This is not a valid e-mail address.") from None


def _iban(value: str) -> str:
    try:
        return str(IBAN(value).compact)
    except (InvalidChecksumDigits, InvalidBBANChecksum):
        raise ValueError(
            "This IBAN's check digits do not match: look for a mistyped character."
        ) from None
    except InvalidLength:
        country = value.strip()[:2].upper()
        raise ValueError(f"This IBAN has the wrong length for an IBAN from {country}.") from None
    except SchwiftyException as error:
        raise ValueError(f"This is not a valid IBAN: {error}.") from None


def _bic(value: str) -> str:
    try:
        return str(BIC(value).compact)
    except SchwiftyException as error:
        raise ValueError(f"This is not a valid BIC: {error}.") from None


CHECKS = {"vat_number": _vat_number, "approver_email": _email, "iban": _iban, "bic": _bic}
