"""The language of the debtor's pages (Flask-Babel); staff pages are in English.

A debtor's language is, in order: the one they chose on the page (kept in their
session), the one the case states for them (or their country's), their browser's. The
``money`` and ``day`` filters format for the language of the page.
"""

from __future__ import annotations

from datetime import date, datetime

from babel.dates import format_date
from flask import Flask, g, has_request_context, request, session
from flask_babel import Babel, get_locale
from flask_babel import lazy_gettext as _l

from portal.config import PROJECT_ROOT
from portal.models import Instalment, InstalmentStatus
from portal.services.letters import LANGUAGES, locale_for
from portal.services.money import format_money

LANGUAGE_KEY = "language"
INSTALMENT_LABELS = {
    InstalmentStatus.SCHEDULED: _l("Scheduled"),
    InstalmentStatus.PROCESSING: _l("Being collected"),
    InstalmentStatus.FAILED: _l("Failed, tried again"),
    InstalmentStatus.PAID: _l("Paid"),
    InstalmentStatus.MOVED: _l("Moved to the end"),
    InstalmentStatus.MISSED: _l("Missed"),
    InstalmentStatus.CANCELLED: _l("Cancelled"),
}

TRANSLATED_BLUEPRINTS = frozenset({"debtor"})
babel = Babel()


def select_language() -> str:
    if not has_request_context() or request.blueprint not in TRANSLATED_BLUEPRINTS:
        return "en"
    chosen = session.get(LANGUAGE_KEY)
    if chosen in LANGUAGES:
        return str(chosen)
    if (stated := g.get("case_language")) in LANGUAGES:
        return str(stated)
    return request.accept_languages.best_match(LANGUAGES) or "en"


def choose_language(language: str) -> bool:
    """Remember the debtor's choice; False (and nothing kept) for a language not offered."""
    if language not in LANGUAGES:
        return False
    session[LANGUAGE_KEY] = language
    return True


def page_locale() -> str:
    language = str(get_locale() or "en")
    return "en" if language == "en" else locale_for(language, None)


def money(amount_minor: int, currency: str) -> str:
    return format_money(amount_minor, currency, page_locale())


def day(value: date | datetime | None) -> str:
    if value is None:
        return "—"
    if page_locale() == "en":
        return value.strftime("%d %b %Y %H:%M" if isinstance(value, datetime) else "%d %b %Y")
    return str(format_date(value, format="medium", locale=page_locale()))


def instalment_status(instalment: Instalment) -> str:
    """An instalment's status in the page's language (schedules on every side show it)."""
    return str(INSTALMENT_LABELS[instalment.status])


def register_i18n(app: Flask) -> None:
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = str(PROJECT_ROOT / "portal" / "translations")
    babel.init_app(app, locale_selector=select_language)
    app.jinja_env.filters["money"] = money
    app.jinja_env.filters["day"] = day
    app.add_template_global(instalment_status)
