"""Every error an API request meets becomes a problem document, never an HTML page."""

from __future__ import annotations

from flask import Response, current_app, request
from werkzeug.exceptions import HTTPException

from portal import db
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


def http_problem(error: HTTPException) -> Response:
    """A werkzeug error as a problem document (also for URLs under /api/v1 that match no
    route, which reach the app's error handler rather than the blueprint's)."""
    if (error.code or 500) >= 500:
        db.session.rollback()
    return from_http_error(error).response()
