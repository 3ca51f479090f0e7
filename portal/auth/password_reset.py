"""Passwords: a forgotten one (ask for a link by e-mail, open it, choose a new password)
and the signed-in user's own change. Either ends the user's other sessions.

Asking for a link answers the same, and as fast, whether or not the address has an
account: the mail is a background job. A link that was used or has expired answers 410;
one never sent, 404.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, logout_user
from werkzeug.wrappers import Response

from portal import db, jobs
from portal.auth import bp
from portal.auth.forms import ChangePasswordForm, ForgotForm, NewPasswordForm
from portal.db import utcnow
from portal.extensions import limiter
from portal.services import password_resets, users
from portal.services.passwords import WeakPasswordError


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def forgot_password() -> str | tuple[str, int]:
    form = ForgotForm()
    if not form.is_submitted():
        return render_template("auth/forgot.html", form=form)
    if not form.validate():
        return render_template("auth/forgot.html", form=form), 422
    current_app.extensions["portal.jobs"].enqueue(
        jobs.send_password_reset, form.email.data.strip(), request.remote_addr
    )
    minutes = int(password_resets.VALID_FOR.total_seconds() // 60)
    return render_template("auth/forgot_sent.html", email=form.email.data.strip(), minutes=minutes)


def _closed(reason: str) -> tuple[str, int]:
    return render_template("auth/reset_closed.html", reason=reason), 410


@bp.route("/password/reset/<reset_token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def reset_password(reset_token: str) -> Response | tuple[str, int]:
    now = utcnow()
    found = password_resets.by_token(db.session, reset_token)
    if found is None:
        abort(404)
    if reason := password_resets.closed_because(found, now):
        return _closed(reason)
    form = NewPasswordForm()
    if not form.is_submitted():
        return render_template("auth/reset.html", form=form), 200
    if form.validate():
        try:
            password_resets.reset_password(
                db.session, reset_token, form.password.data, now=now,
                ip_address=request.remote_addr,
            )  # fmt: skip
        except WeakPasswordError as error:
            db.session.rollback()
            form.password.errors.append(str(error).capitalize() + ".")
        except password_resets.ResetClosed:
            db.session.rollback()
            return _closed("used")
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash("Your new password is set: sign in with it.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form), 422


@bp.route("/account/password", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
@login_required
def change_password() -> Response | tuple[str, int]:
    """The current session continues with the new password; every other one ends."""
    form = ChangePasswordForm()
    if not form.is_submitted():
        return render_template("account/password.html", form=form), 200
    if form.validate():
        try:
            users.change_password(
                db.session, current_user, form.current_password.data, form.password.data,
                ip_address=request.remote_addr,
            )  # fmt: skip
        except users.UserError as error:
            db.session.rollback()
            form.current_password.errors.append(str(error))
        except WeakPasswordError as error:
            db.session.rollback()
            form.password.errors.append(str(error).capitalize() + ".")
        else:
            db.session.commit()
            users.stamp_session(session, current_user)
            flash("Your password is changed. Any other session of yours is signed out.", "success")
            return redirect(url_for("auth.change_password"))
    return render_template("account/password.html", form=form), 422
