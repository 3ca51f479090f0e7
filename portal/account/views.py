"""The person's notices (the bell in the header counts the unread ones) and how they
hear of each kind of event. Every notice belongs to one person: another person's is
simply not found."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response as BaseResponse
from wtforms import RadioField
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.account import bp
from portal.extensions import htmx
from portal.models import Delivery, NotificationKind
from portal.services import notices

SHOWN = 100  # notices on the page, newest first


def _preferences_form() -> type[Any]:
    """One group of radio buttons per kind of event, named by the kind."""
    choices = [
        SelectChoice(delivery.value, label) for delivery, label in notices.DELIVERY_LABELS.items()
    ]
    fields = {
        kind.value: RadioField(
            label,
            choices=choices,
            invalid_choice_message="Choose e-mail at once, daily digest or no e-mail.",
        )
        for kind, label in notices.KIND_LABELS.items()
    }
    return type("PreferencesForm", (FlaskForm,), fields)


PreferencesForm = _preferences_form()


@bp.get("/notifications")
def notifications() -> str:
    return render_template(
        "account/notifications.html",
        notices=notices.recent(db.session, current_user, SHOWN),
        unread=notices.unread_count(db.session, current_user),
    )


@bp.get("/notifications/count")
def notification_count() -> str:
    """The badge in the header's bell (htmx loads it, and again every minute)."""
    return render_template(
        "account/_count.html", unread=notices.unread_count(db.session, current_user)
    )


@bp.post("/notifications/<int:notification_id>/read")
def mark_read(notification_id: int) -> BaseResponse | str:
    try:
        notice = notices.mark_read(db.session, current_user, notification_id)
    except notices.NoticeNotFound:
        abort(404)
    db.session.commit()
    if htmx:  # the row, read now, and the header's count with it
        unread = notices.unread_count(db.session, current_user)
        return render_template("account/_notice.html", notice=notice, oob_unread=unread)
    return redirect(url_for("account.notifications"))


@bp.post("/notifications/read-all")
def mark_all_read() -> BaseResponse:
    marked = notices.mark_all_read(db.session, current_user)
    db.session.commit()
    flash(f"{marked} notice(s) marked read." if marked else "Nothing was unread.", "success")
    return redirect(url_for("account.notifications"))


def _preferences_page(form: Any, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "account/preferences.html",
        form=form,
        kinds=notices.KIND_LABELS,
        deliveries=notices.DELIVERY_LABELS,
    )
    return page, status


@bp.route("/preferences", methods=["GET", "POST"])
def preferences() -> BaseResponse | tuple[str, int]:
    if request.method == "GET":
        chosen = notices.preferences(db.session, current_user)
        data = {kind.value: delivery.value for kind, delivery in chosen.items()}
        return _preferences_page(PreferencesForm(formdata=None, data=data))
    form = PreferencesForm()
    if not form.validate_on_submit():
        return _preferences_page(form, 422)
    choices = {kind: Delivery(form[kind.value].data) for kind in NotificationKind}
    changed = notices.set_preferences(db.session, current_user, choices)
    db.session.commit()
    flash("Your notification settings are saved." if changed else "Nothing changed.", "success")
    return redirect(url_for("account.preferences"))
