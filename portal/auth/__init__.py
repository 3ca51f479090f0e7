"""Signing in and out, and sending each person to their own home page."""

from flask import Blueprint

bp = Blueprint("auth", __name__)

# Registers the routes.
from portal.auth import (  # noqa: E402, F401
    invitations,
    password_reset,
    second_factor,
    views,
)
