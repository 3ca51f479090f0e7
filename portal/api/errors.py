"""Every error an API request meets becomes a problem document, never an HTML page."""

from __future__ import annotations

from flask import Response, current_app, request
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from portal import db
from portal.adapters.errors import RETRY_AFTER_SECONDS, ServiceUnavailable
from portal.api import bp
from portal.api.problems import ApiProblem, from_http_error
from tenants.scoping import TenantIsolationError


@bp.errorhandler(ApiProblem)
def _problem(problem: ApiProblem) -> Response:
    return problem.response()


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    return http_problem(error)


@bp.errorhandler(TenantIsolationError)
def _isolation_error(_error: TenantIsolationError) -> Response:
    db.session.rollback()
    current_app.logger.warning("refused a cross-tenant write to %s", request.path)
    return ApiProblem(403).response()


@bp.errorhandler(ServiceUnavailable)
@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _service_unavailable(error: Exception) -> Response:
    """Storage, the payment provider, the job queue or the database not answering."""
    db.session.rollback()
    current_app.logger.error("%s %s: %s", request.method, request.path, error)
    detail = (
        "A service the portal needs is not answering. Nothing was saved: try again in a minute."
    )
    return ApiProblem(503, detail, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}).response()


def http_problem(error: HTTPException) -> Response:
    """A werkzeug error as a problem document (also for URLs under /api/v1 that match no
    route, which reach the app's error handler rather than the blueprint's)."""
    if (error.code or 500) >= 500:
        db.session.rollback()
    return from_http_error(error).response()
