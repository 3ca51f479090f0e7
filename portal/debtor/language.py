"""The debtor's choice of language for the pages, without JavaScript: a small form per
language that posts here and comes back to the page it was on."""

from __future__ import annotations

import re

from babel import Locale
from flask import abort, redirect, request, url_for
from flask_babel import get_locale
from werkzeug.wrappers import Response

from portal.debtor import bp
from portal.services.letters import LANGUAGES
from portal.web.i18n import choose_language

# Each language named in itself: English, Deutsch.
LANGUAGE_NAMES = {
    code: str(Locale.parse(code).get_display_name(code)).title() for code in LANGUAGES
}
# Back only to a debtor page of this site: printable ASCII, no backslash (which browsers
# read as a slash), under the blueprint's prefix.
_DEBTOR_PAGE = re.compile(rf"{re.escape(str(bp.url_prefix))}/[\x21-\x5b\x5d-\x7e]*")


@bp.context_processor
def _languages() -> dict[str, object]:
    return {"page_language": str(get_locale() or "en"), "language_names": LANGUAGE_NAMES}


def _debtor_page(target: str | None) -> str:
    if target and _DEBTOR_PAGE.fullmatch(target):
        return target
    return url_for("debtor.start")


@bp.post("/language/<code>")
def language(code: str) -> Response:
    """Show the debtor's pages in ``code`` from now on; 404 for a language not offered."""
    if not choose_language(code):
        abort(404)
    return redirect(_debtor_page(request.args.get("next")), 303)
