"""The person's own sign-in security: their second factor (set it up, new recovery codes,
turn it off when nobody requires it). The password is changed at /account/password.

New recovery codes and turning the second factor off ask for the password again, so
whoever finds a session left open cannot do either.
"""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import PasswordField
from wtforms.validators import InputRequired, Length

from portal import db
from portal.account import bp
from portal.db import utcnow
from portal.extensions import limiter
from portal.services import second_factor, users
from portal.services.passwords import verify_password
from portal.web.forms import FirstCodeForm

# The secret offered while it is being set up; stored on the user once a code confirms it.
SETUP_IN_PROGRESS = "account_totp_secret"


class PasswordCheckForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        "Your password", validators=[InputRequired(message="Type your password."), Length(max=200)]
    )


def _staff_required() -> bool:
    return bool(current_app.extensions["portal.settings"].second_factor_for_staff)


def _security_page(
    setup: FirstCodeForm | None = None, check: PasswordCheckForm | None = None, status: int = 200
) -> tuple[str, int]:
    user = current_user
    enabled = second_factor.is_enabled(user)
    context = {
        "enabled": enabled,
        "required": second_factor.is_required(db.session, user, staff_required=_staff_required()),
        "codes_left": second_factor.recovery_codes_left(db.session, user) if enabled else 0,
        "setup": setup or FirstCodeForm(formdata=None),
        "check": check or PasswordCheckForm(formdata=None),
    }
    if not enabled:
        secret = session.setdefault(SETUP_IN_PROGRESS, second_factor.new_secret())
        agency_name = current_app.extensions["portal.settings"].agency_name
        context["secret"] = secret
        context["qr_code"] = second_factor.qr_code(secret, user.email, agency_name)
    return render_template("account/security.html", **context), status


def _codes_page(codes: list[str]) -> tuple[str, int]:
    return render_template("account/security_codes.html", codes=codes), 200


def _password_checked(form: PasswordCheckForm) -> bool:
    if not form.validate_on_submit():
        return False
    if verify_password(current_user.password_hash, form.password.data):
        return True
    form.password.errors.append("That is not your password.")
    return False


@bp.get("/security")
def security() -> tuple[str, int]:
    return _security_page()


@bp.post("/security/enrol")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def security_enrol() -> BaseResponse | tuple[str, int]:
    if second_factor.is_enabled(current_user):
        return redirect(url_for("account.security"))
    form = FirstCodeForm()
    secret = session.get(SETUP_IN_PROGRESS)
    if not form.validate_on_submit() or not isinstance(secret, str):
        return _security_page(setup=form, status=422)
    try:
        codes, _ = second_factor.enrol(
            db.session, current_user, secret, form.code.data,
            now=utcnow(), ip_address=request.remote_addr,
        )  # fmt: skip
    except second_factor.SecondFactorError as error:
        db.session.rollback()
        form.code.errors.append(str(error))
        return _security_page(setup=form, status=422)
    db.session.commit()
    session.pop(SETUP_IN_PROGRESS, None)
    users.note_second_factor(session)
    return _codes_page(codes)


@bp.post("/security/recovery-codes")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def security_recovery_codes() -> tuple[str, int]:
    form = PasswordCheckForm()
    if not second_factor.is_enabled(current_user) or not _password_checked(form):
        return _security_page(check=form, status=422)
    codes = second_factor.renew_recovery_codes(db.session, current_user, utcnow())
    db.session.commit()
    return _codes_page(codes)


@bp.post("/security/turn-off")
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"])
def security_turn_off() -> BaseResponse | tuple[str, int]:
    form = PasswordCheckForm()
    if not _password_checked(form):
        return _security_page(check=form, status=422)
    try:
        second_factor.turn_off(db.session, current_user, staff_required=_staff_required())
    except second_factor.SecondFactorError as error:
        db.session.rollback()
        form.password.errors.append(str(error))
        return _security_page(check=form, status=422)
    db.session.commit()
    flash("The second factor is off: you sign in with your password only.", "success")
    return redirect(url_for("account.security"))
