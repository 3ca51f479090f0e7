"""Reading the case-list filters from a query string, the same way on every page."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from portal.models import Stage
from portal.services.case_lists import SORTS, CaseFilter


def _day(text: str) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


def case_filter_from(args: Mapping[str, str], **fixed: object) -> CaseFilter:
    """Unknown or malformed values are ignored (a filter, not a form to reject)."""
    stage_value = args.get("stage", "")
    stage = Stage(stage_value) if stage_value in {s.value for s in Stage} else None
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 6 else 1
    tenant_text = args.get("tenant", "")
    tenant_id = int(tenant_text) if tenant_text.isdigit() and len(tenant_text) < 10 else None
    sort = args.get("sort", "")
    values: dict[str, object] = {
        "search": args.get("q", "")[:100],
        "stage": stage,
        "tenant_id": tenant_id,
        "placed_from": _day(args.get("from", "")),
        "placed_to": _day(args.get("to", "")),
        "sort": sort if sort in SORTS else "next_action",
        "page": page,
    }
    values.update(fixed)
    return CaseFilter(**values)  # type: ignore[arg-type]
