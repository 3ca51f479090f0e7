from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user
from werkzeug.wrappers import Response

from portal import db
from portal.auth import bp
from portal.auth.forms import LoginForm
from portal.extensions import limiter
from portal.models import CREDITOR_ROLES
from portal.services import audit
from portal.services.users import authenticate


def home_url() -> str:
    if current_user.role in CREDITOR_ROLES:
        return url_for("creditor.home")
    return url_for("agency.queue")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: an absolute or scheme-relative URL would send people away."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


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
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data, request.remote_addr)
        db.session.commit()
        if user is not None:
            session.clear()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")) or home_url())
        form.password.errors.append("That e-mail and password do not match an active account.")
        return render_template("auth/login.html", form=form), 401
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Response:
    audit.record(
        db.session, "auth.logout", actor_id=current_user.id, ip_address=request.remote_addr
    )
    db.session.commit()
    logout_user()
    session.clear()
    return redirect(url_for("auth.login"))
