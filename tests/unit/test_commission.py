"""The rate that applies by the tenant's bands of claim size and age; the minimum fee per
case and the commission a partial reversal gives back: no amount is created or lost,
whatever the payments and however they are reversed."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.commission import commission_on, rate_for, share_of, with_minimum_fee
from tenants.models import Tenant


def banded(grid: list[dict[str, Any]], currency: str = "EUR") -> Tenant:
    return Tenant(
        currency=currency, commission_amicable_bp=1500, commission_legal_bp=2500,
        commission_grid=grid,
    )  # fmt: skip


BANDS = [
    {"family": "amicable", "min_amount_minor": 0, "max_amount_minor": 500_000,
     "min_age_days": 0, "rate_bp": 1800},
    {"family": "amicable", "min_amount_minor": 500_000, "max_amount_minor": 5_000_000,
     "min_age_days": 0, "rate_bp": 1400},
    {"family": "amicable", "min_amount_minor": 5_000_000, "max_amount_minor": None,
     "min_age_days": 0, "rate_bp": 1000},
    {"family": "amicable", "min_amount_minor": 0, "max_amount_minor": 500_000,
     "min_age_days": 180, "rate_bp": 2500},
]  # fmt: skip


@pytest.mark.parametrize(
    ("amount", "age", "rate_bp"),
    [
        (499_999, 0, 1800),
        (500_000, 0, 1400),  # the upper bound belongs to the next band
        (4_999_999, 30, 1400),
        (5_000_000, 0, 1000),
        (10**12, 0, 1000),  # no upper bound
        (100_000, 180, 2500),  # the older band wins where both cover the claim
        (600_000, 365, 1400),  # the older band stops at its upper bound
    ],
)
def test_the_band_the_claim_falls_in_applies(amount: int, age: int, rate_bp: int) -> None:
    assert rate_for(banded(BANDS), "amicable", amount, age).rate_bp == rate_bp
    assert rate_for(banded(BANDS), "legal", amount, age).rate_bp == 2500  # no legal bands


def test_a_claim_above_a_closed_band_gets_the_standard_rate() -> None:
    tenant = banded([BANDS[0]])
    rate = rate_for(tenant, "amicable", 500_000, 0)
    assert (rate.rate_bp, rate.band) == (1500, "standard rate")


def test_rows_without_an_upper_bound_stay_open_ended() -> None:
    """Grids saved before bands had upper bounds."""
    tenant = banded([{"family": "amicable", "min_amount_minor": 500_000, "rate_bp": 1000}])
    assert rate_for(tenant, "amicable", 10**12, 0).rate_bp == 1000
    assert rate_for(tenant, "amicable", 499_999, 0).rate_bp == 1500


@pytest.mark.parametrize(
    ("row", "currency", "words"),
    [
        (BANDS[1], "EUR", "claims from €5,000.00 to under €50,000.00"),
        (BANDS[2], "EUR", "claims from €50,000.00"),
        (BANDS[3], "EUR", "claims under €5,000.00, oldest invoice at least 180 days past due"),
        (BANDS[2], "JPY", "claims from ¥5,000,000"),
    ],
)
def test_a_band_is_named_with_its_amounts_in_the_tenants_currency(
    row: dict[str, Any], currency: str, words: str
) -> None:
    rate = rate_for(
        banded([row], currency), "amicable", row["min_amount_minor"], row["min_age_days"]
    )
    assert rate.band == words


payments = st.lists(st.integers(1, 10**9), min_size=1, max_size=12)
rates = st.integers(0, 10_000)
minimum_fees = st.integers(0, 10**7)


def commissions(amounts: list[int], rate_bp: int, minimum_fee: int) -> list[int]:
    """Each payment's commission in turn, as ``payments.record_payment`` charges them."""
    charged: list[int] = []
    for amount in amounts:
        earned = commission_on(amount, rate_bp)
        charged.append(
            with_minimum_fee(earned, amount, minimum_fee=minimum_fee, earned_before=sum(charged))
        )
    return charged


@given(amounts=payments, rate_bp=rates, minimum_fee=minimum_fees)
def test_the_minimum_fee_is_earned_first_and_never_more_than_was_collected(
    amounts: list[int], rate_bp: int, minimum_fee: int
) -> None:
    charged = commissions(amounts, rate_bp, minimum_fee)
    at_the_rate = [commission_on(amount, rate_bp) for amount in amounts]
    for amount, commission, earned in zip(amounts, charged, at_the_rate, strict=True):
        # Never less than the rate, never more than the payment (net is never negative).
        assert earned <= commission <= max(earned, amount)
    # The case pays at least the minimum fee, or all that was collected if that is less.
    assert sum(charged) >= min(minimum_fee, sum(amounts))
    # Once the fee is earned, the rate alone applies.
    for index, (commission, earned) in enumerate(zip(charged, at_the_rate, strict=True)):
        if sum(charged[:index]) >= minimum_fee:
            assert commission == earned


@given(amounts=payments, rate_bp=rates)
def test_without_a_minimum_fee_the_rate_alone_applies(amounts: list[int], rate_bp: int) -> None:
    assert commissions(amounts, rate_bp, 0) == [commission_on(a, rate_bp) for a in amounts]


@given(
    paid=st.integers(1, 10**9),
    rate_bp=rates,
    cuts=st.lists(st.integers(0, 10**9), max_size=8),
)
def test_reversals_in_parts_give_back_exactly_the_payments_commission(
    paid: int, rate_bp: int, cuts: list[int]
) -> None:
    """A payment reversed in any parts: each part's commission is the payment's share of
    the total reversed so far, less what earlier parts gave back."""
    earned = commission_on(paid, rate_bp)
    points = sorted({min(cut, paid) for cut in cuts} | {0, paid})
    given_back = [
        share_of(earned, after, paid) - share_of(earned, before, paid)
        for before, after in pairwise(points)
    ]
    assert sum(given_back) == earned
    assert all(back >= 0 for back in given_back)
    assert share_of(earned, 0, paid) == 0 and share_of(earned, paid, paid) == earned
