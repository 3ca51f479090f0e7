"""Accepting an invitation: the link from the e-mail, a name and a password, and the new
account is signed in. A link that was used, withdrawn or has expired opens nothing."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import abort, current_app, redirect, render_template, request
from werkzeug.wrappers import Response
from wtforms import StringField
from wtforms.validators import InputRequired, Length

from portal import db
from portal.auth import bp
from portal.auth.forms import NewPasswordForm
from portal.auth.views import hold_for_second_factor, home_url, staff_required, start_session
from portal.db import utcnow
from portal.extensions import limiter
from portal.models import Invitation
from portal.services import invitations, second_factor
from portal.services.passwords import WeakPasswordError
from portal.services.users import UserError


class AcceptForm(NewPasswordForm):
    name = StringField(
        "Your name", validators=[InputRequired(), Length(max=invitations.MAX_NAME_LENGTH)]
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.password.label.text = "Choose a password"
        self.password_again.label.text = "The password again"


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
            if second_factor.is_needed(db.session, user, staff_required=staff_required()):
                return hold_for_second_factor(user, None)  # set it up before going on
            start_session(user, second_factor_given=False)
            return redirect(home_url())
    page = render_template("auth/invitation.html", invitation=found, form=form, problem=problem)
    return page, 422


def _closed_again(invitation: Invitation | None, now: datetime) -> tuple[str, int]:
    """The link stopped working while the form was filled in (or another request used it)."""
    if invitation is None:
        abort(404)
    return _closed(invitation, invitations.closed_because(invitation, now) or "used")
