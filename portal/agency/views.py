from __future__ import annotations

from typing import Any

from flask import flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse
from wtforms import Field

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Case, OutboxMessage, Role, Stage, Tenant
from portal.services import ledger, stages
from portal.services.assignment import assignable_collectors
from portal.services.case_lists import SORTS, find_cases
from portal.web.access import load_or_404, roles_required
from portal.web.filters import ASSIGNED_CHOICES, case_filter_from
from portal.web.forms import MessageForm
from portal.web.messaging import send_from_form
from portal.web.rendering import render_page


@bp.get("/")
def queue() -> str:
    """Cases due for action today or earlier, by priority then next action date."""
    show_all = request.args.get("due") == "all"
    today = utcnow().date()
    filters = case_filter_from(
        request.args,
        me_id=current_user.id,
        today=today,
        default_sort="priority",
        due_by=None if show_all else today,
    )
    assigned = request.args.get("assigned", "")
    staff = assignable_collectors(db.session)
    is_admin = current_user.role is Role.AGENCY_ADMIN
    return render_page(
        "agency/queue.html",
        fragment="case_list",
        filters=filters,
        show_all=show_all,
        assigned=assigned if assigned in ASSIGNED_CHOICES else "",
        assigned_choices=ASSIGNED_CHOICES,
        page=find_cases(db.session, filters),
        tenants=db.session.scalars(select(Tenant).order_by(Tenant.name)).all(),
        all_stages=list(Stage),
        sorts=SORTS,
        collectors=staff if is_admin else [],
        collector_names={person.id: person.name for person in staff},
        selectable=is_admin,
        me=current_user,
    )


@bp.get("/cases/<int:case_id>/panel")
def case_panel(case_id: int) -> str:
    """The compact case htmx puts beside the queue (a page of its own without htmx)."""
    found = load_or_404(Case, case_id)
    return render_page(
        "agency/case_panel.html",
        fragment="panel",
        case=found,
        balance=ledger.balance(db.session, found),
        timeline=found.activities[:5],
        collectors=assignable_collectors(db.session)
        if current_user.role is Role.AGENCY_ADMIN
        else [],
    )


def _case_page(
    case: Case, status: int = 200, message_form: MessageForm | None = None
) -> tuple[str, int]:
    page = render_page(
        "agency/case.html",
        case=case,
        balance=ledger.balance(db.session, case),
        timeline=case.activities,
        message_form=message_form or MessageForm(formdata=None),
    )
    return page, status


def case_form_refused(
    case: Case,
    posted: str,
    name: str,
    form: Any,
    *,
    field: Field | None = None,
    error: object = None,
) -> tuple[str, int]:
    """Show the case page again (422) with the refused ``form`` and its errors; nothing of
    the attempt is kept. ``posted`` is the ``g`` attribute the section's template global
    reads its posted forms from (``case_work_forms``, ``legal_forms``, ``check_forms``)."""
    db.session.rollback()
    if error is not None and field is not None:
        field.errors = [*field.errors, str(error)]
    setattr(g, posted, {name: form})
    return _case_page(case, 422)


def case_form_done(case: Case, message: str, anchor: str) -> BaseResponse:
    """Commit what a case-page form did and go back to its section on the page."""
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("agency.case", case_id=case.id, _anchor=anchor))


@bp.get("/cases/<int:case_id>")
def case(case_id: int) -> tuple[str, int]:
    return _case_page(load_or_404(Case, case_id))


@bp.post("/cases/<int:case_id>/messages")
def post_message(case_id: int) -> BaseResponse | tuple[str, int]:
    found = load_or_404(Case, case_id)
    form = MessageForm()
    if send_from_form(found, form):
        flash("Message sent to the creditor.", "success")
        return redirect(url_for("agency.case", case_id=case_id, _anchor="messages"))
    return _case_page(found, 422, form)


@bp.post("/cases/<int:case_id>/withdrawal")
@roles_required(Role.AGENCY_ADMIN)
def approve_withdrawal(case_id: int) -> BaseResponse:
    found = load_or_404(Case, case_id)
    try:
        stages.approve_withdrawal(db.session, found, actor_id=current_user.id)
    except stages.StageError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash("The case is closed as withdrawn.", "success")
    return redirect(url_for("agency.case", case_id=case_id))


@bp.get("/outbox")
@roles_required(Role.AGENCY_ADMIN)
def outbox() -> str:
    statement = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(200)
    return render_page("agency/outbox.html", messages=db.session.scalars(statement).all())
