from __future__ import annotations

from flask import request
from flask_login import current_user
from sqlalchemy import select

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Case, OutboxMessage, Role, Stage, Tenant
from portal.services import ledger
from portal.services.case_lists import find_cases
from portal.web.access import load_or_404, roles_required
from portal.web.filters import case_filter_from
from portal.web.rendering import render_page


@bp.get("/")
def queue() -> str:
    """Cases due for action today or earlier, most urgent first."""
    show_all = request.args.get("due") == "all"
    filters = case_filter_from(request.args, due_by=None if show_all else utcnow().date())
    return render_page(
        "agency/queue.html",
        fragment="case_list",
        filters=filters,
        show_all=show_all,
        page=find_cases(db.session, filters),
        tenants=db.session.scalars(select(Tenant).order_by(Tenant.name)).all(),
        all_stages=list(Stage),
        me=current_user,
    )


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> str:
    found = load_or_404(Case, case_id)
    return render_page(
        "agency/case.html",
        case=found,
        balance=ledger.balance(db.session, found),
        timeline=found.activities,
    )


@bp.get("/tenants")
@roles_required(Role.AGENCY_ADMIN)
def tenants() -> str:
    return render_page(
        "agency/tenants.html",
        tenants=db.session.scalars(select(Tenant).order_by(Tenant.name)).all(),
    )


@bp.get("/outbox")
@roles_required(Role.AGENCY_ADMIN)
def outbox() -> str:
    statement = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
    return render_page("agency/outbox.html", messages=db.session.scalars(statement).all())
