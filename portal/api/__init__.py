"""The JSON API creditors' systems use to place and follow cases (``/api/v1``).

A tenant API key, not a session, authenticates each request, so the blueprint is exempt
from CSRF protection (nothing a browser holds can call it).
"""

from flask import Blueprint

from portal.extensions import csrf

bp: Blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)

from portal.api import auth, cases, commands, documents, errors, openapi  # noqa: E402, F401 - registers the routes
from portal.api.errors import http_problem  # noqa: E402

__all__ = ["bp", "http_problem"]
