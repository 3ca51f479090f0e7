"""The agency's contingency commission under each tenant's terms.

A tenant has a standard rate per stage family (amicable, legal) and may override it
by claim size and age with a grid: the row that applies is the most specific one the
claim reaches (largest ``min_amount_minor``, then largest ``min_age_days``). Rates are in
basis points (1 500 = 15 %); commission is rounded half up to the minor unit.

A tenant may also agree a minimum fee per case: the first money collected on a case pays
the agency at least that fee (never more than was collected), the rate alone after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tenants.models import Tenant

FAMILIES = ("amicable", "legal")


@dataclass(frozen=True)
class CommissionRate:
    family: str
    rate_bp: int
    band: str  # which row of the terms applies, in words

    @property
    def percent(self) -> str:
        return f"{self.rate_bp / 100:.2f} %"


def rate_for(tenant: Tenant, family: str, amount_minor: int, age_days: int) -> CommissionRate:
    if family not in FAMILIES:
        raise ValueError(f"unknown stage family {family!r}")
    matching = [
        row
        for row in tenant.commission_grid
        if row["family"] == family
        and amount_minor >= row.get("min_amount_minor", 0)
        and age_days >= row.get("min_age_days", 0)
    ]
    if not matching:
        standard = (
            tenant.commission_legal_bp if family == "legal" else tenant.commission_amicable_bp
        )
        return CommissionRate(family, standard, "standard rate")
    row = max(matching, key=lambda r: (r.get("min_amount_minor", 0), r.get("min_age_days", 0)))
    return CommissionRate(family, int(row["rate_bp"]), _band_words(row))


def _band_words(row: dict[str, Any]) -> str:
    parts = []
    if row.get("min_amount_minor"):
        parts.append(f"claims from {row['min_amount_minor']} minor units")
    if row.get("min_age_days"):
        parts.append(f"invoices over {row['min_age_days']} days old")
    return ", ".join(parts) or "all claims"


def commission_on(amount_minor: int, rate_bp: int) -> int:
    """Commission on a collected amount, rounded half up (half away from zero)."""
    sign = -1 if amount_minor < 0 else 1
    return sign * ((abs(amount_minor) * rate_bp + 5_000) // 10_000)


def with_minimum_fee(
    earned: int, amount_minor: int, *, minimum_fee: int, earned_before: int
) -> int:
    """The commission on a payment of ``amount_minor`` once the case's minimum fee is
    applied: ``earned`` at the rate, or what the case's commission so far
    (``earned_before``) still lacks of the minimum, whichever is more, capped at the
    payment itself."""
    shortfall = minimum_fee - earned_before
    if shortfall <= earned:
        return earned
    return min(shortfall, amount_minor)


def share_of(commission_minor: int, part_minor: int, whole_minor: int) -> int:
    """The commission that belongs to ``part_minor`` of a payment of ``whole_minor`` that
    earned ``commission_minor``, rounded half up; the whole gets all of it back."""
    if whole_minor <= 0:
        raise ValueError("a payment is more than zero")
    return (2 * commission_minor * part_minor + whole_minor) // (2 * whole_minor)
