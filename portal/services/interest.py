"""Late-payment interest and fixed compensation per invoice, from the rate table.

Statutory interest runs from the day after the due date at the reference rate in force
for each half-year plus the margin (``LatePaymentRule``), simple interest on an
actual/365 basis, computed exactly and rounded half up once per invoice. A contract's own
rate replaces the statutory one when the creditor gave it. Fixed compensation is due
per invoice from business debtors only (the EU directive's EUR 40 covers B2B claims).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.models import LatePaymentRule


@dataclass(frozen=True)
class InvoiceInterest:
    number: str
    principal: int
    interest: int
    compensation: int
    days_late: int


def rules_for(session: Session, currency: str) -> list[LatePaymentRule]:
    statement = (
        select(LatePaymentRule)
        .where(LatePaymentRule.currency == currency)
        .order_by(LatePaymentRule.valid_from)
    )
    return list(session.scalars(statement))


def _rule_on(rules: list[LatePaymentRule], day: date) -> LatePaymentRule | None:
    in_force = [rule for rule in rules if rule.valid_from <= day]
    return in_force[-1] if in_force else None


def statutory_interest(
    rules: list[LatePaymentRule],
    principal_minor: int,
    due_date: date,
    until: date,
    contract_rate_bp: int | None = None,
) -> int:
    """Interest in minor units from the day after ``due_date`` up to ``until`` inclusive."""
    start = due_date + timedelta(days=1)
    if until < start or principal_minor <= 0:
        return 0
    total = Decimal(0)
    day = start
    while day <= until:
        rule = _rule_on(rules, day)
        next_change = min(
            (r.valid_from for r in rules if r.valid_from > day), default=until + timedelta(days=1)
        )
        period_end = min(next_change - timedelta(days=1), until)
        days = (period_end - day).days + 1
        if contract_rate_bp is not None:
            rate_bp = contract_rate_bp
        elif rule is not None:
            rate_bp = rule.reference_rate_bp + rule.margin_bp
        else:
            rate_bp = 0
        total += Decimal(principal_minor) * rate_bp * days / (10_000 * 365)
        day = period_end + timedelta(days=1)
    return int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def compensation(rules: list[LatePaymentRule], due_date: date) -> int:
    rule = _rule_on(rules, due_date) or (rules[0] if rules else None)
    return rule.compensation_minor if rule else 0


def invoice_interest(
    rules: list[LatePaymentRule],
    *,
    number: str,
    principal_minor: int,
    due_date: date,
    until: date,
    business_debtor: bool,
    contract_rate_bp: int | None = None,
) -> InvoiceInterest:
    days_late = max(0, (until - due_date).days)
    return InvoiceInterest(
        number=number,
        principal=principal_minor,
        interest=statutory_interest(rules, principal_minor, due_date, until, contract_rate_bp),
        compensation=compensation(rules, due_date) if business_debtor and days_late else 0,
        days_late=days_late,
    )
