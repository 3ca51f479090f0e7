"""The debtor's side: no account, a payment link from a letter or e-mail."""

from flask import Blueprint

bp = Blueprint("debtor", __name__, url_prefix="/pay")

from portal.debtor import (  # noqa: E402, F401 - registers the routes
    branding,
    disputes,
    errors,
    language,
    lookup,
    paying,
    simulated,
    views,
)
