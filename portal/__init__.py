"""The placement portal: ``create_app`` builds the Flask application."""

from __future__ import annotations

from collections.abc import Mapping

from flask import Flask

from portal import wiring
from portal.config import PROJECT_ROOT


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment; ``overrides`` take precedence (tests use them)."""
    app = Flask(
        __name__,
        instance_path=str(PROJECT_ROOT / "instance"),
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
    )
    settings = wiring.register_settings(app, overrides)
    wiring.register_database(app, settings)
    wiring.register_adapters(app, settings)
    wiring.register_extensions(app)
    wiring.register_tenancy(app)
    wiring.register_blueprints(app)
    wiring.register_templates(app)
    wiring.register_security(app)
    wiring.register_errors(app)
    wiring.register_commands(app)
    return app
