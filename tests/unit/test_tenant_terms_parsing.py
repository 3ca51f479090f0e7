"""Reading a tenant's terms from what an admin typed: what is stored, what is refused and
why, and how the terms read in plain words (no database)."""

from __future__ import annotations

from typing import Any

import pytest

from portal.services import tenant_terms
from portal.services.tenant_terms import TermsError, parse
from tenants.models import Tenant


def tenant(currency: str = "EUR", **columns: Any) -> Tenant:
    """A tenant with every column at its default, as a new one is stored, and ``columns``."""
    values = {
        column.key: column.default.arg(None) if column.default.is_callable else column.default.arg
        for column in Tenant.__table__.columns
        if column.default is not None
    }
    return Tenant(**(values | {"slug": "acme", "name": "Acme Ltd", "currency": currency} | columns))


def problems(section: str, values: dict[str, Any], currency: str = "EUR") -> dict[str, str]:
    with pytest.raises(TermsError) as refused:
        parse(section, values, currency)
    return {problem.field: problem.message for problem in refused.value.problems}


def band(**cells: str) -> dict[str, str]:
    return {"family": "amicable", "min_amount": "", "max_amount": "", "min_age_days": ""} | cells


@pytest.mark.parametrize("section", tenant_terms.SECTIONS)
def test_each_section_reads_back_what_its_form_shows(section: str) -> None:
    for currency in ("EUR", "JPY"):
        shown = tenant(currency)
        values = tenant_terms.form_values(shown, section)
        assert parse(section, values, currency) == tenant_terms.current(shown, section)


@pytest.mark.parametrize(
    ("typed", "rate_bp"), [("15", 1500), ("12.5", 1250), ("12,5", 1250), ("0", 0), ("100", 10_000)]
)
def test_rates_are_percentages_stored_as_basis_points(typed: str, rate_bp: int) -> None:
    values = tenant_terms.form_values(tenant(), "commission") | {"amicable_rate": typed}
    assert parse("commission", values, "EUR").columns()["commission_amicable_bp"] == rate_bp


@pytest.mark.parametrize(
    ("currency", "typed", "minor"),
    [("EUR", "10000", 1_000_000), ("EUR", "10000.50", 1_000_050), ("JPY", "10000", 10_000)],
)
def test_band_amounts_are_major_units_of_the_currency(
    currency: str, typed: str, minor: int
) -> None:
    values = {
        "amicable_rate": "15",
        "legal_rate": "25",
        "grid": [band(min_amount=typed, rate="12")],
    }
    [row] = parse("commission", values, currency).columns()["commission_grid"]
    assert row == {"family": "amicable", "min_amount_minor": minor, "max_amount_minor": None,
                   "min_age_days": 0, "rate_bp": 1200}  # fmt: skip


def test_blank_rows_are_ignored_and_problems_name_their_row() -> None:
    grid = [band(family=""), band(min_amount="500", rate="101"), band(family="", rate="")]
    found = problems("commission", {"amicable_rate": "15", "legal_rate": "25", "grid": grid})
    assert found == {"grid.1.rate": "A percentage from 0 to 100 with at most two decimals, "
                                    "like 12.5."}  # fmt: skip


@pytest.mark.parametrize(
    ("first", "second", "overlap"),
    [
        (band(max_amount="5000"), band(min_amount="5000"), False),  # the bound is exclusive
        (band(max_amount="5000"), band(min_amount="4999.99"), True),
        (band(min_amount="100"), band(min_amount="10000"), True),  # both open-ended
        (band(max_amount="5000"), band(min_amount="100", max_amount="200"), True),  # inside
        (band(max_amount="5000"), band(min_amount="0", min_age_days="90"), False),  # other age
        (band(max_amount="5000"), band(family="legal"), False),  # other stage
    ],
)
def test_bands_of_one_stage_and_age_may_not_overlap(
    first: dict[str, str], second: dict[str, str], overlap: bool
) -> None:
    values = {"amicable_rate": "15", "legal_rate": "25",
              "grid": [first | {"rate": "10"}, second | {"rate": "12"}]}  # fmt: skip
    if overlap:
        assert list(problems("commission", values)) == ["grid.1.min_amount"]
    else:
        assert len(parse("commission", values, "EUR").columns()["commission_grid"]) == 2


def test_the_cadence_is_entered_in_days_after_placement_and_kept_as_gaps() -> None:
    steps = [
        {"stage": "amicable.reminder", "day": "3", "sends": "reminder_email"},
        {"stage": "", "day": "", "sends": ""},
        {"stage": "amicable.negotiation", "day": "20", "sends": "negotiation_call"},
    ]
    cadence = parse("dunning", {"steps": steps}, "EUR").columns()["dunning_cadence"]
    assert cadence == [
        {"stage": "amicable.reminder", "days": 3, "sends": "reminder_email"},
        {"stage": "amicable.negotiation", "days": 17, "sends": "negotiation_call"},
    ]


@pytest.mark.parametrize(
    ("steps", "field"),
    [
        ([], "steps"),
        ([{"stage": "amicable.reminder", "day": "5", "sends": "reminder_letter"},
          {"stage": "amicable.demand", "day": "5", "sends": "demand_letter"}], "steps.1.day"),
        ([{"stage": "amicable.reminder", "day": "-1", "sends": "reminder_letter"}], "steps.0.day"),
        ([{"stage": "amicable.reminder", "day": "0", "sends": "fax"}], "steps.0.sends"),
        ([{"stage": "legal.review", "day": "0", "sends": "final_notice_letter"}], "steps.0.stage"),
        ([{"stage": "amicable.negotiation", "day": "0", "sends": "negotiation_call"},
          {"stage": "amicable.demand", "day": "7", "sends": "demand_letter"}], "steps.1.stage"),
    ],
)  # fmt: skip
def test_a_cadence_that_cannot_run_is_refused(steps: list[dict[str, str]], field: str) -> None:
    assert field in problems("dunning", {"steps": steps})


@pytest.mark.parametrize(("typed", "days"), [("", []), ("3, 7", [3, 7]), ("1;2 10", [1, 2, 10])])
def test_retry_days_are_increasing_days_after_the_due_date(typed: str, days: list[int]) -> None:
    values = tenant_terms.form_values(tenant(), "instalments") | {"retry_days": typed}
    assert parse("instalments", values, "EUR").columns()["plan_retry_days"] == days


@pytest.mark.parametrize(
    ("section", "changes", "field"),
    [
        ("instalments", {"max_instalments": "0"}, "max_instalments"),
        ("instalments", {"min_instalment": "-1"}, "min_instalment"),
        ("instalments", {"min_down_payment": "-0.5"}, "min_down_payment"),
        ("instalments", {"frequencies": []}, "frequencies"),
        ("instalments", {"max_misses": "0"}, "max_misses"),
        ("instalments", {"retry_days": "3, 3"}, "retry_days"),
        ("contact", {"hours_start": "20", "hours_end": "20"}, "hours_end"),
        ("contact", {"hours_start": "-1"}, "hours_start"),
        ("collection", {"allocation_order": "fees,interest"}, "allocation_order"),
        ("collection", {"allocation_order": "fees,interest,principal,costs"}, "allocation_order"),
        ("collection", {"settlement_authority": "100.01"}, "settlement_authority"),
        ("collection", {"mandate_months": "0"}, "mandate_months"),
        ("collection", {"dispute_days": "0"}, "dispute_days"),
        ("commission", {"minimum_fee": "-1"}, "minimum_fee"),
        ("commission", {"early_intervention_fee": "1.001"}, "early_intervention_fee"),
        ("commission", {"minimum_fee": "99999999"}, "minimum_fee"),  # beyond the column
    ],
)
def test_out_of_range_terms_are_refused_by_field(
    section: str, changes: dict[str, Any], field: str
) -> None:
    values = tenant_terms.form_values(tenant(), section) | changes
    assert list(problems(section, values)) == [field]


def test_the_terms_read_in_plain_words() -> None:
    acme = tenant(
        commission_amicable_bp=1500,
        commission_grid=[{"family": "amicable", "min_amount_minor": 1_000_000,
                          "max_amount_minor": None, "min_age_days": 0, "rate_bp": 1200}],
        plan_max_instalments=12, plan_min_instalment_minor=2_500, plan_min_down_payment_bp=1_000,
        plan_frequencies=["weekly", "fortnightly", "monthly"], plan_max_misses=2,
        charge_statutory_interest=False, collection_paused=False,
    )  # fmt: skip
    words = tenant_terms.describe(acme)
    assert list(words) == list(tenant_terms.SECTIONS)
    assert (
        "Amicable stage: 15.00 % of what is collected; claims from €10,000.00: 12.00 %."
        in (words["commission"])
    )
    assert words["instalments"][:2] == [
        "Debtors may spread the balance over up to 12 instalments of at least €25.00, weekly, "
        "fortnightly or monthly, with a down payment of at least 10.00 %. A plan beyond these "
        "terms waits for a collector's approval.",
        "A plan breaks after 2 missed instalments in a row.",
    ]
    assert words["interest"][0].startswith("No statutory interest is added")
    assert words["dunning"][0].startswith("Day 0 after placement: a reminder letter")
