"""Each signed-in person's own account: their notices, how they hear of them, and how
they sign in."""

from flask import Blueprint

from portal.models import CREDITOR_ROLES, STAFF_ROLES
from portal.web.access import require_audience

bp = Blueprint("account", __name__, url_prefix="/account")
require_audience(bp, STAFF_ROLES | CREDITOR_ROLES)

from portal.account import security, views  # noqa: E402, F401 - registers the routes
