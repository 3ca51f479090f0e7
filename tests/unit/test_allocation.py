"""How a payment splits over fees, interest and principal, how a reversal takes it back, and
the commission on it in currencies with 0, 2 and 3 decimals."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.models import ClaimPart
from portal.services import allocation
from portal.services.commission import commission_on
from portal.services.money import minor_units

FEES, INTEREST, PRINCIPAL = ClaimPart.FEES, ClaimPart.INTEREST, ClaimPart.PRINCIPAL
PARTS = list(ClaimPart)

orders = st.permutations(PARTS).map(tuple)
# What each part still owes; negative when a part was overpaid (a later adjustment).
owed_amounts = st.fixed_dictionaries(
    {}, optional={part: st.integers(-(10**6), 10**9) for part in PARTS}
)
amounts = st.integers(1, 3 * 10**9)
# What a tenant may have configured: part names, in any order, with typos and repeats.
configured_names = st.lists(
    st.sampled_from(["fees", "interest", "principal", "Fees", "costs", ""]), max_size=6
)


def claim(owed: dict[ClaimPart, int]) -> int:
    return sum(max(amount, 0) for amount in owed.values())


@given(amount=amounts, owed=owed_amounts, order=orders)
def test_a_payment_is_allocated_exactly(
    amount: int, owed: dict[ClaimPart, int], order: tuple[ClaimPart, ...]
) -> None:
    shares = allocation.allocate(amount, owed, order)
    assert sum(shares.values()) == amount
    assert all(share > 0 for share in shares.values())  # only what a part got
    assert set(shares) <= set(order)


@given(amount=amounts, owed=owed_amounts, order=orders)
def test_no_part_gets_more_than_it_owes_unless_the_payment_exceeds_the_claim(
    amount: int, owed: dict[ClaimPart, int], order: tuple[ClaimPart, ...]
) -> None:
    shares = allocation.allocate(amount, owed, order)
    *first_parts, last = order
    for part in first_parts:
        assert shares.get(part, 0) <= max(owed.get(part, 0), 0)
    excess = max(amount - claim(owed), 0)
    if excess:  # every part is paid in full, the last one gets the rest
        assert all(shares.get(part, 0) == max(owed.get(part, 0), 0) for part in first_parts)
        assert shares[last] == max(owed.get(last, 0), 0) + excess
    else:
        assert shares.get(last, 0) <= max(owed.get(last, 0), 0)


@given(amount=amounts, owed=owed_amounts, order=orders)
def test_parts_are_paid_in_the_order_given(
    amount: int, owed: dict[ClaimPart, int], order: tuple[ClaimPart, ...]
) -> None:
    shares = allocation.allocate(amount, owed, order)
    for position, part in enumerate(order):
        if shares.get(part, 0) and amount <= claim(owed):
            earlier = order[:position]
            assert all(shares.get(e, 0) == max(owed.get(e, 0), 0) for e in earlier), (
                f"{part} was paid before {earlier} were paid off"
            )


def test_the_tenants_order_decides_what_is_paid_first() -> None:
    owed = {FEES: 4_000, INTEREST: 1_000, PRINCIPAL: 100_000}
    assert allocation.allocate(4_500, owed, allocation.DEFAULT_ORDER) == {
        FEES: 4_000,
        INTEREST: 500,
    }
    assert allocation.allocate(4_500, owed, (PRINCIPAL, INTEREST, FEES)) == {PRINCIPAL: 4_500}
    assert allocation.allocate(110_000, owed, (PRINCIPAL, FEES, INTEREST)) == {
        PRINCIPAL: 100_000,
        FEES: 4_000,
        INTEREST: 6_000,  # 5 000 more than it owes: the payment was more than the claim
    }


@pytest.mark.parametrize("amount", [0, -1])
def test_only_a_positive_amount_is_allocated(amount: int) -> None:
    with pytest.raises(ValueError, match="positive"):
        allocation.allocate(amount, {PRINCIPAL: 100}, allocation.DEFAULT_ORDER)
    with pytest.raises(ValueError, match="at least one part"):
        allocation.allocate(100, {PRINCIPAL: 100}, ())


@st.composite
def payments_and_reversals(draw: st.DrawFn) -> tuple[dict[ClaimPart, int], int]:
    paid = draw(
        st.dictionaries(st.sampled_from(PARTS), st.integers(1, 10**9), min_size=1, max_size=3)
    )
    return paid, draw(st.integers(1, sum(paid.values())))


@given(payment=payments_and_reversals(), names=configured_names)
def test_a_reversal_takes_back_no_more_than_each_part_was_paid(
    payment: tuple[dict[ClaimPart, int], int], names: list[str]
) -> None:
    paid, amount = payment
    order = allocation.order_of(names)
    taken = allocation.take_back(amount, paid, order)
    assert sum(taken.values()) == amount
    assert all(0 < share <= paid[part] for part, share in taken.items())
    # The last part of the order is taken back first.
    backwards = [part for part in reversed(order) if part in paid]
    for position, part in enumerate(backwards):
        if taken.get(part):
            assert all(taken.get(later) == paid[later] for later in backwards[:position])


def test_a_reversal_takes_the_principal_back_first() -> None:
    paid = {FEES: 4_000, INTEREST: 1_000, PRINCIPAL: 10_000}
    order = allocation.DEFAULT_ORDER
    assert allocation.take_back(12_000, paid, order) == {PRINCIPAL: 10_000, INTEREST: 1_000,
                                                         FEES: 1_000}  # fmt: skip
    assert allocation.take_back(15_000, paid, order) == paid


@pytest.mark.parametrize("amount", [0, -5, 15_001])
def test_a_reversal_is_between_one_unit_and_the_payment(amount: int) -> None:
    with pytest.raises(ValueError, match="between one minor unit and the payment"):
        allocation.take_back(amount, {FEES: 5_000, PRINCIPAL: 10_000}, allocation.DEFAULT_ORDER)


@pytest.mark.parametrize(
    ("names", "order"),
    [
        ([], (FEES, INTEREST, PRINCIPAL)),
        (["principal"], (PRINCIPAL, FEES, INTEREST)),
        (["interest", "fees"], (INTEREST, FEES, PRINCIPAL)),
        (["costs", "principal", "principal", "Fees"], (PRINCIPAL, FEES, INTEREST)),
        (["principal", "interest", "fees"], (PRINCIPAL, INTEREST, FEES)),
    ],
)
def test_order_of_puts_the_parts_a_tenant_leaves_out_last(
    names: list[str], order: tuple[ClaimPart, ...]
) -> None:
    assert allocation.order_of(names) == order


@given(names=configured_names)
def test_order_of_always_names_every_part_once(names: list[str]) -> None:
    order = allocation.order_of(names)
    assert sorted(order) == sorted(PARTS)
    known = [ClaimPart(name) for name in dict.fromkeys(names) if name in {p.value for p in PARTS}]
    assert list(order[: len(known)]) == known


# -- commission ----------------------------------------------------------------------------

CURRENCIES = ["JPY", "EUR", "BHD", "KWD"]


@pytest.mark.parametrize(("currency", "decimals"), [("JPY", 0), ("EUR", 2), ("BHD", 3), ("KWD", 3)])
def test_the_currencies_have_the_decimals_assumed(currency: str, decimals: int) -> None:
    assert minor_units(currency) == decimals


def as_major(amount_minor: int, currency: str) -> Decimal:
    return Decimal(amount_minor).scaleb(-minor_units(currency))


@given(
    currency=st.sampled_from(CURRENCIES),
    collected=st.integers(1, 10**13),
    rate_bp=st.integers(0, 10_000),
)
def test_commission_is_rounded_half_up_to_the_currencys_smallest_unit(
    currency: str, collected: int, rate_bp: int
) -> None:
    commission = commission_on(collected, rate_bp)
    # Worked out in major units (yen, euros, dinars), as a creditor checks the statement.
    exact = as_major(collected, currency) * rate_bp / 10_000
    smallest_unit = Decimal(1).scaleb(-minor_units(currency))
    assert as_major(commission, currency) == exact.quantize(smallest_unit, ROUND_HALF_UP)
    assert 0 <= commission <= collected
    net = collected - commission
    assert as_major(collected, currency) - as_major(commission, currency) == as_major(net, currency)
    # A reversal of the same amount gives exactly that commission back.
    assert commission_on(-collected, rate_bp) == -commission


@pytest.mark.parametrize(
    ("currency", "collected", "rate_bp", "commission", "net"),
    [
        ("JPY", 12_345, 1_500, 1_852, 10_493),  # ¥1,851.75 -> ¥1,852
        ("JPY", 10, 1_500, 2, 8),  # ¥1.5 -> ¥2: half up
        ("JPY", 9, 1_500, 1, 8),  # ¥1.35 -> ¥1
        ("EUR", 12_345, 1_500, 1_852, 10_493),  # €18.5175 -> €18.52
        ("EUR", 120_000, 1_500, 18_000, 102_000),
        ("EUR", 1, 5_000, 1, 0),  # half a cent -> a cent
        ("BHD", 12_345, 1_500, 1_852, 10_493),  # 1.85175 BHD -> 1.852 BHD
        ("KWD", 1_000_001, 2_500, 250_000, 750_001),  # 250.00025 KWD -> 250.000 KWD
        ("KWD", 5, 1_000, 1, 4),  # 0.0005 KWD -> 0.001 KWD
    ],
)
def test_commission_and_net_in_each_currency(
    currency: str, collected: int, rate_bp: int, commission: int, net: int
) -> None:
    assert commission_on(collected, rate_bp) == commission
    assert collected - commission_on(collected, rate_bp) == net
