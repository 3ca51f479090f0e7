"""The placement portal: ``create_app`` builds the Flask application."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from flask import Flask

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(overrides: Mapping[str, str] | None = None) -> Flask:
    """Build the app from the environment; ``overrides`` take precedence (tests use them)."""
    from portal import wiring

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
