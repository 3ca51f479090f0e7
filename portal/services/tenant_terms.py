"""A tenant's terms, section by section, as the agency's admins set them.

Each section is a small frozen dataclass whose fields are the tenant's columns it sets.
``parse`` reads a section from plain values (the text a form posts, rows as lists of
mappings) and checks it; what is wrong comes back as ``TermsError`` with a ``Problem``
per field, named by its path (``grid.2.rate`` is the rate in the third row of the
commission grid). ``apply`` writes a section to the tenant and audits
``tenant.terms_changed`` with the values before and after; ``describe`` states the terms
in plain words; ``form_values`` gives the plain values ``parse`` reads back.

Terms apply from the moment they are saved and never rewrite history: a payment keeps
the commission rate booked on its ledger entry, interest and fees already posted stay
posted, a letter already sent stays sent.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from itertools import accumulate, combinations, pairwise
from typing import Any, ClassVar, Self, TypeVar

from sqlalchemy.orm import Session

from portal.models import ClaimPart, CostBearer, Frequency, Stage
from portal.services import audit, dunning, stages
from portal.services.commission import FAMILIES, band_words, percent
from portal.services.import_rows import CellError, parse_percent, parse_whole_number
from portal.services.money import AmountError, format_money, parse_amount, to_decimal
from portal.services.placement import Problem
from tenants.models import Tenant

# The tenant's amount columns are 32-bit integers.
MAX_COLUMN_MINOR = 2**31 - 1
MAX_GRID_ROWS = 20
MAX_RETRIES = 5
FAMILY_NAMES = {"amicable": "Amicable stage", "legal": "Legal stage"}
FREQUENCY_NAMES = {
    Frequency.WEEKLY.value: "weekly",
    Frequency.FORTNIGHTLY.value: "fortnightly",
    Frequency.MONTHLY.value: "monthly",
}
CADENCE_STAGES = {stage.value: stage.label for stage in dunning.STEP_MOVES}
COST_BEARERS = {
    CostBearer.DEBTOR.value: "the debtor: added to the claim",
    CostBearer.CREDITOR.value: "the creditor: charged on the remittance statement",
}
CLAIM_PARTS = tuple(part.value for part in ClaimPart)
RowT = TypeVar("RowT")


class TermsError(ValueError):
    """Terms that cannot be saved; ``problems`` says what is wrong with which field."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


class _Reader:
    """Reads plain values into typed ones, noting a ``Problem`` for each that does not
    read and standing in a harmless value, so every problem is found in one pass."""

    def __init__(
        self, values: Mapping[str, Any], currency: str, problems: list[Problem], prefix: str = ""
    ) -> None:
        self.values, self.currency, self.problems, self.prefix = values, currency, problems, prefix

    def problem(self, name: str, message: str) -> None:
        self.problems.append(Problem(self.prefix + name, message))

    def text(self, name: str) -> str:
        value = self.values.get(name)
        return "" if value is None else str(value).strip()

    def whole(self, name: str, low: int, high: int, *, blank: int | None = None) -> int:
        text = self.text(name)
        if not text and blank is not None:
            return blank
        try:
            number = parse_whole_number(text)
        except CellError:
            number = None
        if number is None or not low <= number <= high:
            self.problem(name, f"A whole number from {low} to {high}.")
            return low
        return number

    def rate(self, name: str) -> int:
        """A percentage from 0 to 100 with at most two decimals, as basis points."""
        try:
            rate_bp: int | None = parse_percent(self.text(name), ".")
        except CellError:
            rate_bp = None
        if rate_bp is None or not 0 <= rate_bp <= 10_000:
            self.problem(name, "A percentage from 0 to 100 with at most two decimals, like 12.5.")
            return 0
        return rate_bp

    def amount(self, name: str, *, low: int = 0) -> int:
        """An amount in major units of the currency ("10000.50"), as minor units."""
        try:
            minor = parse_amount(self.text(name), self.currency)
        except AmountError:
            self.problem(name, f"An amount in {self.currency}, like 10000 or 10000.50.")
            return low
        if minor < low:
            self.problem(name, "More than zero." if low > 0 else "Zero or more.")
            return low
        if minor > MAX_COLUMN_MINOR:
            self.problem(name, f"At most {format_money(MAX_COLUMN_MINOR, self.currency)}.")
            return low
        return minor

    def optional_amount(self, name: str) -> int | None:
        return self.amount(name) if self.text(name) else None

    def choice(self, name: str, allowed: Mapping[str, str]) -> str:
        text = self.text(name)
        if text not in allowed:
            self.problem(name, f"Choose one of: {', '.join(allowed.values())}.")
            return next(iter(allowed))
        return text

    def items(self, name: str) -> list[str]:
        """The parts of a list typed in one field, like "3, 7" or "fees interest"."""
        return [part for part in re.split(r"[,;\s]+", self.text(name)) if part]

    def flag(self, name: str) -> bool:
        value = self.values.get(name)
        return value is True or str(value).strip().lower() in {"y", "yes", "on", "true", "1"}

    def rows(self, name: str) -> list[tuple[int, _Reader]]:
        """The rows of a table that are not blank, each with its index in the table."""
        value = self.values.get(name) or []
        rows = [row for row in value if isinstance(row, Mapping)] if isinstance(value, list) else []
        return [
            (index, _Reader(row, self.currency, self.problems, f"{self.prefix}{name}.{index}."))
            for index, row in enumerate(rows)
            if any(str(cell or "").strip() for cell in row.values())
        ]


class Section:
    """One section of the terms: a frozen dataclass whose fields are the tenant's columns
    it sets, read from plain values, shown in a form and stated in words."""

    __dataclass_fields__: ClassVar[dict[str, Any]]
    name: ClassVar[str]
    title: ClassVar[str]

    @classmethod
    def of(cls, tenant: Tenant) -> Self:
        return cls(**{field.name: getattr(tenant, field.name) for field in fields(cls)})

    @classmethod
    def read(cls, read: _Reader) -> Self:
        raise NotImplementedError

    def columns(self) -> dict[str, Any]:
        return {field.name: getattr(self, field.name) for field in fields(self)}

    def values(self, currency: str) -> dict[str, Any]:
        """The plain values a form shows, which ``read`` reads back to this section."""
        raise NotImplementedError

    def words(self, currency: str) -> list[str]:
        raise NotImplementedError


def _major(amount_minor: int, currency: str) -> str:
    return str(to_decimal(amount_minor, currency))


def _rate_text(rate_bp: int) -> str:
    return f"{rate_bp / 100:.2f}"


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _listed(words: Sequence[str], last: str = "or") -> str:
    """Words joined as "a, b or c" (or with ``last`` instead of "or")."""
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} {last} {words[-1]}"


# --- commission ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CommissionTerms(Section):
    name: ClassVar[str] = "commission"
    title: ClassVar[str] = "Commission and fees"

    commission_amicable_bp: int
    commission_legal_bp: int
    commission_minimum_fee_minor: int
    early_intervention_fee_minor: int
    commission_grid: list[dict[str, Any]]

    @classmethod
    def read(cls, read: _Reader) -> Self:
        return cls(
            commission_amicable_bp=read.rate("amicable_rate"),
            commission_legal_bp=read.rate("legal_rate"),
            commission_minimum_fee_minor=read.optional_amount("minimum_fee") or 0,
            early_intervention_fee_minor=read.optional_amount("early_intervention_fee") or 0,
            commission_grid=_grid(read),
        )

    def values(self, currency: str) -> dict[str, Any]:
        return {
            "amicable_rate": _rate_text(self.commission_amicable_bp),
            "legal_rate": _rate_text(self.commission_legal_bp),
            "minimum_fee": _major(self.commission_minimum_fee_minor, currency),
            "early_intervention_fee": _major(self.early_intervention_fee_minor, currency),
            "grid": [_band_values(row, currency) for row in self.commission_grid],
        }

    def words(self, currency: str) -> list[str]:
        standard = {"amicable": self.commission_amicable_bp, "legal": self.commission_legal_bp}
        said = []
        for family in FAMILIES:
            bands = sorted(
                (row for row in self.commission_grid if row["family"] == family),
                key=lambda row: (row.get("min_amount_minor", 0), row.get("min_age_days", 0)),
            )
            said.append(
                f"{FAMILY_NAMES[family]}: {percent(standard[family])} of what is collected"
                + "".join(
                    f"; {band_words(row, currency)}: {percent(row['rate_bp'])}" for row in bands
                )
                + "."
            )
        minimum = self.commission_minimum_fee_minor
        said.append(
            f"A minimum fee of {format_money(minimum, currency)} per case: the first money "
            "collected on a case pays at least that, never more than was collected."
            if minimum
            else "No minimum fee per case."
        )
        said.append(
            "Early intervention: a fixed fee of "
            f"{format_money(self.early_intervention_fee_minor, currency)} for a checked "
            "invoice paid after the check, instead of commission."
        )
        return said


def _grid(read: _Reader) -> list[dict[str, Any]]:
    rows = read.rows("grid")
    if len(rows) > MAX_GRID_ROWS:
        read.problem("grid", f"At most {MAX_GRID_ROWS} rows.")
    bands = _read_cleanly(rows, _band)
    for (_, first), (index, second) in combinations(bands, 2):
        if _overlap(first, second):
            read.problem(
                f"grid.{index}.min_amount",
                f"Overlaps the band for {band_words(first, read.currency)}: bands of one "
                "stage with the same age may not share any amount.",
            )
    return [band for _, band in bands]


def _read_cleanly(
    rows: list[tuple[int, _Reader]], read_row: Callable[[_Reader], RowT]
) -> list[tuple[int, RowT]]:
    """Each row read, keeping those that read without a problem (with their index), for
    the checks across rows: a stand-in value must not make a problem of its own."""
    kept = []
    for index, row in rows:
        before = len(row.problems)
        value = read_row(row)
        if len(row.problems) == before:
            kept.append((index, value))
    return kept


def _band(read: _Reader) -> dict[str, Any]:
    band: dict[str, Any] = {
        "family": read.choice("family", FAMILY_NAMES),
        "min_amount_minor": read.optional_amount("min_amount") or 0,
        "max_amount_minor": read.optional_amount("max_amount"),
        "min_age_days": read.whole("min_age_days", 0, 3650, blank=0),
        "rate_bp": read.rate("rate"),
    }
    upper = band["max_amount_minor"]
    if upper is not None and upper <= band["min_amount_minor"]:
        read.problem("max_amount", "More than the amount the band starts from.")
    return band


def _overlap(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    """Two bands of one family and age whose amounts meet: one claim would fall in both."""
    if (first["family"], first["min_age_days"]) != (second["family"], second["min_age_days"]):
        return False
    first_end, second_end = first["max_amount_minor"], second["max_amount_minor"]
    return (second_end is None or first["min_amount_minor"] < second_end) and (
        first_end is None or second["min_amount_minor"] < first_end
    )


def _band_values(row: Mapping[str, Any], currency: str) -> dict[str, str]:
    upper = row.get("max_amount_minor")
    return {
        "family": row["family"],
        "min_amount": _major(row.get("min_amount_minor", 0), currency),
        "max_amount": "" if upper is None else _major(upper, currency),
        "min_age_days": str(row.get("min_age_days", 0)),
        "rate": _rate_text(row["rate_bp"]),
    }


# --- instalment plans ---------------------------------------------------------------------


@dataclass(frozen=True)
class InstalmentTerms(Section):
    name: ClassVar[str] = "instalments"
    title: ClassVar[str] = "Instalment plans"

    plan_max_instalments: int
    plan_min_instalment_minor: int
    plan_min_down_payment_bp: int
    plan_frequencies: list[str]
    plan_max_misses: int
    plan_retry_days: list[int]

    @classmethod
    def read(cls, read: _Reader) -> Self:
        return cls(
            plan_max_instalments=read.whole("max_instalments", 1, 120),
            plan_min_instalment_minor=read.amount("min_instalment", low=1),
            plan_min_down_payment_bp=read.rate("min_down_payment"),
            plan_frequencies=_frequencies(read),
            plan_max_misses=read.whole("max_misses", 1, 12),
            plan_retry_days=_retry_days(read),
        )

    def values(self, currency: str) -> dict[str, Any]:
        return {
            "max_instalments": str(self.plan_max_instalments),
            "min_instalment": _major(self.plan_min_instalment_minor, currency),
            "min_down_payment": _rate_text(self.plan_min_down_payment_bp),
            "frequencies": list(self.plan_frequencies),
            "max_misses": str(self.plan_max_misses),
            "retry_days": ", ".join(str(days) for days in self.plan_retry_days),
        }

    def words(self, currency: str) -> list[str]:
        often = _listed([FREQUENCY_NAMES.get(f, f) for f in self.plan_frequencies])
        misses = self.plan_max_misses
        retries = self.plan_retry_days
        return [
            f"Debtors may spread the balance over up to {self.plan_max_instalments} "
            f"instalments of at least {format_money(self.plan_min_instalment_minor, currency)}"
            f", {often}, with a down payment of at least "
            f"{percent(self.plan_min_down_payment_bp)}. A plan beyond these terms waits for a "
            "collector's approval.",
            f"A plan breaks after {misses} missed instalment{'s' if misses != 1 else ''} in a row.",
            f"A failed instalment is charged again {_listed([str(d) for d in retries], 'and')} "
            f"{'day' if retries == [1] else 'days'} after its due date."
            if retries
            else "A failed instalment is not charged again: it counts as missed.",
        ]


def _frequencies(read: _Reader) -> list[str]:
    value = read.values.get("frequencies") or []
    chosen = {str(item) for item in value} if isinstance(value, list | tuple) else {str(value)}
    if not chosen or not chosen <= FREQUENCY_NAMES.keys():
        read.problem("frequencies", "Choose at least one: weekly, fortnightly or monthly.")
        return list(FREQUENCY_NAMES)
    return [frequency for frequency in FREQUENCY_NAMES if frequency in chosen]


def _retry_days(read: _Reader) -> list[int]:
    parts = read.items("retry_days")
    days = [int(part) for part in parts if part.isascii() and part.isdigit()]
    good = (
        len(days) == len(parts)
        and len(days) <= MAX_RETRIES
        and all(1 <= day <= 60 for day in days)
        and all(a < b for a, b in pairwise(days))
    )
    if not good:
        read.problem(
            "retry_days",
            f"Up to {MAX_RETRIES} days after the due date, each from 1 to 60 and later than "
            "the one before, like 3, 7 (empty: no second charge).",
        )
        return []
    return days


# --- dunning cadence ----------------------------------------------------------------------


@dataclass(frozen=True)
class DunningTerms(Section):
    """The cadence: stored as each step's days after the step before (the first: after
    placement), the way the dunning run counts them; people enter and read each step's
    day after placement, which must grow from step to step."""

    name: ClassVar[str] = "dunning"
    title: ClassVar[str] = "Dunning cadence"

    dunning_cadence: list[dict[str, Any]]

    @classmethod
    def read(cls, read: _Reader) -> Self:
        rows = read.rows("steps")
        if not rows:
            read.problem("steps", "At least one step.")
        steps = _read_cleanly(rows, _step)
        previous_stage, previous_day = Stage.PLACED, -1
        for index, (stage, day, _) in steps:
            move = stages.TRANSITIONS[dunning.STEP_MOVES[Stage(stage)]]
            if previous_stage not in move.sources:
                read.problem(
                    f"steps.{index}.stage",
                    f"A case at {previous_stage.label} cannot move to {Stage(stage).label}: "
                    f"steps go {', '.join(CADENCE_STAGES.values())}, in that order.",
                )
            if day <= previous_day:
                read.problem(f"steps.{index}.day", f"A day after {previous_day}.")
            previous_stage, previous_day = Stage(stage), day
        days = [day for _, (_, day, _) in steps]
        return cls(
            dunning_cadence=[
                {"stage": stage, "days": day - before, "sends": sends}
                for (_, (stage, day, sends)), before in zip(steps, [0, *days], strict=False)
            ]
        )

    def values(self, currency: str) -> dict[str, Any]:
        return {
            "steps": [
                {"stage": step.get("stage", ""), "day": str(day), "sends": step.get("sends", "")}
                for step, day in zip(self.dunning_cadence, self._days(), strict=True)
            ]
        }

    def words(self, currency: str) -> list[str]:
        said = [
            f"Day {day} after placement: {_action(step)}; the case moves to "
            f"{CADENCE_STAGES.get(str(step.get('stage')), step.get('stage'))}."
            for step, day in zip(self.dunning_cadence, self._days(), strict=True)
        ]
        return [
            *said,
            "After the last step a collector takes the case over. A step the contact rules "
            "hold back waits, and the steps after it wait as long.",
        ]

    def _days(self) -> list[int]:
        return list(accumulate(int(step.get("days", 0)) for step in self.dunning_cadence))


def _step(read: _Reader) -> tuple[str, int, str]:
    return (
        read.choice("stage", CADENCE_STAGES),
        read.whole("day", 0, 365),
        read.choice("sends", dunning.STEP_ACTIONS),
    )


def _action(step: Mapping[str, Any]) -> str:
    sends = str(step.get("sends", ""))
    return dunning.STEP_ACTIONS.get(sends, sends.replace("_", " "))


# --- contact guardrails -------------------------------------------------------------------


@dataclass(frozen=True)
class ContactTerms(Section):
    name: ClassVar[str] = "contact"
    title: ClassVar[str] = "Contact guardrails"

    contact_hours_start: int
    contact_hours_end: int
    contact_max_calls: int
    contact_window_days: int

    @classmethod
    def read(cls, read: _Reader) -> Self:
        before = len(read.problems)
        start, end = read.whole("hours_start", 0, 24), read.whole("hours_end", 0, 24)
        if start >= end and len(read.problems) == before:
            read.problem("hours_end", "Later than the start.")
        return cls(
            contact_hours_start=start,
            contact_hours_end=end,
            contact_max_calls=read.whole("max_calls", 1, 100),
            contact_window_days=read.whole("window_days", 1, 365),
        )

    def values(self, currency: str) -> dict[str, Any]:
        return {
            "hours_start": str(self.contact_hours_start),
            "hours_end": str(self.contact_hours_end),
            "max_calls": str(self.contact_max_calls),
            "window_days": str(self.contact_window_days),
        }

    def words(self, currency: str) -> list[str]:
        calls = self.contact_max_calls
        return [
            f"Calls and e-mails reach the debtor only between {self.contact_hours_start:02d}:00 "
            f"and {self.contact_hours_end:02d}:00 in the debtor's time zone; letters go out "
            "at any time.",
            f"At most {calls} call attempt{'s' if calls != 1 else ''} per case in any "
            f"{_days(self.contact_window_days)}.",
        ]


# --- interest and compensation ------------------------------------------------------------


@dataclass(frozen=True)
class InterestTerms(Section):
    name: ClassVar[str] = "interest"
    title: ClassVar[str] = "Interest and compensation"

    charge_statutory_interest: bool
    charge_compensation: bool

    @classmethod
    def read(cls, read: _Reader) -> Self:
        return cls(
            charge_statutory_interest=read.flag("charge_statutory_interest"),
            charge_compensation=read.flag("charge_compensation"),
        )

    def values(self, currency: str) -> dict[str, Any]:
        return self.columns()

    def words(self, currency: str) -> list[str]:
        return [
            "Statutory late-payment interest is added to each invoice (the reference rate "
            "plus the margin of the rate table); a contract rate given at placement "
            "replaces it."
            if self.charge_statutory_interest
            else "No statutory interest is added; a contract rate given at placement still "
            "applies.",
            "Business debtors owe the fixed compensation for each late invoice, as the rate "
            "table sets it."
            if self.charge_compensation
            else "No fixed compensation is claimed.",
        ]


# --- the mandate and the collection process -----------------------------------------------


@dataclass(frozen=True)
class CollectionTerms(Section):
    name: ClassVar[str] = "collection"
    title: ClassVar[str] = "Mandate and collection"

    mandate_months: int
    settlement_authority_bp: int
    allocation_order: list[str]
    payment_link_valid_days: int
    dispute_days: int
    legal_costs_recoverable_from: str
    early_intervention_convert_days: int
    retention_months: int

    @classmethod
    def read(cls, read: _Reader) -> Self:
        return cls(
            mandate_months=read.whole("mandate_months", 1, 120),
            settlement_authority_bp=read.rate("settlement_authority"),
            allocation_order=_allocation_order(read),
            payment_link_valid_days=read.whole("payment_link_valid_days", 1, 365),
            dispute_days=read.whole("dispute_days", 1, 365),
            legal_costs_recoverable_from=read.choice("legal_costs_bearer", COST_BEARERS),
            early_intervention_convert_days=read.whole("early_intervention_convert_days", 1, 365),
            retention_months=read.whole("retention_months", 12, 240),
        )

    def values(self, currency: str) -> dict[str, Any]:
        return {
            "mandate_months": str(self.mandate_months),
            "settlement_authority": _rate_text(self.settlement_authority_bp),
            "allocation_order": ",".join(self.allocation_order),
            "payment_link_valid_days": str(self.payment_link_valid_days),
            "dispute_days": str(self.dispute_days),
            "legal_costs_bearer": self.legal_costs_recoverable_from,
            "early_intervention_convert_days": str(self.early_intervention_convert_days),
            "retention_months": str(self.retention_months),
        }

    def words(self, currency: str) -> list[str]:
        first, *rest = self.allocation_order
        legal_costs = (
            "Legal costs the agency advances that the debtor does not pay are charged to the "
            "creditor on the remittance statement."
            if self.legal_costs_recoverable_from == CostBearer.CREDITOR.value
            else "Legal costs the agency advances are added to the claim, for the debtor to pay."
        )
        return [
            f"We hold each claim for {self.mandate_months} months after placement; then it "
            "goes back to the creditor.",
            f"A collector may settle for {percent(self.settlement_authority_bp)} of the "
            "outstanding balance or more without asking the creditor.",
            f"A payment pays {first} first, then {', then '.join(rest)}.",
            f"A debtor's payment link works for {_days(self.payment_link_valid_days)} after "
            "it is issued.",
            f"A debtor has {_days(self.dispute_days)} to support a dispute before it is decided.",
            legal_costs,
            "An invoice under an early-intervention check that is still unpaid "
            f"{_days(self.early_intervention_convert_days)} after its due date becomes a "
            "collection case.",
            f"A debtor's personal data may be erased {self.retention_months} months after "
            "the case closed.",
        ]


def _allocation_order(read: _Reader) -> list[str]:
    order = read.items("allocation_order")
    if sorted(order) != sorted(CLAIM_PARTS):
        read.problem(
            "allocation_order", "Fees, interest and principal, each once, in the order paid."
        )
        return list(CLAIM_PARTS)
    return order


# --- the sections together ----------------------------------------------------------------

SECTIONS: dict[str, type[Section]] = {
    section.name: section
    for section in (
        CommissionTerms,
        InstalmentTerms,
        DunningTerms,
        ContactTerms,
        InterestTerms,
        CollectionTerms,
    )
}


def parse(section: str, values: Mapping[str, Any], currency: str) -> Section:
    """The section ``values`` describe; ``TermsError`` with every problem when they do not."""
    problems: list[Problem] = []
    terms = SECTIONS[section].read(_Reader(values, currency, problems))
    if problems:
        raise TermsError(problems)
    return terms


def current(tenant: Tenant, section: str) -> Section:
    return SECTIONS[section].of(tenant)


def form_values(tenant: Tenant, section: str) -> dict[str, Any]:
    return current(tenant, section).values(tenant.currency)


def describe(tenant: Tenant) -> dict[str, list[str]]:
    """Each section's terms in plain words, by section name."""
    return {name: current(tenant, name).words(tenant.currency) for name in SECTIONS}


def apply(session: Session, tenant: Tenant, terms: Section, *, actor_id: int) -> bool:
    """Write the section to the tenant from now on; False when nothing changed."""
    after = terms.columns()
    before = {column: getattr(tenant, column) for column in after}
    changed = sorted(column for column in after if before[column] != after[column])
    if not changed:
        return False
    for column in changed:
        setattr(tenant, column, after[column])
    audit.record(
        session,
        "tenant.terms_changed",
        actor_id=actor_id,
        tenant_id=tenant.id,
        subject=tenant,
        section=terms.name,
        before={column: before[column] for column in changed},
        after={column: after[column] for column in changed},
    )
    session.flush()
    return True
