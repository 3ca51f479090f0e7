"""Background jobs that failed every attempt, for the agency admins to see and retry.

With Redis (RQ) the failures are kept in the queue's failed job registry; with the
in-process backends a failed job is only logged, and the page says so.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, request, url_for
from werkzeug.wrappers import Response as BaseResponse

from portal.adapters.jobs import RedisJobs
from portal.agency import bp
from portal.models import Role
from portal.web.access import roles_required
from portal.web.rendering import render_page

SHOWN = 100


@bp.get("/jobs")
@roles_required(Role.AGENCY_ADMIN)
def jobs_page() -> str:
    queue = current_app.extensions["portal.jobs"]
    if not isinstance(queue, RedisJobs):
        return render_page("agency/jobs.html", on_redis=False)
    return render_page(
        "agency/jobs.html",
        on_redis=True,
        queue_name=queue.queue.name,
        failed=queue.failed_jobs(SHOWN),
        failed_count=queue.failed_count(),
    )


@bp.post("/jobs/retry")
@roles_required(Role.AGENCY_ADMIN)
def retry_job() -> BaseResponse:
    """Queue a failed job again: it gets one more attempt, and is listed again if it fails."""
    queue = current_app.extensions["portal.jobs"]
    job_id = request.form.get("job_id", "")
    if not isinstance(queue, RedisJobs) or len(job_id) > 64 or not queue.retry_failed(job_id):
        abort(404)
    flash("The job is queued again; a worker will run it shortly.", "success")
    return redirect(url_for("agency.jobs_page"))
