"""The second step of signing in: the code from the authenticator app or a recovery
code; or, for someone who must have a second factor and has none yet, setting it up.

Between the password and the code nobody is signed in: the session only says whose
sign-in waits, for at most ``PENDING_FOR``. Every other page stays closed meanwhile.
"""

from __future__ import annotations

from datetime import timedelta

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from portal import db
from portal.auth import bp
from portal.auth.forms import SecondFactorForm
from portal.auth.views import (
    PENDING_NEXT,
    PENDING_SINCE,
    PENDING_USER,
    PENDING_VERSION,
    home_url,
    safe_next,
    start_session,
)
from portal.db import utcnow
from portal.extensions import limiter
from portal.models import User
from portal.services import second_factor, users
from portal.web.forms import FirstCodeForm

PENDING_FOR = timedelta(minutes=5)
# The secret offered while it is being set up; stored on the user once a code confirms it.
SETUP_IN_PROGRESS = "pending_totp_secret"
TOO_SLOW = "Signing in took too long: enter your e-mail and password again."


def _pending_user() -> User | None:
    """The user whose sign-in waits for the second factor; None when no sign-in waits,
    it waited too long, or the user may no longer sign in (the wait then ends)."""
    user_id, since = session.get(PENDING_USER), session.get(PENDING_SINCE)
    if not isinstance(user_id, int) or not isinstance(since, int | float):
        return None
    if utcnow().timestamp() - since > PENDING_FOR.total_seconds():
        session.clear()
        flash(TOO_SLOW, "info")
        return None
    user = db.session.get(User, user_id)
    if (
        user is None
        or not users.may_sign_in(db.session, user)
        or user.session_version != session.get(PENDING_VERSION)
    ):
        session.clear()
        return None
    return user


def _finish(user: User) -> Response:
    next_url = safe_next(session.get(PENDING_NEXT))
    start_session(user, second_factor_given=True)
    return redirect(next_url or home_url())


def _code_page(form: SecondFactorForm, status: int = 200) -> tuple[str, int]:
    return render_template("auth/second_factor.html", form=form), status


@bp.route("/login/second-factor", methods=["GET", "POST"], endpoint="second_factor")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def second_factor_step() -> Response | tuple[str, int]:
    if current_user.is_authenticated:
        return redirect(home_url())
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if not second_factor.is_enabled(user):
        return redirect(url_for("auth.enrol"))
    form = SecondFactorForm()
    if not form.is_submitted():
        return _code_page(form)
    if form.validate():
        ip_address = request.remote_addr
        accepted = second_factor.accept_sign_in_code(
            db.session, user, form.code.data, now=utcnow(), ip_address=ip_address
        )
        if accepted is not None:
            users.record_sign_in(db.session, user, ip_address, **accepted.audit_details())
            db.session.commit()
            response = _finish(user)
            if accepted.method == "recovery_code":
                left = second_factor.recovery_codes_left(db.session, user)
                flash(
                    f"You signed in with a recovery code: {left} left. "
                    "Make new ones under Account security.",
                    "info",
                )
            return response
        db.session.commit()  # the failed attempt's audit entry
        form.code.errors.append(
            "That code is not right, or it was used already: type the next code the app shows."
        )
    return _code_page(form, 422)


def _enrol_page(user: User, secret: str, form: FirstCodeForm, status: int) -> tuple[str, int]:
    agency_name = current_app.extensions["portal.settings"].agency_name
    page = render_template(
        "auth/enrol.html",
        form=form,
        secret=secret,
        qr_code=second_factor.qr_code(secret, user.email, agency_name),
    )
    return page, status


@bp.route("/login/enrol", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def enrol() -> Response | tuple[str, int]:
    """Set up the second factor: scan the secret, confirm it with a first code, note the
    recovery codes (shown this once), and the sign-in is complete."""
    if current_user.is_authenticated:
        return redirect(home_url())
    user = _pending_user()
    if user is None:
        return redirect(url_for("auth.login"))
    if second_factor.is_enabled(user):
        return redirect(url_for("auth.second_factor"))
    secret = session.setdefault(SETUP_IN_PROGRESS, second_factor.new_secret())
    form = FirstCodeForm()
    if not form.is_submitted():
        return _enrol_page(user, secret, form, 200)
    if form.validate():
        ip_address = request.remote_addr
        try:
            codes, accepted = second_factor.enrol(
                db.session, user, secret, form.code.data, now=utcnow(), ip_address=ip_address
            )
        except second_factor.SecondFactorError as error:
            db.session.rollback()
            form.code.errors.append(str(error))
        else:
            users.record_sign_in(db.session, user, ip_address, **accepted.audit_details())
            db.session.commit()
            next_url = safe_next(session.get(PENDING_NEXT))
            start_session(user, second_factor_given=True)
            page = render_template(
                "auth/recovery_codes.html", codes=codes, next_url=next_url or home_url()
            )
            return page, 200
    return _enrol_page(user, secret, form, 422)
