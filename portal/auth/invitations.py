"""Accepting an invitation: the link from the e-mail, a name and a password, and the new
account is signed in. A link that was used, withdrawn or has expired opens nothing."""

from __future__ import annotations

from datetime import datetime

from flask import abort, current_app, redirect, render_template, request, session
from flask_login import login_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response
from wtforms import PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from portal import db
from portal.auth import bp
from portal.auth.views import home_url
from portal.db import utcnow
from portal.extensions import limiter
from portal.models import Invitation
from portal.services import invitations
from portal.services.passwords import MIN_PASSWORD_LENGTH, WeakPasswordError
from portal.services.users import UserError

PASSWORD_RULE = f"At least {MIN_PASSWORD_LENGTH} characters."


class AcceptForm(FlaskForm):  # type: ignore[misc]
    name = StringField(
        "Your name", validators=[InputRequired(), Length(max=invitations.MAX_NAME_LENGTH)]
    )
    password = PasswordField(
        "Choose a password",
        validators=[
            InputRequired(),
            Length(min=MIN_PASSWORD_LENGTH, max=200, message=PASSWORD_RULE),
        ],
        description=PASSWORD_RULE,
    )
    password_again = PasswordField(
        "The password again",
        validators=[InputRequired(), EqualTo("password", message="The two passwords differ.")],
    )


def _closed(invitation: Invitation, reason: str) -> tuple[str, int]:
    page = render_template("auth/invitation_closed.html", invitation=invitation, reason=reason)
    return page, 410


@bp.route("/invitations/<invitation_token>", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"])
def invitation(invitation_token: str) -> Response | tuple[str, int]:
    now = utcnow()
    found = invitations.by_token(db.session, invitation_token)
    if found is None:
        abort(404)
    if reason := invitations.closed_because(found, now):
        return _closed(found, reason)
    form = AcceptForm(data={"name": found.name})
    if request.method == "GET":
        return render_template("auth/invitation.html", invitation=found, form=form), 200
    problem = None
    if form.validate_on_submit():
        try:
            user = invitations.accept(
                db.session, invitation_token,
                name=form.name.data, password=form.password.data, now=now,
            )  # fmt: skip
        except (invitations.InvitationError, UserError, WeakPasswordError) as error:
            db.session.rollback()
            # Read again after the rollback (the page shows its tenant and who sent it).
            found = invitations.by_token(db.session, invitation_token)
            if found is None or isinstance(error, invitations.InvitationClosed):
                return _closed_again(found, now)
            problem = str(error)
        else:
            db.session.commit()
            session.clear()
            login_user(user)
            return redirect(home_url())
    page = render_template("auth/invitation.html", invitation=found, form=form, problem=problem)
    return page, 422


def _closed_again(invitation: Invitation | None, now: datetime) -> tuple[str, int]:
    """The link stopped working while the form was filled in (or another request used it)."""
    if invitation is None:
        abort(404)
    return _closed(invitation, invitations.closed_because(invitation, now) or "used")
