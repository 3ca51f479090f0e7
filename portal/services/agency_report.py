"""The agency's business at a glance, across its clients: who collected what, what the
agency earned, how promises and plans hold, what the legal pipeline carries.

Four aggregate queries answer every table, whatever the number of cases: the cases per
stage (the running totals per stage, ``CaseStageTotal``; the currencies on offer and the
legal stages come from the same rows), the payments and reversals (``MoneyInTotal``:
per collector, client and month at once), promises, plans and legal requests
(``CaseEventTotal``), and the calls (``CallTotal``), each per day and per month. The
running totals move with every write that changes their sources (``rollups``), so no
page reads a case, call, event or payment one by one. Date boundaries are
computed here and bound as parameters, so the same SQL runs on SQLite and PostgreSQL.
Amounts are never added across currencies: money tables are for the filter's one currency.
Reads go through the session's tenant scope (every running total is a tenant's), so staff
limited to some clients see only those clients' figures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    func,
    literal_column,
    or_,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from portal.models import (
    MONTH,
    NO_COLLECTOR,
    CallTotal,
    CaseEventTotal,
    CaseStageTotal,
    LegalRequestStatus,
    MoneyInTotal,
    PlanStatus,
    PromiseStatus,
    Stage,
    Tenant,
    User,
)
from portal.services import rollups
from portal.services.money import is_currency
from portal.services.report_months import month_index

DEFAULT_CURRENCY = "EUR"  # shown when the agency has no cases at all
DEFAULT_MONTHS = 12
MAX_MONTHS = 36
EARLIEST_DAY, LATEST_DAY = date(2000, 1, 1), date(2099, 12, 31)
UNASSIGNED = "Unassigned"
LEGAL_STAGES = (Stage.LEGAL_REVIEW, Stage.LITIGATION, Stage.JUDGMENT, Stage.ENFORCEMENT)
PROMISE_STATUSES = (PromiseStatus.KEPT, PromiseStatus.BROKEN, PromiseStatus.OPEN)
PROMISE_LABELS = {PromiseStatus.KEPT: "Kept", PromiseStatus.BROKEN: "Broken",
                  PromiseStatus.OPEN: "Still open"}  # fmt: skip
PLAN_STATUSES = (PlanStatus.ACTIVE, PlanStatus.COMPLETED, PlanStatus.BROKEN)
REQUEST_STATUSES = tuple(LegalRequestStatus)


# -- The filter ------------------------------------------------------------------------


@dataclass(frozen=True)
class AgencyFilter:
    """The period (both days included), the one currency of the money tables, and today."""

    period_from: date
    period_to: date
    currency: str
    today: date

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.period_from, time.min, UTC)

    @property
    def ends_before(self) -> datetime:
        return datetime.combine(self.period_to + timedelta(days=1), time.min, UTC)


def default_period(today: date) -> tuple[date, date]:
    """The last twelve calendar months, this one (up to today) included."""
    return _month_start(today, -(DEFAULT_MONTHS - 1)), today


def read_filter(
    args: Mapping[str, str], *, today: date, currencies: Sequence[str]
) -> tuple[AgencyFilter, list[str]]:
    """The filter from ``from``, ``to`` and ``currency``; each bad value is reported in
    words and replaced by its default (never refused: it is a filter, not a form)."""
    problems: list[str] = []
    default_from, default_to = default_period(today)
    period_from = _day(args.get("from", ""), "start", problems) or default_from
    period_to = _day(args.get("to", ""), "end", problems) or default_to
    if period_from > period_to:
        problems.append("The period starts after it ends; showing the last 12 months.")
        period_from, period_to = default_from, default_to
    elif _months_between(period_from, period_to) > MAX_MONTHS:
        problems.append(f"A period covers at most {MAX_MONTHS} months; showing the last 12 months.")
        period_from, period_to = default_from, default_to
    currency = _currency(args.get("currency", ""), currencies, problems)
    return AgencyFilter(period_from, period_to, currency, today), problems


def _day(text: str, which: str, problems: list[str]) -> date | None:
    text = text.strip()
    if not text:
        return None
    try:
        day = date.fromisoformat(text)
    except ValueError:
        problems.append(f"“{text[:20]}” is not a date (YYYY-MM-DD); the default {which} is used.")
        return None
    if not EARLIEST_DAY <= day <= LATEST_DAY:
        problems.append(
            f"The {which} must be between {EARLIEST_DAY.year} and {LATEST_DAY.year}; "
            f"the default {which} is used."
        )
        return None
    return day


def _currency(text: str, currencies: Sequence[str], problems: list[str]) -> str:
    code, fallback = text.strip().upper(), _default_currency(currencies)
    if not code or code in currencies:
        return code or fallback
    if not is_currency(code):
        problems.append(f"“{text.strip()[:20]}” is not a currency code; showing {fallback}.")
    else:
        problems.append(f"There are no cases in {code}; showing {fallback}.")
    return fallback


def _default_currency(currencies: Sequence[str]) -> str:
    return currencies[0] if currencies else DEFAULT_CURRENCY


def _month_start(day: date, months_later: int) -> date:
    index = day.year * 12 + day.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


def _months_between(first: date, last: date) -> int:
    """How many calendar months the period touches (both ends counted)."""
    return (last.year * 12 + last.month) - (first.year * 12 + first.month) + 1


def _whole(value: Any) -> int:
    """A sum or count as read: None (nothing to add up) is zero."""
    return int(value or 0)


# -- The ledger: collected per collector, per client and per month -----------------------


@dataclass(frozen=True)
class Collected:
    """Money collected in the period: payments less what was given back."""

    key: int | None
    name: str
    payments: int  # how many payments (reversals not counted)
    collected: int
    commission: int

    @property
    def net_to_creditor(self) -> int:
        return self.collected - self.commission


@dataclass(frozen=True)
class Month:
    first_day: date  # the calendar month's first day: what the month is called by
    collected: int
    commission: int
    days: tuple[date, date]  # the month's days inside the period, both included

    @property
    def label(self) -> str:
        return self.first_day.strftime("%b %Y")


@dataclass(frozen=True)
class LedgerFigures:
    """The period's money three ways: per collector, per client, per month."""

    collectors: list[Collected]
    clients: list[Collected]
    months: list[Month]


def months_of(filters: AgencyFilter) -> list[tuple[date, date]]:
    """Each calendar month the period touches, as its first and last day in the period."""
    months = []
    for step in range(_months_between(filters.period_from, filters.period_to)):
        first = _month_start(filters.period_from, step)
        last = _month_start(first, 1) - timedelta(days=1)
        months.append((max(first, filters.period_from), min(last, filters.period_to)))
    return months


def ledger_figures(session: Session, filters: AgencyFilter) -> LedgerFigures:
    """Payments and reversals in the period (by value date, in the filter's currency):
    one query over their running totals (``MoneyInTotal``), summed three ways at once,
    per collector credited on the payment, per client and per month (a row each). Money
    that came in on unassigned cases is listed last as "Unassigned"; months without any
    show zero."""
    month = month_index(MoneyInTotal.day, [first for first, _ in months_of(filters)])
    totals = (
        select(
            MoneyInTotal.collector_key,
            MoneyInTotal.tenant_id,
            month.label("month"),
            MoneyInTotal.payments,
            MoneyInTotal.collected_minor,
            MoneyInTotal.commission_minor,
        )
        .where(MoneyInTotal.currency == filters.currency, _spans(MoneyInTotal, filters))
        .subquery()
    )
    sums = union_all(*(_summed(totals, way) for way in ("collector_key", "tenant_id", "month")))
    summed = sums.subquery()
    statement = (
        select(summed, User.name.label("collector"), Tenant.name.label("client"))
        .outerjoin(User, and_(summed.c.way == "collector_key", User.id == summed.c.key))
        .outerjoin(Tenant, and_(summed.c.way == "tenant_id", Tenant.id == summed.c.key))
    )
    collectors, clients = [], []
    months = [Month(days[0].replace(day=1), 0, 0, days) for days in months_of(filters)]
    for row in session.execute(statement):
        payments, money, commission = _whole(row.n), _whole(row.collected), _whole(row.commission)
        if row.way == "collector_key":
            key = _collector(row.key)
            name = row.collector or UNASSIGNED
            collectors.append(Collected(key, name, payments, money, commission))
        elif row.way == "tenant_id":
            clients.append(Collected(row.key, row.client, payments, money, commission))
        else:
            months[row.key] = replace(months[row.key], collected=money, commission=commission)
    return LedgerFigures(_by_collected(collectors), _by_collected(clients), months)


def _summed(totals: Subquery, way: str) -> Select[Any]:
    """The totals summed per one of their columns (grouped by the subquery's column:
    PostgreSQL cannot tell that a GROUP BY expression with bound dates is the one
    selected); groups of nothing but zeros left out."""
    sums = [
        func.sum(totals.c[name]) for name in ("payments", "collected_minor", "commission_minor")
    ]
    return (
        select(
            literal_column(f"'{way}'").label("way"),
            totals.c[way].label("key"),
            sums[0].label("n"),
            sums[1].label("collected"),
            sums[2].label("commission"),
        )
        .group_by(totals.c[way])
        .having(or_(*(total != 0 for total in sums)))
    )


def _by_collected(lines: list[Collected]) -> list[Collected]:
    return sorted(lines, key=lambda row: (row.key is None, -row.collected, row.name.lower()))


def collected_per_collector(session: Session, filters: AgencyFilter) -> list[Collected]:
    """Per collector (one query: ``ledger_figures``)."""
    return ledger_figures(session, filters).collectors


def collected_per_client(session: Session, filters: AgencyFilter) -> list[Collected]:
    """Per client: collected, the agency's commission, the net due to them (one query:
    ``ledger_figures``)."""
    return ledger_figures(session, filters).clients


def commission_per_month(session: Session, filters: AgencyFilter) -> list[Month]:
    """Every calendar month of the period, zero-filled; the first and last count only
    their days inside the period (one query: ``ledger_figures``)."""
    return ledger_figures(session, filters).months


# -- Promises kept and broken -------------------------------------------------------------


@dataclass
class PromiseLine:
    """Promises due in the period that one collector recorded, by how they went."""

    key: int | None
    name: str
    counts: dict[PromiseStatus, int] = field(default_factory=dict)
    amounts: dict[PromiseStatus, int] = field(default_factory=dict)

    def count(self, status: PromiseStatus) -> int:
        return self.counts.get(status, 0)

    def amount(self, status: PromiseStatus) -> int:
        return self.amounts.get(status, 0)

    @property
    def kept_rate(self) -> float | None:
        """Kept of those resolved (kept or broken); None while none is."""
        resolved = self.count(PromiseStatus.KEPT) + self.count(PromiseStatus.BROKEN)
        return self.count(PromiseStatus.KEPT) / resolved if resolved else None


def promises_per_collector(session: Session, filters: AgencyFilter) -> list[PromiseLine]:
    """Promises due in the period, per collector who took them and status (kept, broken,
    still open); cancelled ones are left out. One query: ``case_events``."""
    return case_events(session, filters).promises


def promise_totals(lines: Sequence[PromiseLine]) -> PromiseLine:
    total = PromiseLine(None, "All collectors")
    for line in lines:
        for status in PROMISE_STATUSES:
            total.counts[status] = total.count(status) + line.count(status)
            total.amounts[status] = total.amount(status) + line.amount(status)
    return total


# -- Right party contacts -----------------------------------------------------------------


@dataclass(frozen=True)
class Contacts:
    """Calls a collector logged in the period, and how many reached the debtor."""

    key: int | None
    name: str
    calls: int
    right_party: int

    @property
    def rate(self) -> float | None:
        return self.right_party / self.calls if self.calls else None


def contacts_per_collector(session: Session, filters: AgencyFilter) -> list[Contacts]:
    """Calls logged in the period per collector, and the right party contacts among them
    (the debtor was spoken to, or answered an invoice check). Not money: every currency.
    One query, over the running totals per day (``CallTotal``)."""
    sums = (
        select(
            CallTotal.collector_key.label("key"),
            func.sum(CallTotal.calls).label("calls"),
            func.sum(CallTotal.right_party).label("reached"),
        )
        .where(_spans(CallTotal, filters))
        .group_by(CallTotal.collector_key)
        .having(func.sum(CallTotal.calls) != 0)
        .subquery()
    )
    statement = select(sums, User.name).outerjoin(User, User.id == sums.c.key)
    rows = [
        Contacts(
            _collector(row.key),
            row.name or "Not recorded by a collector",
            _whole(row.calls),
            _whole(row.reached),
        )
        for row in session.execute(statement)
    ]
    return sorted(rows, key=lambda row: (row.key is None, -row.right_party, row.name.lower()))


def _spans(model: type[CallTotal | CaseEventTotal | MoneyInTotal], filters: AgencyFilter
           ) -> ColumnElement[bool]:  # fmt: skip
    """A totals table's rows that add up the period's days, each once."""
    return rollups.in_period(model.span, model.day, filters.period_from, filters.period_to)


def _collector(key: int) -> int | None:
    """A collector's user id from a running total's key (None: no collector recorded)."""
    return None if key == NO_COLLECTOR else key


# -- Cases per stage ----------------------------------------------------------------------


@dataclass(frozen=True)
class StageRow:
    """Cases of one client in one stage and currency today: how many, what they owe."""

    currency: str
    stage: Stage
    tenant_id: int
    tenant_name: str
    cases: int
    outstanding: int


def stage_rows(session: Session) -> list[StageRow]:
    """Every currency, stage and client, today: the running totals per stage
    (``CaseStageTotal``), one short read. The currencies on offer and the legal
    pipeline's cases come from these rows too."""
    statement = (
        select(CaseStageTotal, Tenant.name)
        .join(Tenant, Tenant.id == CaseStageTotal.tenant_id)
        .where(CaseStageTotal.cases != 0)
    )
    return [
        StageRow(total.currency, total.stage, total.tenant_id, name, total.cases,
                 total.outstanding_minor)
        for total, name in session.execute(statement).tuples()
    ]  # fmt: skip


def currencies_in(rows: Sequence[StageRow]) -> list[str]:
    """The currencies cases are in, the most common first (the default)."""
    counts: Counter[str] = Counter()
    for row in rows:
        counts[row.currency] += row.cases
    return sorted(counts, key=lambda currency: (-counts[currency], currency))


@dataclass
class StageLine:
    stage: Stage
    cases: int = 0
    outstanding: int = 0
    per_client: dict[int, tuple[int, int]] = field(default_factory=dict)  # cases, owed


@dataclass(frozen=True)
class StageTable:
    clients: list[tuple[int, str]]  # id, name: the columns
    lines: list[StageLine]  # every stage that has cases, in process order

    @property
    def cases(self) -> int:
        return sum(line.cases for line in self.lines)

    @property
    def outstanding(self) -> int:
        return sum(line.outstanding for line in self.lines)

    def open_cases(self) -> int:
        return sum(line.cases for line in self.lines if line.stage is not Stage.CLOSED)


def cases_per_stage(rows: Sequence[StageRow], currency: str) -> StageTable:
    """The stage rows of one currency as a table: a line per stage, a column per client."""
    mine = [row for row in rows if row.currency == currency]
    lines = {stage: StageLine(stage) for stage in Stage}
    for row in mine:
        line = lines[row.stage]
        line.cases += row.cases
        line.outstanding += row.outstanding
        line.per_client[row.tenant_id] = (row.cases, row.outstanding)
    clients = sorted({(row.tenant_id, row.tenant_name) for row in mine}, key=lambda c: c[1].lower())
    return StageTable(clients, [line for line in lines.values() if line.cases])


# -- Legal pipeline -----------------------------------------------------------------------


@dataclass(frozen=True)
class RequestLine:
    """Requests for legal action of one status: waiting now, or decided in the period."""

    status: LegalRequestStatus
    requests: int
    estimate: int  # court and lawyer fees estimated
    outstanding: int  # what the cases owe today

    @property
    def label(self) -> str:
        return REQUEST_LABELS[self.status]


REQUEST_LABELS = {
    LegalRequestStatus.AWAITING_CREDITOR: "Waiting for the client's approval",
    LegalRequestStatus.APPROVED: "Approved in the period",
    LegalRequestStatus.DECLINED: "Declined in the period",
}


@dataclass(frozen=True)
class LegalPipeline:
    requests: list[RequestLine]  # one per status, zero-filled
    stages: list[StageLine]  # the legal stages, zero-filled

    @property
    def cases(self) -> int:
        return sum(line.cases for line in self.stages)

    @property
    def outstanding(self) -> int:
        return sum(line.outstanding for line in self.stages)


def legal_pipeline(
    session: Session, filters: AgencyFilter, rows: Sequence[StageRow]
) -> LegalPipeline:
    """Requests for legal action by status, and the cases in each legal stage today (from
    ``rows``, the cases-per-stage rows, so no second pass over the cases). One query:
    ``case_events``."""
    return _pipeline(case_events(session, filters).requests, rows, filters.currency)


def _pipeline(
    requests: list[RequestLine], rows: Sequence[StageRow], currency: str
) -> LegalPipeline:
    by_stage = {line.stage: line for line in cases_per_stage(rows, currency).lines}
    return LegalPipeline(
        requests, [by_stage.get(stage, StageLine(stage)) for stage in LEGAL_STAGES]
    )


# -- Instalment plans ---------------------------------------------------------------------


@dataclass(frozen=True)
class PlanLine:
    status: PlanStatus
    plans: int
    total: int  # what the plans were agreed for
    outstanding: int  # what their cases owe today

    @property
    def label(self) -> str:
        return PLAN_LABELS[self.status]


PLAN_LABELS = {
    PlanStatus.ACTIVE: "Active now",
    PlanStatus.COMPLETED: "Completed in the period",
    PlanStatus.BROKEN: "Broken in the period",
}


def plans_by_status(session: Session, filters: AgencyFilter) -> list[PlanLine]:
    """Plans running today, and plans completed or broken in the period. One query:
    ``case_events``."""
    return case_events(session, filters).plans


# -- Promises, plans and legal requests in one pass over the cases --------------------------


@dataclass(frozen=True)
class CaseEvents:
    promises: list[PromiseLine]
    plans: list[PlanLine]  # one per status, zero-filled
    requests: list[RequestLine]  # one per status, zero-filled


def _counted(filters: AgencyFilter) -> ColumnElement[bool]:
    """Promises due in the period; plans running, or ended in the period; requests for
    legal action waiting, or decided in the period (the running totals' day is the due,
    ended or decided day, see ``CaseEventTotal``)."""
    now = or_(
        and_(CaseEventTotal.source == "plan", CaseEventTotal.status == PlanStatus.ACTIVE.value),
        and_(
            CaseEventTotal.source == "legal",
            CaseEventTotal.status == LegalRequestStatus.AWAITING_CREDITOR.value,
        ),
    )
    # What counts whatever its day is read off the month rows alone (each event once).
    return or_(and_(now, CaseEventTotal.span == MONTH), and_(~now, _spans(CaseEventTotal, filters)))


def case_events(session: Session, filters: AgencyFilter) -> CaseEvents:
    """Promises, plans and legal requests of the period on cases in the filter's currency,
    counted and summed per kind, status and collector: one query over their running
    totals (``CaseEventTotal``), which also carry what the cases owe today."""
    sums = (
        select(
            CaseEventTotal.source,
            CaseEventTotal.collector_key.label("key"),
            CaseEventTotal.status,
            func.sum(CaseEventTotal.events).label("n"),
            func.sum(CaseEventTotal.amount_minor).label("amount"),
            func.sum(CaseEventTotal.outstanding_minor).label("owed"),
        )
        .where(CaseEventTotal.currency == filters.currency, _counted(filters))
        .group_by(CaseEventTotal.source, CaseEventTotal.collector_key, CaseEventTotal.status)
        .having(func.sum(CaseEventTotal.events) != 0)
        .subquery()
    )
    statement = select(sums, User.name).outerjoin(User, User.id == sums.c.key)
    promises: dict[int | None, PromiseLine] = {}
    plans: dict[PlanStatus, PlanLine] = {}
    legal: dict[LegalRequestStatus, RequestLine] = {}
    for row in session.execute(statement):
        n, amount, owed = _whole(row.n), _whole(row.amount), _whole(row.owed)
        if row.source == "promise":
            key = _collector(row.key)
            line = promises.setdefault(key, PromiseLine(key, row.name or UNASSIGNED))
            line.counts[PromiseStatus(row.status)] = n
            line.amounts[PromiseStatus(row.status)] = amount
        elif row.source == "plan":
            plans[PlanStatus(row.status)] = PlanLine(PlanStatus(row.status), n, amount, owed)
        else:
            status = LegalRequestStatus(row.status)
            legal[status] = RequestLine(status, n, amount, owed)
    return CaseEvents(
        sorted(promises.values(), key=lambda line: (line.key is None, line.name.lower())),
        [plans.get(status, PlanLine(status, 0, 0, 0)) for status in PLAN_STATUSES],
        [legal.get(status, RequestLine(status, 0, 0, 0)) for status in REQUEST_STATUSES],
    )


# -- The whole report ---------------------------------------------------------------------


@dataclass(frozen=True)
class AgencyReport:
    filters: AgencyFilter
    collectors: list[Collected]
    clients: list[Collected]
    months: list[Month]
    promises: list[PromiseLine]
    contacts: list[Contacts]
    stages: StageTable
    legal: LegalPipeline
    plans: list[PlanLine]

    @property
    def collected(self) -> int:
        return sum(row.collected for row in self.clients)

    @property
    def commission(self) -> int:
        return sum(row.commission for row in self.clients)

    @property
    def promise_totals(self) -> PromiseLine:
        return promise_totals(self.promises)

    @property
    def right_party_contacts(self) -> int:
        return sum(row.right_party for row in self.contacts)

    @property
    def calls(self) -> int:
        return sum(row.calls for row in self.contacts)


def build_report(session: Session, filters: AgencyFilter, rows: Sequence[StageRow]) -> AgencyReport:
    """Every table of the dashboard: three queries, given the cases-per-stage ``rows``."""
    money, events = ledger_figures(session, filters), case_events(session, filters)
    return AgencyReport(
        filters=filters,
        collectors=money.collectors,
        clients=money.clients,
        months=money.months,
        promises=events.promises,
        contacts=contacts_per_collector(session, filters),
        stages=cases_per_stage(rows, filters.currency),
        legal=_pipeline(events.requests, rows, filters.currency),
        plans=events.plans,
    )
