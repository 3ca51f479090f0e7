"""Reading the case-list filters from a query string, the same way on every page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from portal.models import Stage
from portal.services.case_lists import DISPUTE_FILTERS, REASON_KEY_LENGTH, SORTS, CaseFilter
from portal.services.money import is_currency
from portal.services.portfolio_report import ReportFilter

ASSIGNED_CHOICES = {"": "Anyone", "me": "Assigned to me", "none": "Unassigned"}


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def _amount(text: str) -> Decimal | None:
    """A non-negative amount in major units (``1,250.50``); anything else is no filter."""
    plain = text.strip().replace(",", "")
    if not plain or len(plain) > 20:
        return None
    try:
        value = Decimal(plain)
    except InvalidOperation:
        return None
    return value if value.is_finite() and 0 <= value < 10**12 else None


def _count(text: str, limit: int = 6) -> int | None:
    return int(text) if text.isdigit() and len(text) <= limit else None


def currency_code(text: str) -> str | None:
    """An ISO 4217 code as typed (``eur`` too), upper case; None when it is not one."""
    code = text.strip().upper()
    return code if len(code) == 3 and code.isalpha() and is_currency(code) else None


def _token(text: str, limit: int) -> str:
    """A value compared as it is (a sign, a debtor key): too long, or with control
    characters, it cannot match anything, so it is no filter."""
    if len(text) > limit or any(ord(char) < 32 for char in text):
        return ""
    return text


def case_filter_from(
    args: Mapping[str, str],
    *,
    me_id: int | None = None,
    today: date | None = None,
    default_sort: str = "next_action",
    **fixed: object,
) -> CaseFilter:
    """Unknown or malformed values are ignored (a filter, not a form to reject).

    ``me_id`` is whom ``assigned=me`` means; ``today`` is the day ages count up to.
    """
    stage_value = args.get("stage", "")
    stage = Stage(stage_value) if stage_value in {s.value for s in Stage} else None
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 6 else 1
    tenant_text = args.get("tenant", "")
    tenant_id = int(tenant_text) if tenant_text.isdigit() and len(tenant_text) < 10 else None
    sort = args.get("sort", "")
    assigned = args.get("assigned", "")
    values: dict[str, object] = {
        # PostgreSQL text cannot hold NUL: a search for it would be an error, not "no match".
        "search": args.get("q", "")[:100].replace("\x00", ""),
        "stage": stage,
        "tenant_id": tenant_id,
        "placed_from": _day(args.get("from", "")),
        "placed_to": _day(args.get("to", "")),
        "min_outstanding": _amount(args.get("min", "")),
        "max_outstanding": _amount(args.get("max", "")),
        "min_age_days": _count(args.get("age", "")),
        "broken_promise": args.get("broken") == "1",
        "assigned_to": me_id if assigned == "me" else None,
        "unassigned": assigned == "none",
        "today": today,
        "sort": sort if sort in SORTS else default_sort,
        "page": page,
        **_insight_values(args),
    }
    values.update(fixed)
    return CaseFilter(**values)  # type: ignore[arg-type]


def _insight_values(args: Mapping[str, str]) -> dict[str, object]:
    """The criteria the dashboards link with (``age_to``, ``currency``, ``open``...)."""
    dispute = args.get("dispute", "")
    return {
        "max_age_days": _count(args.get("age_to", "")),
        "currency": currency_code(args.get("currency", "")),
        "open_only": args.get("open") == "1",
        "paid_from": _day(args.get("paid_from", "")),
        "paid_to": _day(args.get("paid_to", "")),
        "warning_sign": _token(args.get("sign", ""), 64) or None,
        "min_delay_days": _count(args.get("delay", "")),
        "max_delay_days": _count(args.get("delay_to", "")),
        "dispute": dispute if dispute in DISPUTE_FILTERS else None,
        "dispute_reason": _token(args.get("reason", ""), REASON_KEY_LENGTH),
        "debtor_key": _token(args.get("debtor", ""), 300),
        "awaiting_decision": args.get("waiting") == "1",
    }


def report_filter_from(
    args: Mapping[str, str], *, default_currency: str, today: date
) -> tuple[ReportFilter, list[str]]:
    """The dashboards' filter, and what was wrong with the query string, in words.

    Unlike the case lists, a dashboard says when it ignored a value: figures shown for
    another currency or period than the one asked for would be read as the answer. A
    wrong value falls back to its default (the tenant's currency, no bound on the period).
    """
    problems: list[str] = []
    currency_text = args.get("currency", "").strip()
    currency = currency_code(currency_text) if currency_text else default_currency
    if currency is None:
        problems.append(
            f"“{currency_text[:12]}” is not a currency code: the figures are in {default_currency}."
        )
        currency = default_currency
    bounds: dict[str, date | None] = {}
    for name, words in (("from", "start"), ("to", "end")):
        text = args.get(name, "").strip()
        bounds[name] = _day(text)
        if text and bounds[name] is None:
            problems.append(
                f"The {words} of the period is not a day written as YYYY-MM-DD (“{text[:20]}”): "
                "it is left open."
            )
    first, last = bounds["from"], bounds["to"]
    if first is not None and last is not None and first > last:
        problems.append("The period starts after it ends: showing every placement date.")
        first = last = None
    return ReportFilter(currency=currency, today=today, placed_from=first, placed_to=last), problems
