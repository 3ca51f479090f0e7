"""The agency's contingency commission under each tenant's terms.

A tenant has a standard rate per stage family (amicable, legal) and may override it
by claim size and age with a grid of bands. A row covers claims from
``min_amount_minor`` up to, not including, ``max_amount_minor`` (no upper bound when it
is missing or None) whose oldest invoice is at least ``min_age_days`` past due; the row
that applies is the most specific one the claim falls in (largest ``min_amount_minor``,
then largest ``min_age_days``). Rates are in basis points (1 500 = 15 %); commission is
rounded half up to the minor unit.

A tenant may also agree a minimum fee per case: the first money collected on a case pays
the agency at least that fee (never more than was collected), the rate alone after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from portal.services.money import format_money
from tenants.models import Tenant

FAMILIES = ("amicable", "legal")


@dataclass(frozen=True)
class CommissionRate:
    family: str
    rate_bp: int
    band: str  # which row of the terms applies, in words

    @property
    def percent(self) -> str:
        return percent(self.rate_bp)


def percent(rate_bp: int) -> str:
    """Basis points as people read them: 1250 is "12.50 %"."""
    return f"{rate_bp / 100:.2f} %"


def rate_for(tenant: Tenant, family: str, amount_minor: int, age_days: int) -> CommissionRate:
    if family not in FAMILIES:
        raise ValueError(f"unknown stage family {family!r}")
    matching = [
        row
        for row in tenant.commission_grid
        if row["family"] == family and _covers(row, amount_minor, age_days)
    ]
    if not matching:
        standard = (
            tenant.commission_legal_bp if family == "legal" else tenant.commission_amicable_bp
        )
        return CommissionRate(family, standard, "standard rate")
    row = max(matching, key=lambda r: (r.get("min_amount_minor", 0), r.get("min_age_days", 0)))
    return CommissionRate(family, int(row["rate_bp"]), band_words(row, tenant.currency))


def _covers(row: dict[str, Any], amount_minor: int, age_days: int) -> bool:
    lower, upper = int(row.get("min_amount_minor", 0)), row.get("max_amount_minor")
    return (
        lower <= amount_minor
        and (upper is None or amount_minor < int(upper))
        and age_days >= int(row.get("min_age_days", 0))
    )


def band_words(row: dict[str, Any], currency: str) -> str:
    """Which claims a row of the grid covers, in words: "claims from €10,000.00"."""
    lower, upper = row.get("min_amount_minor", 0), row.get("max_amount_minor")
    parts = []
    if lower and upper is not None:
        parts.append(
            f"claims from {format_money(lower, currency)} to under {format_money(upper, currency)}"
        )
    elif lower:
        parts.append(f"claims from {format_money(lower, currency)}")
    elif upper is not None:
        parts.append(f"claims under {format_money(upper, currency)}")
    if row.get("min_age_days"):
        parts.append(f"oldest invoice at least {row['min_age_days']} days past due")
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
