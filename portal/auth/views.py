"""Signing in (the password, then the second factor when one is needed) and out.

A session is signed for the user's ``session_version``: signing out or changing the
password raises it, so every other session of the user, and any copy of the cookie,
signs nobody in any more (see ``session_is_current``, checked on every request).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from portal import db
from portal.auth import bp
from portal.auth.forms import LoginForm
from portal.db import utcnow
from portal.extensions import limiter
from portal.models import CREDITOR_ROLES, User
from portal.services import second_factor, users

# A sign-in waiting for its second factor: whose, since when, and where it goes next.
PENDING_USER = "pending_user_id"
PENDING_VERSION = "pending_session_version"
PENDING_SINCE = "pending_since"
PENDING_NEXT = "pending_next"


def home_url() -> str:
    if current_user.role in CREDITOR_ROLES:
        return url_for("creditor.home")
    return url_for("agency.queue")


def safe_next(target: str | None) -> str | None:
    """Only a path on this site: an absolute or scheme-relative URL would send people away."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def staff_required() -> bool:
    """Whether the portal's setting requires a second factor of the agency's staff."""
    return bool(current_app.extensions["portal.settings"].second_factor_for_staff)


def start_session(user: User, *, second_factor_given: bool) -> None:
    """Sign the user in with a new session, signed for their current version."""
    session.clear()
    login_user(user)
    users.stamp_session(session, user)
    if second_factor_given:
        users.note_second_factor(session)


def hold_for_second_factor(user: User, next_url: str | None) -> Response:
    """The password was right; the second factor comes next. Nobody is signed in yet."""
    session.clear()
    session[PENDING_USER] = user.id
    session[PENDING_VERSION] = user.session_version
    session[PENDING_SINCE] = utcnow().timestamp()
    if next_url:
        session[PENDING_NEXT] = next_url
    if second_factor.is_enabled(user):
        return redirect(url_for("auth.second_factor"))
    return redirect(url_for("auth.enrol"))


@bp.get("/")
def index() -> Response:
    if current_user.is_authenticated:
        return redirect(home_url())
    return redirect(url_for("auth.login"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def login() -> Response | str | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(home_url())
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    ip_address = request.remote_addr
    user = users.check_password(db.session, form.email.data, form.password.data, ip_address)
    if user is None:
        db.session.commit()  # the failed attempt's audit entry
        form.password.errors.append("That e-mail and password do not match an active account.")
        return render_template("auth/login.html", form=form), 401
    next_url = safe_next(request.args.get("next"))
    if second_factor.is_needed(db.session, user, staff_required=staff_required()):
        return hold_for_second_factor(user, next_url)
    users.record_sign_in(db.session, user, ip_address)
    db.session.commit()
    start_session(user, second_factor_given=False)
    return redirect(next_url or home_url())


@bp.post("/logout")
@login_required
def logout() -> Response:
    users.sign_out(db.session, current_user, request.remote_addr)
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
