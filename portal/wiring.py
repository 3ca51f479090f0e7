"""The steps ``create_app`` takes, one function each."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from flask import (
    Flask,
    Response,
    has_app_context,
    has_request_context,
    render_template,
    request,
    session,
    url_for,
)
from flask_login import current_user
from sqlalchemy.exc import InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from portal import db
from portal.account import bp as account
from portal.adapters.errors import RETRY_AFTER_SECONDS, ServiceUnavailable
from portal.adapters.jobs import InlineJobs, InProcessJobs, Job, JobQueue, RedisJobs
from portal.adapters.letter_rendering import JinjaLetterRenderer
from portal.adapters.mail import mailer_from_url
from portal.adapters.payments import PaymentProvider, SimulatedPayments
from portal.adapters.storage import storage_from_url
from portal.adapters.stripe_payments import StripePayments
from portal.agency import bp as agency
from portal.api import bp as api
from portal.api import http_problem
from portal.auth import bp as auth
from portal.cli import register as register_cli
from portal.config import Settings, load_settings
from portal.creditor import bp as creditor
from portal.debtor import bp as debtor
from portal.extensions import csrf, htmx, limiter, login_manager
from portal.models import Case, User
from portal.services import letters, notices, payment_links, second_factor
from portal.services.placement import warning_sign_label
from portal.services.users import may_sign_in, session_is_current
from portal.web.access import apply_tenant_scope
from portal.web.forms import refuse_nul_bytes
from portal.web.health import register_health
from portal.web.i18n import register_i18n
from portal.web.observability import register_observability
from portal.webhooks import bp as webhooks
from tenants.scoping import TenantIsolationError

# htmx needs no inline script or eval when its indicator styles are off (see base.html).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'self'; object-src 'none'"
)


def register_settings(app: Flask, overrides: Mapping[str, str] | None) -> Settings:
    settings = load_settings(overrides, Path(app.instance_path))
    app.config.update(settings.flask_config())
    app.extensions["portal.settings"] = settings
    payment_links.set_secret(settings.secret_key)
    if settings.database_url.startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return settings


def register_database(app: Flask, settings: Settings) -> None:
    engine = db.make_engine(
        settings.database_url, connect_timeout=settings.database_connect_timeout
    )
    # Web requests only: migrations, CLI commands and jobs run outside any request.
    db.limit_transactions(
        engine,
        statement_timeout=settings.database_statement_timeout,
        lock_timeout=settings.database_lock_timeout,
        applies=has_request_context,
    )
    app.extensions["portal.engine"] = engine
    db.bind(engine)

    @app.teardown_appcontext
    def _end_session(_error: BaseException | None) -> None:
        db.registry.remove()


def register_adapters(app: Flask, settings: Settings) -> None:
    def in_app_context(job: Job) -> Job:
        def run(*args: Any) -> Any:
            if has_app_context():  # inline jobs run inside the request that queued them
                return job(*args)
            with app.app_context():
                return job(*args)

        return run

    app.extensions["portal.storage"] = storage_from_url(
        settings.storage_url, endpoint_url=settings.s3_endpoint_url
    )
    app.extensions["portal.mailer"] = mailer_from_url(settings.mail_url, settings.mail_sender)
    letters.configure_from(settings, app.extensions["portal.storage"], JinjaLetterRenderer())
    notices.configure(app.extensions["portal.mailer"])
    payments: PaymentProvider = SimulatedPayments()
    if settings.payments_provider == "stripe":
        secret_key, webhook_secret = settings.stripe_secret_key, settings.stripe_webhook_secret
        assert secret_key and webhook_secret  # noqa: S101  # nosec B101  # load_settings checked
        payments = StripePayments(secret_key, webhook_secret, settings.stripe_api_base)
    app.extensions["portal.payments"] = payments
    jobs: JobQueue
    if settings.jobs_backend == "rq":
        assert settings.redis_url  # noqa: S101  # nosec B101  # load_settings checked
        # The worker (portal.cli.worker) pushes the app context around each job.
        jobs = RedisJobs.from_url(settings.redis_url, settings.rq_queue, settings.rq_job_timeout)
    elif settings.jobs_backend == "inline":
        jobs = InlineJobs(in_app_context)
    else:
        jobs = InProcessJobs(in_app_context)
    app.extensions["portal.jobs"] = jobs


def register_extensions(app: Flask) -> None:
    # First: every request gets its id and is timed, a refused one too.
    register_observability(app, app.extensions["portal.settings"])
    limiter.init_app(app)  # next: a flood is refused before any other work
    csrf.init_app(app)
    htmx.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def _load_user(user_id: str) -> User | None:
        """The signed-in user while they may sign in and the session is current. A
        deactivated user, one whose tenant was suspended, a session from before the user
        signed out or changed the password, or one without the second factor the user
        needs, is signed out on its next request: the session ends for good, so
        reactivating the user later does not bring it back."""
        user = db.session.get(User, int(user_id)) if user_id.isdigit() else None
        if user is not None and may_sign_in(db.session, user):
            staff_required = app.extensions["portal.settings"].second_factor_for_staff
            needed = second_factor.is_needed(db.session, user, staff_required=staff_required)
            if session_is_current(session, user, second_factor_needed=needed):
                return user
        session.clear()
        return None


def register_tenancy(app: Flask) -> None:
    # Every request sees only the tenants of the signed-in user; anonymous: none.
    app.before_request(apply_tenant_scope)


def register_blueprints(app: Flask) -> None:
    for blueprint in (auth, account, creditor, agency, debtor, api, webhooks):
        app.register_blueprint(blueprint)
    register_health(app, app.extensions["portal.settings"])  # /healthz, /readyz


def register_templates(app: Flask) -> None:
    register_i18n(app)
    app.jinja_env.filters["warning_sign"] = warning_sign_label

    @app.template_global()
    def debtor_link(case: Case) -> str | None:
        """The debtor's payment page for a case, for staff to hand on (None: no link)."""
        token = payment_links.token_for(case)
        return url_for("debtor.case", token=token, _external=True) if token else None

    @app.template_global()
    def query_for(page: int) -> str:
        """The current query string, on another page of the list."""
        return urlencode({**request.args.to_dict(), "page": str(page)})

    @app.context_processor
    def _globals() -> dict[str, Any]:
        settings: Settings = app.extensions["portal.settings"]
        return {"agency_name": settings.agency_name, "agency_contact": settings.agency_contact}


def register_security(app: Flask) -> None:
    settings: Settings = app.extensions["portal.settings"]
    app.before_request(refuse_nul_bytes)

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if current_user.is_authenticated:
            headers.setdefault("Cache-Control", "no-store")
        if settings.is_production:
            headers.setdefault("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
        return response


ERROR_TEXTS = {
    400: ("Bad request", "The request could not be understood. Reload the page and try again."),
    401: ("Please sign in", "This page needs you to sign in first."),
    403: ("Not allowed", "Your account does not have access to this page."),
    404: ("Not found", "There is nothing here, or it is not yours to see."),
    405: ("Not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "That upload is larger than the portal accepts."),
    429: ("Too many attempts", "Please wait a minute before trying again."),
    500: ("Something went wrong", "The error was logged. Please try again in a moment."),
    503: (
        "A service is not answering",
        "A service the portal needs is not answering right now. Nothing was saved: "
        "please try again in a minute.",
    ),
}


def _error_page(status: int) -> tuple[str, int]:
    title, text = ERROR_TEXTS.get(status, ERROR_TEXTS[500])
    return render_template("errors/error.html", status=status, title=title, text=text), status


def register_errors(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Any:
        if request.path.startswith(f"{api.url_prefix}/"):  # no API route matched
            return http_problem(error)
        status = error.code or 500
        if status < 400:
            return error
        page, code = _error_page(status)
        response = Response(page, code)
        for name, value in error.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response

    @app.errorhandler(TenantIsolationError)
    def _isolation_error(_error: TenantIsolationError) -> tuple[str, int]:
        db.session.rollback()
        app.logger.warning("refused a cross-tenant write to %s", request.path)
        return _error_page(403)

    @app.errorhandler(500)
    def _server_error(_error: Exception) -> tuple[str, int]:
        db.session.rollback()
        return _error_page(500)

    @app.errorhandler(ServiceUnavailable)
    @app.errorhandler(OperationalError)
    @app.errorhandler(InterfaceError)
    def _service_unavailable(error: Exception) -> tuple[str, int, dict[str, str]]:
        """Storage, the payment provider, the job queue or the database not answering:
        whatever the request did is rolled back and the visitor is asked to try again."""
        db.session.rollback()
        app.logger.error("%s %s: %s", request.method, request.path, error)
        if not isinstance(error, ServiceUnavailable):
            # The page names the signed-in user, who cannot be read without the database.
            login_manager._update_request_context_with_user()
        page, status = _error_page(503)
        return page, status, {"Retry-After": str(RETRY_AFTER_SECONDS)}


def register_commands(app: Flask) -> None:
    register_cli(app)
