"""The creditor's dashboard and the "why accounts go unpaid" view, with CSV of the tables.

Every figure links to the case list behind it: the links carry the page's filter (currency,
placement period) and the figure's own criterion, which the case list applies with the
same SQL as the figure (``portal.services.case_lists``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, request, url_for
from flask_login import current_user

from portal import db
from portal.creditor import bp
from portal.db import utcnow
from portal.services import audit, creditor_decisions, portfolio_report, unpaid_insights
from portal.services.money import format_money, to_decimal
from portal.services.portfolio_report import PortfolioReport, ReportFilter
from portal.services.spreadsheet import csv_lines
from portal.web.charts import ChartPoint
from portal.web.downloads import csv_attachment
from portal.web.filters import report_filter_from
from portal.web.rendering import render_page

CsvTable = tuple[list[str], list[list[object]]]


def _report_filter() -> tuple[ReportFilter, list[str]]:
    tenant = current_user.tenant
    return report_filter_from(
        request.args,
        default_currency=tenant.currency if tenant is not None else "EUR",
        today=utcnow().date(),
    )


def _filter_args(report_filter: ReportFilter) -> dict[str, Any]:
    """The page's filter as query arguments (what the case list and the CSV links carry)."""
    args: dict[str, Any] = {"currency": report_filter.currency}
    if report_filter.placed_from is not None:
        args["from"] = report_filter.placed_from.isoformat()
    if report_filter.placed_to is not None:
        args["to"] = report_filter.placed_to.isoformat()
    return args


def _cases_url(report_filter: ReportFilter) -> Callable[..., str]:
    """``cases_url(stage="closed")``: the creditor's case list behind a figure."""
    base = _filter_args(report_filter)

    def cases_url(**criteria: object) -> str:
        values: dict[str, Any] = {
            **base,
            **{name: str(value) for name, value in criteria.items() if value is not None},
        }
        return url_for("creditor.home", **values)

    return cases_url


def _export_url(report_filter: ReportFilter) -> Callable[[str], str]:
    args = _filter_args(report_filter)
    return lambda table: url_for(f"creditor.dashboard_{table}_csv", **args)


def _currency_choices(report_filter: ReportFilter, present: list[str]) -> list[str]:
    tenant = current_user.tenant
    own = [tenant.currency] if tenant is not None else []
    return sorted({*present, *own, report_filter.currency})


def _month_points(report: PortfolioReport, cases_url: Callable[..., str]) -> list[ChartPoint]:
    """Bars for collected per month; a month where more was given back than collected
    shows no bar (its text says the amount)."""
    currency = report.filter.currency
    return [
        ChartPoint(
            label=row.label.split()[0],  # the year is in the caption and on hover
            value=max(0, row.collected),
            text=f"{format_money(row.collected, currency)} in {row.first:%B %Y}",
            href=cases_url(paid_from=row.first.isoformat(), paid_to=row.last.isoformat()),
        )
        for row in report.months
    ]


@bp.get("/dashboard")
def dashboard() -> str:
    report_filter, problems = _report_filter()
    report = portfolio_report.build(db.session, report_filter)
    cases_url = _cases_url(report_filter)
    return render_page(
        "creditor/dashboard.html",
        report=report,
        problems=problems,
        currencies=_currency_choices(report_filter, report.currencies),
        waiting=creditor_decisions.waiting(db.session),
        cases_url=cases_url,
        month_points=_month_points(report, cases_url),
        export_url=_export_url(report_filter),
        filter_args=_filter_args(report_filter),
    )


@bp.get("/unpaid")
def unpaid() -> str:
    report_filter, problems = _report_filter()
    insights = unpaid_insights.build(db.session, report_filter)
    cases_url = _cases_url(report_filter)
    delay_points = [
        ChartPoint(
            label=row.label.removesuffix(" days"),
            value=round(row.totals.recovery_rate * 100, 1),
            text=f"{row.totals.recovery_rate * 100:.1f} % recovered of "
            f"{format_money(row.totals.placed, report_filter.currency)} placed",
            href=cases_url(delay=row.first or None, delay_to=row.last),
        )
        for row in insights.delays
    ]
    return render_page(
        "creditor/unpaid.html",
        insights=insights,
        problems=problems,
        currencies=_currency_choices(report_filter, []),
        cases_url=cases_url,
        delay_points=delay_points,
        filter_args=_filter_args(report_filter),
    )


# --- CSV of the dashboard's tables -----------------------------------------------------------


def _percent(rate: float) -> str:
    return f"{rate * 100:.1f}"


def _stages_csv(report: PortfolioReport) -> CsvTable:
    currency = report.filter.currency
    header = [
        "stage",
        "currency",
        "cases",
        "placed",
        "collected",
        "outstanding",
        "recovery_percent",
    ]
    rows: list[list[object]] = [
        [
            row.stage.label,
            currency,
            row.totals.count,
            to_decimal(row.totals.placed, currency),
            to_decimal(row.totals.collected, currency),
            to_decimal(row.totals.outstanding, currency),
            _percent(row.totals.recovery_rate),
        ]
        for row in report.stages
    ]
    return header, rows


def _ageing_csv(report: PortfolioReport) -> CsvTable:
    currency = report.filter.currency
    header = ["days_past_due", "currency", "open_cases", "outstanding"]
    rows: list[list[object]] = [
        [row.bucket.label, currency, row.count, to_decimal(row.outstanding, currency)]
        for row in report.ageing
    ]
    return header, rows


def _months_csv(report: PortfolioReport) -> CsvTable:
    currency = report.filter.currency
    header = ["month", "currency", "collected"]
    rows: list[list[object]] = [
        [f"{row.first:%Y-%m}", currency, to_decimal(row.collected, currency)]
        for row in report.months
    ]
    return header, rows


CSV_TABLES: dict[str, Callable[[PortfolioReport], CsvTable]] = {
    "stages": _stages_csv,
    "ageing": _ageing_csv,
    "months": _months_csv,
}


def _csv_view(table: str) -> Callable[[], Response]:
    """The view for ``/creditor/dashboard/<table>.csv``: one route per table, so any other
    name is not found by the router (404) and the route takes no URL argument."""

    def export() -> Response:
        report_filter, _problems = _report_filter()
        report = portfolio_report.build(db.session, report_filter)
        header, rows = CSV_TABLES[table](report)
        filename = f"dashboard-{table}-{report_filter.currency}-{report_filter.today}.csv"
        audit.record(db.session, "report.exported", actor_id=current_user.id,
                     tenant_id=current_user.tenant_id, ip_address=request.remote_addr,
                     table=table, filter=request.args.to_dict())  # fmt: skip
        db.session.commit()
        return csv_attachment(filename, "".join(csv_lines(header, rows)))

    export.__name__ = f"dashboard_{table}_csv"
    return export


for _table in CSV_TABLES:
    bp.add_url_rule(f"/dashboard/{_table}.csv", f"dashboard_{_table}_csv", _csv_view(_table))
