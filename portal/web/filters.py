"""Reading the case-list filters from a query string, the same way on every page."""

from __future__ import annotations

from collections.abc import Mapping

from portal.models import Stage
from portal.services.case_lists import CaseFilter


def case_filter_from(args: Mapping[str, str], **fixed: object) -> CaseFilter:
    """Unknown or malformed values are ignored (a filter, not a form to reject)."""
    stage_value = args.get("stage", "")
    stage = Stage(stage_value) if stage_value in {s.value for s in Stage} else None
    page_text = args.get("page", "1")
    page = int(page_text) if page_text.isdigit() and len(page_text) < 6 else 1
    tenant_text = args.get("tenant", "")
    tenant_id = int(tenant_text) if tenant_text.isdigit() and len(tenant_text) < 10 else None
    values: dict[str, object] = {
        "search": args.get("q", "")[:100],
        "stage": stage,
        "tenant_id": tenant_id,
        "page": page,
    }
    values.update(fixed)
    return CaseFilter(**values)  # type: ignore[arg-type]
