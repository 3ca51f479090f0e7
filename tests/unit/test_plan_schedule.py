"""A plan's schedule, the choices no approval could make a plan, and the tenant's policy."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from portal.models import Case, Frequency
from portal.services.payment_plans import (
    LATEST_START_DAYS,
    MAX_INSTALMENTS,
    MIN_INSTALMENTS,
    PlanChoice,
    PlanError,
    check_choice,
    policy_exceptions,
    schedule,
)
from tenants.models import Tenant

TODAY = date(2026, 11, 23)
NEXT_MONTH = TODAY + timedelta(days=30)

counts = st.integers(MIN_INSTALMENTS, MAX_INSTALMENTS)
frequencies = st.sampled_from(list(Frequency))
starts = st.integers(1, 400).map(lambda days: TODAY + timedelta(days=days))


@given(total=st.integers(0, 10**12), count=counts, frequency=frequencies, start=starts)
def test_equal_shares_add_up_to_the_total(
    total: int, count: int, frequency: Frequency, start: date
) -> None:
    payments = schedule(total, PlanChoice(count, frequency, start), TODAY)
    assert sum(p.amount_minor for p in payments) == total
    assert [p.number for p in payments] == list(range(1, count + 1))
    amounts = [p.amount_minor for p in payments]
    assert amounts[0] == total // count
    # Equal shares; only the last carries the minor units that do not divide.
    assert len(set(amounts[1:-1])) <= 1
    assert 0 <= amounts[-1] - amounts[1] < count - 1


@st.composite
def accepted_choices(draw: st.DrawFn) -> tuple[int, PlanChoice]:
    total = draw(st.integers(1, 10**10))
    count = draw(counts)
    down = draw(st.one_of(st.just(0), st.integers(1, total)))
    choice = PlanChoice(count, draw(frequencies), draw(starts), down)
    try:
        check_choice(total, choice, TODAY)
    except PlanError:
        assume(False)
    return total, choice


@given(accepted_choices())
def test_every_instalment_of_an_accepted_plan_takes_money(case: tuple[int, PlanChoice]) -> None:
    """A plan that passes the checks can be paid: no instalment of nothing (a checkout or
    a charge of zero is refused by every provider)."""
    total, choice = case
    payments = schedule(total, choice, TODAY)
    assert sum(p.amount_minor for p in payments) == total
    assert all(p.amount_minor > 0 for p in payments), [p.amount_minor for p in payments]
    if choice.down_payment_minor:
        assert payments[0].amount_minor == choice.down_payment_minor


@given(
    total=st.integers(10, 10**10),
    count=counts,
    down=st.integers(1, 10**10),
    frequency=frequencies,
)
def test_the_first_payment_is_the_down_payment_when_given(
    total: int, count: int, down: int, frequency: Frequency
) -> None:
    assume(down < total and total - down >= count - 1)
    payments = schedule(total, PlanChoice(count, frequency, NEXT_MONTH, down), TODAY)
    assert payments[0].amount_minor == down and payments[0].due_on == TODAY
    assert sum(p.amount_minor for p in payments[1:]) == total - down


def test_the_down_payment_then_equal_shares() -> None:
    payments = schedule(100_001, PlanChoice(4, Frequency.MONTHLY, NEXT_MONTH, 30_000), TODAY)
    assert [p.amount_minor for p in payments] == [30_000, 23_333, 23_333, 23_335]


def due_dates(frequency: Frequency, start: date, count: int = 5) -> list[date]:
    payments = schedule(count * 10_000, PlanChoice(count, frequency, start), TODAY)
    return [p.due_on for p in payments]


def test_monthly_instalments_keep_their_day_over_short_months() -> None:
    assert due_dates(Frequency.MONTHLY, date(2027, 1, 31), 6) == [
        TODAY,  # the first is paid today
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),  # back on the 31st: counted from the start, not the month before
        date(2027, 4, 30),
        date(2027, 5, 31),
    ]
    assert due_dates(Frequency.MONTHLY, date(2027, 12, 31), 4)[2:] == [
        date(2028, 1, 31),
        date(2028, 2, 29),  # a leap year
    ]
    assert due_dates(Frequency.MONTHLY, date(2027, 1, 29), 3)[2] == date(2027, 2, 28)


@pytest.mark.parametrize(
    ("frequency", "days"), [(Frequency.WEEKLY, 7), (Frequency.FORTNIGHTLY, 14)]
)
def test_weekly_and_fortnightly_instalments(frequency: Frequency, days: int) -> None:
    start = date(2027, 2, 26)
    assert due_dates(frequency, start) == [
        TODAY,
        start,
        start + timedelta(days=days),
        start + timedelta(days=2 * days),
        start + timedelta(days=3 * days),
    ]


SIX = PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH)
TOO_SMALL = "The amount is too small to split into so many instalments."
NOT_LESS = "The first payment must be less than the amount owed."


@pytest.mark.parametrize(
    ("total", "choice", "message"),
    [
        (0, SIX, "Nothing is outstanding on this account."),
        (-100, SIX, "Nothing is outstanding on this account."),
        (100_000, replace(SIX, instalments=1), "Choose between 2 and 60 instalments."),
        (100_000, replace(SIX, instalments=61), "Choose between 2 and 60 instalments."),
        (100_000, replace(SIX, start_on=TODAY), "The instalments after the first start on a day"),
        (100_000, replace(SIX, start_on=TODAY - timedelta(days=1)), "start on a day after today"),
        (100_000, replace(SIX, down_payment_minor=100_000), NOT_LESS),
        (100_000, replace(SIX, down_payment_minor=150_000), NOT_LESS),
        (100_000, replace(SIX, down_payment_minor=-1), NOT_LESS),
        (100, replace(SIX, down_payment_minor=96), TOO_SMALL),  # 4 left for 5 instalments
        # Equal shares: 5 in 6, or 4 in 5, would make the first payment nothing.
        (5, SIX, TOO_SMALL),
        (4, replace(SIX, instalments=5), TOO_SMALL),
        (1, replace(SIX, instalments=2), TOO_SMALL),
    ],
)
def test_choices_no_approval_could_make_a_plan_are_refused(
    total: int, choice: PlanChoice, message: str
) -> None:
    with pytest.raises(PlanError, match=message.replace(".", r"\.")):
        check_choice(total, choice, TODAY)


@pytest.mark.parametrize(
    ("total", "choice"),
    [
        (5, PlanChoice(5, Frequency.MONTHLY, NEXT_MONTH)),  # one minor unit each
        (100, PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH, 95)),  # 95, then 1 five times
        (100_000, PlanChoice(60, Frequency.WEEKLY, TODAY + timedelta(days=1), 99_999 - 59)),
    ],
)
def test_the_smallest_choices_that_are_still_plans(total: int, choice: PlanChoice) -> None:
    check_choice(total, choice, TODAY)
    assert all(p.amount_minor >= 1 for p in schedule(total, choice, TODAY))


# -- the tenant's policy -------------------------------------------------------------------


def case_of(**policy: object) -> Case:
    """An in-memory case of a tenant with the standard policy, changed by ``policy``."""
    terms: dict[str, object] = {
        "plan_min_down_payment_bp": 1_000,
        "plan_max_instalments": 12,
        "plan_min_instalment_minor": 2_500,
        "plan_frequencies": ["weekly", "fortnightly", "monthly"],
    }
    tenant = Tenant(slug="acme", name="Acme Ltd", currency="EUR", **(terms | policy))
    return Case(tenant=tenant, currency="EUR")


def test_a_choice_within_the_policy_has_no_exceptions() -> None:
    choice = PlanChoice(6, Frequency.MONTHLY, TODAY + timedelta(days=LATEST_START_DAYS))
    assert policy_exceptions(case_of(), 120_000, choice, TODAY) == []


@pytest.mark.parametrize(
    ("policy", "total", "choice", "exceptions"),
    [
        ({}, 120_000, PlanChoice(13, Frequency.MONTHLY, NEXT_MONTH, 20_000),
         ["13 instalments (the policy allows 12)"]),
        ({"plan_max_instalments": 4}, 120_000, PlanChoice(5, Frequency.MONTHLY, NEXT_MONTH),
         ["5 instalments (the policy allows 4)"]),
        ({"plan_frequencies": ["monthly"]}, 120_000, PlanChoice(6, Frequency.WEEKLY, NEXT_MONTH),
         ["weekly instalments are not offered"]),
        ({}, 120_000, PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH, 11_999),
         ["a first payment under €120.00"]),
        ({"plan_min_down_payment_bp": 2_500}, 120_000, PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH),
         ["a first payment under €300.00"]),  # an equal share is a sixth
        ({}, 100_001, PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH, 10_001),
         []),  # 10 % of €1,000.01 is €100.001: at least €100.01, rounded up
        ({}, 100_001, PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH, 10_000),
         ["a first payment under €100.01"]),
        ({}, 12_000, PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH),
         ["instalments under €25.00"]),  # six of €20.00
        ({"plan_min_instalment_minor": 20_000}, 119_999, SIX,
         ["instalments under €200.00"]),  # a first share of €199.99
        ({}, 2_000, PlanChoice(2, Frequency.MONTHLY, NEXT_MONTH),
         ["instalments under €25.00"]),
        ({}, 120_000, PlanChoice(6, Frequency.MONTHLY, TODAY + timedelta(days=32)),
         ["a start more than 31 days away"]),
        ({"plan_max_instalments": 6, "plan_frequencies": ["monthly"]}, 12_000,
         PlanChoice(12, Frequency.WEEKLY, TODAY + timedelta(days=60)),
         ["12 instalments (the policy allows 6)", "weekly instalments are not offered",
          "a first payment under €12.00", "instalments under €25.00",
          "a start more than 31 days away"]),
    ],
)  # fmt: skip
def test_each_rule_of_the_policy(
    policy: dict[str, object], total: int, choice: PlanChoice, exceptions: list[str]
) -> None:
    assert policy_exceptions(case_of(**policy), total, choice, TODAY) == exceptions


def test_the_policy_is_in_the_cases_currency() -> None:
    case = case_of()
    case.currency = "JPY"
    choice = PlanChoice(6, Frequency.MONTHLY, NEXT_MONTH, 11_000)
    assert policy_exceptions(case, 120_000, choice, TODAY) == ["a first payment under ¥12,000"]
