"""The creditor's logo on the debtor's pages."""

from __future__ import annotations

from flask import abort, current_app
from werkzeug.wrappers import Response

from portal.debtor import bp
from portal.debtor.access import case_for_token
from portal.extensions import limiter
from portal.services import branding


@bp.get("/<token>/logo")
@limiter.limit("30 per minute")
def logo(token: str) -> Response:
    """The logo of the creditor whose case the link opens; 404 when it has none."""
    found = branding.logo(current_app.extensions["portal.storage"], case_for_token(token).tenant)
    if found is None:
        abort(404)
    return current_app.response_class(found.data, mimetype=found.content_type)


@bp.get("/<token>/brand.css")
@limiter.limit("30 per minute")
def brand_stylesheet(token: str) -> Response:
    """The creditor's colour for the pages this link opens."""
    css = branding.stylesheet(case_for_token(token).tenant)
    return current_app.response_class(css, mimetype="text/css")
