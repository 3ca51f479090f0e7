"""Reading the case-list filters from a query string, the same way on every page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation

from portal.models import Stage
from portal.services.case_lists import SORTS, CaseFilter

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
        "search": args.get("q", "")[:100],
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
    }
    values.update(fixed)
    return CaseFilter(**values)  # type: ignore[arg-type]
