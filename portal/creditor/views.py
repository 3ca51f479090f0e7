from __future__ import annotations

from flask import request

from portal import db
from portal.creditor import bp
from portal.models import Case, Stage
from portal.services import ledger, portfolio
from portal.services.case_lists import find_cases, stage_counts
from portal.web.access import load_or_404
from portal.web.filters import case_filter_from
from portal.web.rendering import render_page


@bp.get("/")
def home() -> str:
    filters = case_filter_from(request.args)
    return render_page(
        "creditor/home.html",
        fragment="case_list",
        filters=filters,
        page=find_cases(db.session, filters),
        totals=portfolio.totals_by_currency(db.session),
        open_cases=portfolio.open_case_count(db.session),
        stages=stage_counts(db.session),
        all_stages=list(Stage),
    )


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> str:
    found = load_or_404(Case, case_id)
    timeline = [entry for entry in found.activities if entry.visible_to_creditor]
    return render_page(
        "creditor/case.html",
        case=found,
        balance=ledger.balance(db.session, found),
        timeline=timeline,
    )
