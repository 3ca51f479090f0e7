"""Error pages for debtors, in their language and with a way back: too many attempts (the
rate limits on the debtor's pages), an upload too large to read at all, and a service
the portal needs (the database, the payment provider, document storage) not answering."""

from __future__ import annotations

import math

from flask import current_app, request
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter import RateLimitExceeded
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from portal import db
from portal.adapters.errors import RETRY_AFTER_SECONDS, ServiceUnavailable
from portal.debtor import bp
from portal.extensions import login_manager
from portal.services.documents import human_size
from portal.web.rendering import render_page

Headers = list[tuple[str, str]]


def _too_large() -> tuple[str, str]:
    limit = human_size(current_app.extensions["portal.settings"].max_document_bytes)
    return _("That file is too large"), _(
        "We accept files of up to %(size)s. Please go back and choose a smaller file, "
        "or send the document to us by post or e-mail.",
        size=limit,
    )


def _too_many(error: HTTPException) -> tuple[str, str]:
    # The limit's window: the longest the debtor may have to wait.
    seconds = error.limit.limit.get_expiry() if isinstance(error, RateLimitExceeded) else 60
    return _("Too many attempts"), ngettext(
        "To protect your account, please wait up to %(num)d minute before you try again. "
        "If you need help now, call or write to us.",
        "To protect your account, please wait up to %(num)d minutes before you try again. "
        "If you need help now, call or write to us.",
        max(1, math.ceil(seconds / 60)),
    )


@bp.errorhandler(413)
@bp.errorhandler(429)
def _error_page(error: HTTPException) -> tuple[str, int, Headers]:
    status = error.code or 429
    title, text = _too_large() if status == 413 else _too_many(error)
    headers = [(name, value) for name, value in error.get_headers() if name != "Content-Type"]
    return render_page("debtor/error.html", title=title, text=text, status=status), status, headers


@bp.errorhandler(ServiceUnavailable)
@bp.errorhandler(OperationalError)
@bp.errorhandler(InterfaceError)
def _service_unavailable(error: Exception) -> tuple[str, int, Headers]:
    db.session.rollback()
    current_app.logger.error("%s %s: %s", request.method, request.path, error)
    if not isinstance(error, ServiceUnavailable):
        # The page header names a signed-in user, who cannot be read without the database.
        login_manager._update_request_context_with_user()
    title = _("We cannot take this request right now")
    text = _(
        "A service we need is not answering. Nothing was saved and no payment was taken. "
        "Please try again in a minute."
    )
    page = render_page("debtor/error.html", title=title, text=text, status=503)
    return page, 503, [("Retry-After", str(RETRY_AFTER_SECONDS))]
