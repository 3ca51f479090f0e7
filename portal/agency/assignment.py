"""Agency admins hand cases to collectors (one, or many from the queue) and see who
carries how much."""

from __future__ import annotations

from flask import flash, redirect, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response as BaseResponse

from portal import db
from portal.agency import bp
from portal.db import utcnow
from portal.models import Role
from portal.services.assignment import AssignmentError, assign_cases, collector_loads
from portal.web.access import roles_required
from portal.web.rendering import render_page


def _back_to(default: str) -> str:
    """Where the form came from, if it is a page of this workspace (never another site)."""
    target = request.form.get("next", "")
    if target.startswith("/agency/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


def _case_ids() -> list[int]:
    """The selected case ids; text that is no id at all names a case that does not exist."""
    values = request.form.getlist("case_id")
    if bad := [value for value in values if not (value.isdigit() and len(value) < 10)]:
        raise AssignmentError(f"No case with the id {bad[0][:20]!r} exists; nothing was assigned.")
    return [int(value) for value in values]


def _collector_id() -> int | None:
    """``none`` takes the cases away from whoever has them; an id names the collector."""
    value = request.form.get("collector", "")
    if value == "none":
        return None
    if not value:
        raise AssignmentError("Choose whom to assign the cases to.")
    if not (value.isdigit() and len(value) < 10):
        raise AssignmentError("There is no such collector; nothing was assigned.")
    return int(value)


def _assign(case_ids_of_request: list[int] | None) -> None:
    try:
        case_ids = case_ids_of_request if case_ids_of_request is not None else _case_ids()
        changed = assign_cases(db.session, case_ids, _collector_id(), actor_id=current_user.id)
    except AssignmentError as error:
        db.session.rollback()
        flash(str(error), "error")
        return
    db.session.commit()
    plural = "" if changed == 1 else "s"
    flash(f"{changed} case{plural} assigned." if changed else "Nothing changed.", "success")


@bp.post("/assignments")
@roles_required(Role.AGENCY_ADMIN)
def assign_many() -> BaseResponse:
    """The queue's bulk form: the checked cases to one collector."""
    _assign(None)
    return redirect(_back_to(url_for("agency.queue")))


@bp.post("/cases/<int:case_id>/assignment")
@roles_required(Role.AGENCY_ADMIN)
def assign_one(case_id: int) -> BaseResponse:
    _assign([case_id])
    return redirect(_back_to(url_for("agency.case", case_id=case_id)))


@bp.get("/load")
@roles_required(Role.AGENCY_ADMIN)
def load() -> str:
    """Each collector's open cases, cases due today and outstanding money per currency."""
    today = utcnow().date()
    return render_page("agency/load.html", loads=collector_loads(db.session, today), today=today)
