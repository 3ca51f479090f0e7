"""The minimum fee per case and the commission a partial reversal gives back: no amount
is created or lost, whatever the payments and however they are reversed."""

from __future__ import annotations

from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from portal.services.commission import commission_on, share_of, with_minimum_fee

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
