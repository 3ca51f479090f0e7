"""What a placement will cost and can carry, shown to the creditor before confirming.

The claim carries what the dunning run will add under the tenant's terms: statutory
interest only where the tenant charges it (a contract rate given at placement runs
either way), the fixed compensation only where the tenant charges it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from dateutil.relativedelta import relativedelta
from sqlalchemy.orm import Session

from portal.models import DebtorKind, Tenant
from portal.services import commission, interest
from portal.services.placement import PlacementRequest, days_past_due


@dataclass(frozen=True)
class PlacementQuote:
    currency: str
    principal: int
    invoices: list[interest.InvoiceInterest]
    days_past_due: int
    amicable: commission.CommissionRate
    legal: commission.CommissionRate
    minimum_fee: int
    mandate_ends_on: date

    @property
    def interest(self) -> int:
        return sum(invoice.interest for invoice in self.invoices)

    @property
    def compensation(self) -> int:
        return sum(invoice.compensation for invoice in self.invoices)

    @property
    def total_claim(self) -> int:
        return self.principal + self.interest + self.compensation

    @property
    def amicable_commission_on_principal(self) -> int:
        """Commission if the principal is collected in full at the amicable stage."""
        earned = commission.commission_on(self.principal, self.amicable.rate_bp)
        return max(earned, self.minimum_fee)


def quote(
    session: Session, tenant: Tenant, request: PlacementRequest, today: date
) -> PlacementQuote:
    currency = request.currency or tenant.currency
    rules = interest.rules_for(session, currency)
    business = request.debtor.kind is DebtorKind.BUSINESS
    invoices = [
        _under_terms(
            tenant,
            request,
            interest.invoice_interest(
                rules,
                number=invoice.number,
                principal_minor=invoice.amount_minor,
                due_date=invoice.due_date,
                until=today,
                business_debtor=business,
                contract_rate_bp=request.contract_interest_bp,
            ),
        )
        for invoice in request.invoices
        if invoice.amount_minor > 0
    ]
    age = days_past_due(request, today)
    principal = sum(invoice.principal for invoice in invoices)
    return PlacementQuote(
        currency=currency,
        principal=principal,
        invoices=invoices,
        days_past_due=age,
        amicable=commission.rate_for(tenant, "amicable", principal, age),
        legal=commission.rate_for(tenant, "legal", principal, age),
        minimum_fee=tenant.commission_minimum_fee_minor,
        mandate_ends_on=today + relativedelta(months=tenant.mandate_months),
    )


def _under_terms(
    tenant: Tenant, request: PlacementRequest, invoice: interest.InvoiceInterest
) -> interest.InvoiceInterest:
    """The invoice's interest and compensation less what the tenant does not charge."""
    no_interest = request.contract_interest_bp is None and not tenant.charge_statutory_interest
    return replace(
        invoice,
        interest=0 if no_interest else invoice.interest,
        compensation=invoice.compensation if tenant.charge_compensation else 0,
    )
