"""Signing in and out, and sending each person to their own home page."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

from portal.auth import invitations, views  # noqa: E402, F401 - registers the routes
