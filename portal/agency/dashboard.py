"""The agency dashboard: the business across clients for a period, each table as CSV.

For agency admins only: the figures (what each collector and client brought in, the
commission earned) are management's, not the collectors' work. A bad filter value is
said in words and its default used; the page always answers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from flask import Response, request, url_for
from flask_login import current_user
from sqlalchemy.orm import Session

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Role
from portal.services import agency_report, audit
from portal.services.agency_report import AgencyFilter, StageRow
from portal.services.money import to_decimal
from portal.services.spreadsheet import csv_lines
from portal.web.access import roles_required
from portal.web.charts import ChartPoint
from portal.web.downloads import csv_attachment
from portal.web.i18n import money
from portal.web.rendering import render_page

Rows = Iterable[list[object]]
MONTHS_WITH_YEAR = 12  # up to this many bars, each is labelled "Jan 25"


def _filter() -> tuple[AgencyFilter, list[str], list[StageRow], list[str]]:
    """The filter from the query string, what was wrong with it, the cases-per-stage rows
    (every currency: they also say which currencies there are) and those currencies."""
    rows = agency_report.stage_rows(db.session)
    currencies = agency_report.currencies_in(rows)
    today = utcnow().date()
    filters, problems = agency_report.read_filter(request.args, today=today, currencies=currencies)
    return filters, problems, rows, currencies


def _query(filters: AgencyFilter) -> dict[str, Any]:
    return {
        "from": filters.period_from.isoformat(),
        "to": filters.period_to.isoformat(),
        "currency": filters.currency,
    }


@bp.get("/dashboard")
@roles_required(Role.AGENCY_ADMIN)
def dashboard() -> str:
    """Cards, a chart of the commission per month and every table, for one period and
    currency (by default the last 12 months and the currency most cases are in)."""
    filters, problems, rows, currencies = _filter()
    query = _query(filters)
    report = agency_report.build_report(db.session, filters, rows)
    return render_page(
        "agency/dashboard.html",
        report=report,
        filters=filters,
        problems=problems,
        currencies=currencies or [filters.currency],
        csv_links={name: url_for(f"agency.dashboard_{name}_csv", **query) for name in EXPORTS},
        chart=_chart(report.months, filters),
        promise_statuses=agency_report.PROMISE_STATUSES,
        promise_labels=agency_report.PROMISE_LABELS,
    )


def _chart(months: list[agency_report.Month], filters: AgencyFilter) -> list[ChartPoint]:
    """Each month's commission; its bar opens the dashboard for that month. More than a
    year of bars leaves room for the month's name only."""
    label = "%b %y" if len(months) <= MONTHS_WITH_YEAR else "%b"
    bars = []
    for month in months:
        first, last = month.days
        query: dict[str, Any] = {"from": first.isoformat(), "to": last.isoformat()}
        query["currency"] = filters.currency
        bars.append(
            # A month that gave back more than it earned shows no bar (its words say it).
            ChartPoint(month.first_day.strftime(label), max(month.commission, 0),
                money(month.commission, filters.currency), url_for("agency.dashboard", **query))
        )  # fmt: skip
    return bars


# -- CSV ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Export:
    """One table as CSV: its columns, and its rows from the same service function."""

    header: list[str]
    rows: Callable[[Session, AgencyFilter, list[StageRow]], Rows]


def _money(amount: int, filters: AgencyFilter) -> Decimal:
    return to_decimal(amount, filters.currency)


def _percent(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.1f}"


def _collectors(session: Session, filters: AgencyFilter, _rows: list[StageRow]) -> Rows:
    for row in agency_report.collected_per_collector(session, filters):
        yield [row.name, row.payments, _money(row.collected, filters),
               _money(row.commission, filters), _money(row.net_to_creditor, filters),
               filters.currency]  # fmt: skip


def _clients(session: Session, filters: AgencyFilter, _rows: list[StageRow]) -> Rows:
    for row in agency_report.collected_per_client(session, filters):
        yield [row.name, row.payments, _money(row.collected, filters),
               _money(row.commission, filters), _money(row.net_to_creditor, filters),
               filters.currency]  # fmt: skip


def _months(session: Session, filters: AgencyFilter, _rows: list[StageRow]) -> Rows:
    for month in agency_report.commission_per_month(session, filters):
        yield [month.first_day.strftime("%Y-%m"), _money(month.collected, filters),
               _money(month.commission, filters), filters.currency]  # fmt: skip


def _promises(session: Session, filters: AgencyFilter, _rows: list[StageRow]) -> Rows:
    for line in agency_report.promises_per_collector(session, filters):
        yield [
            line.name,
            *(line.count(status) for status in PROMISES),
            *(_money(line.amount(status), filters) for status in PROMISES),
            _percent(line.kept_rate),
            filters.currency,
        ]


def _contacts(session: Session, filters: AgencyFilter, _rows: list[StageRow]) -> Rows:
    for row in agency_report.contacts_per_collector(session, filters):
        yield [row.name, row.calls, row.right_party, _percent(row.rate)]


def _stages(_session: Session, filters: AgencyFilter, rows: list[StageRow]) -> Rows:
    table = agency_report.cases_per_stage(rows, filters.currency)
    for line in table.lines:
        for client_id, client in table.clients:
            if client_id in line.per_client:
                cases, owed = line.per_client[client_id]
                yield [line.stage.label, client, cases, _money(owed, filters), filters.currency]


def _legal(session: Session, filters: AgencyFilter, rows: list[StageRow]) -> Rows:
    pipeline = agency_report.legal_pipeline(session, filters, rows)
    for request_line in pipeline.requests:
        yield [f"Requests: {request_line.label}", request_line.requests,
               _money(request_line.estimate, filters), _money(request_line.outstanding, filters),
               filters.currency]  # fmt: skip
    for line in pipeline.stages:
        yield [f"Cases in {line.stage.label}", line.cases, "",
               _money(line.outstanding, filters), filters.currency]  # fmt: skip


def _plans(session: Session, filters: AgencyFilter, _rows: list[StageRow]) -> Rows:
    for line in agency_report.plans_by_status(session, filters):
        yield [line.label, line.plans, _money(line.total, filters),
               _money(line.outstanding, filters), filters.currency]  # fmt: skip


PROMISES, PROMISE_LABELS = agency_report.PROMISE_STATUSES, agency_report.PROMISE_LABELS
MONEY = ["Collected", "Commission", "Net to client", "Currency"]
EXPORTS: dict[str, Export] = {
    "collectors": Export(["Collector", "Payments", *MONEY], _collectors),
    "clients": Export(["Client", "Payments", *MONEY], _clients),
    "commission": Export(["Month", "Collected", "Commission", "Currency"], _months),
    "promises": Export(
        [
            "Collector",
            *(PROMISE_LABELS[status] for status in PROMISES),
            *(f"{PROMISE_LABELS[status]} amount" for status in PROMISES),
            "Kept rate %",
            "Currency",
        ],
        _promises,
    ),
    "contacts": Export(["Collector", "Calls", "Right party contacts", "Contact rate %"], _contacts),
    "stages": Export(["Stage", "Client", "Cases", "Outstanding", "Currency"], _stages),
    "legal": Export(
        ["Legal pipeline", "Count", "Estimated costs", "Outstanding", "Currency"], _legal
    ),
    "plans": Export(
        ["Instalment plans", "Plans", "Agreed total", "Outstanding", "Currency"], _plans
    ),
}


def _export(name: str) -> Response:
    filters, _problems, rows, _currencies = _filter()
    export = EXPORTS[name]
    lines = list(csv_lines(export.header, export.rows(db.session, filters, rows)))
    period = f"{filters.period_from:%Y%m%d}-{filters.period_to:%Y%m%d}"
    filename = f"agency-{name}-{period}-{filters.currency}.csv"
    audit.record(db.session, "report.exported", actor_id=current_user.id,
                 ip_address=request.remote_addr, table=name,
                 filter=request.args.to_dict())  # fmt: skip
    db.session.commit()
    return csv_attachment(filename, "".join(lines))


def _register_exports() -> None:
    """A URL per table (``/agency/dashboard/collectors.csv`` ...): an unknown table is no
    route at all (404), and no URL argument names something the route walk must supply."""
    for name in EXPORTS:

        def view(name: str = name) -> Response:
            return _export(name)

        view.__name__ = f"dashboard_{name}_csv"
        view.__doc__ = f"The dashboard's {name} table as CSV, for the same filter."
        bp.add_url_rule(f"/dashboard/{name}.csv", view_func=roles_required(Role.AGENCY_ADMIN)(view))


_register_exports()
