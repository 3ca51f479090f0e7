"""Settings from the environment, with defaults that run the portal with nothing installed.

Each real service is switched on by one variable; left unset, the embedded default is
used: SQLite under ``instance/``, documents in a local folder, simulated payments, mail
kept in the outbox table, jobs run in-process. Production mode refuses the defaults
that would be unsafe there.

Jobs: ``JOBS_BACKEND`` is ``thread`` (a thread pool in each process), ``inline`` (at
once, in the caller: tests) or ``rq`` (a queue in Redis, run by ``flask worker``). Left
unset it follows ``REDIS_URL``: ``rq`` when Redis is configured, ``thread`` otherwise, so
a machine with nothing installed still runs every job and a deployment with Redis needs
no second switch. ``JOBS_BACKEND=thread`` keeps jobs in-process beside a Redis used only
for rate limits.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from redis.backoff import NoBackoff
from redis.retry import Retry

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Refused in production (see Settings.problems).
DEFAULT_SECRET_KEY = "local-development-only-secret-key"  # noqa: S105  # nosec B105
ENVIRONMENTS = ("development", "testing", "production")
PAYMENT_PROVIDERS = ("simulated", "stripe")
LOG_FORMATS = ("json", "text")
JOBS_BACKENDS = ("thread", "inline", "rq")
# Seconds the rate limiter waits for Redis: a counter takes well under a millisecond, so
# Redis slower than this is treated as down, without a retry. The limiter then counts in
# process memory (each web process on its own) and goes back to Redis once it answers.
RATE_LIMIT_REDIS_TIMEOUT = 1.0


class ConfigurationError(RuntimeError):
    """The settings cannot be used: the message lists every problem found."""


def _bool(value: str | None, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    if value.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if value.strip().lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{value!r} is neither on nor off")


def _int(value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError as error:
        raise ConfigurationError(f"{value!r} is not a whole number") from error


@dataclass(frozen=True)
class Settings:
    env: str
    secret_key: str
    database_url: str
    storage_url: str
    payments_provider: str
    mail_url: str
    mail_sender: str
    redis_url: str | None
    agency_name: str
    agency_contact: str
    login_rate_limit: str
    api_rate_limit: str
    s3_endpoint_url: str | None
    max_document_bytes: int
    jobs_backend: str
    # Where debtors open their payment links; letters print it (the run has no request).
    public_base_url: str = "http://127.0.0.1:5000"
    # Logs: one JSON object a line (production default) or plain text (elsewhere).
    log_format: str = "text"
    # /metrics answers a bearer token or the listed networks (CIDR); neither set: off.
    metrics_token: str | None = None
    metrics_networks: tuple[str, ...] = ()
    stripe_secret_key: str | None = None
    stripe_webhook_secret: str | None = None
    # Another address for Stripe's API (a local stand-in in tests); unset: Stripe itself.
    stripe_api_base: str | None = None
    # RQ (JOBS_BACKEND=rq): the queue jobs go to and ``flask worker`` takes them from, and
    # how long one job may run before the worker stops it (the dunning run is the longest).
    rq_queue: str = "portal"
    rq_job_timeout: int = 3600
    # PostgreSQL, in seconds (0: no limit): how long opening a connection may take, in
    # every process; and, inside a web request only, how long one statement may run and
    # how long it may wait for a row or table another transaction holds. Both are below
    # the web server's 30 s request timeout, so a request stuck behind a lock answers
    # "try again" instead of being killed. Migrations, CLI commands and jobs (the thread
    # pool's and the worker's) run outside any request and are never cut.
    database_connect_timeout: int = 5
    database_statement_timeout: int = 20
    database_lock_timeout: int = 5
    # Agency staff sign in with a second factor (a code from an authenticator app). Left
    # unset: on in production, off elsewhere (the demo signs in with the password only).
    second_factor_for_staff: bool = True

    @classmethod
    def from_env(cls, environ: Mapping[str, str], instance_path: Path) -> Settings:
        env = environ.get("PORTAL_ENV", "development")
        return cls(
            env=env,
            secret_key=environ.get("SECRET_KEY", DEFAULT_SECRET_KEY),
            database_url=environ.get("DATABASE_URL", f"sqlite:///{instance_path / 'portal.db'}"),
            storage_url=environ.get("STORAGE_URL", (instance_path / "documents").as_uri()),
            payments_provider=environ.get("PAYMENTS_PROVIDER", "simulated"),
            mail_url=environ.get("MAIL_URL", "outbox:"),
            mail_sender=environ.get("MAIL_SENDER", "collections@agency.example"),
            redis_url=environ.get("REDIS_URL") or None,
            agency_name=environ.get("AGENCY_NAME", "Northgate Collections"),
            agency_contact=environ.get("AGENCY_CONTACT", "+49 30 1234 5678 · help@agency.example"),
            login_rate_limit=environ.get("LOGIN_RATE_LIMIT", "10 per minute;50 per hour"),
            api_rate_limit=environ.get("API_RATE_LIMIT", "120 per minute"),
            s3_endpoint_url=environ.get("S3_ENDPOINT_URL") or None,
            max_document_bytes=_int(environ.get("MAX_DOCUMENT_BYTES"), 25 * 1024 * 1024),
            jobs_backend=environ.get("JOBS_BACKEND")
            or ("rq" if environ.get("REDIS_URL") else "thread"),
            public_base_url=environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000"),
            log_format=environ.get("LOG_FORMAT") or ("json" if env == "production" else "text"),
            metrics_token=environ.get("METRICS_TOKEN") or None,
            metrics_networks=tuple(
                part.strip()
                for part in environ.get("METRICS_ALLOW_NETWORKS", "").split(",")
                if part.strip()
            ),
            stripe_secret_key=environ.get("STRIPE_SECRET_KEY") or None,
            stripe_webhook_secret=environ.get("STRIPE_WEBHOOK_SECRET") or None,
            stripe_api_base=environ.get("STRIPE_API_BASE") or None,
            rq_queue=environ.get("RQ_QUEUE") or "portal",
            rq_job_timeout=_int(environ.get("RQ_JOB_TIMEOUT"), 3600),
            database_connect_timeout=_int(environ.get("DATABASE_CONNECT_TIMEOUT"), 5),
            database_statement_timeout=_int(environ.get("DATABASE_STATEMENT_TIMEOUT"), 20),
            database_lock_timeout=_int(environ.get("DATABASE_LOCK_TIMEOUT"), 5),
            second_factor_for_staff=_bool(
                environ.get("SECOND_FACTOR_FOR_STAFF"), default=env == "production"
            ),
        )

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def problems(self) -> list[str]:
        """Everything that makes these settings unusable, production rules included."""
        found = []
        if self.env not in ENVIRONMENTS:
            found.append(f"PORTAL_ENV must be one of {', '.join(ENVIRONMENTS)}, not {self.env!r}")
        if self.jobs_backend not in JOBS_BACKENDS:
            found.append(f"JOBS_BACKEND must be one of {', '.join(JOBS_BACKENDS)}")
        if self.jobs_backend == "rq" and not self.redis_url:
            found.append("JOBS_BACKEND=rq needs REDIS_URL")
        if self.rq_job_timeout <= 0:
            found.append("RQ_JOB_TIMEOUT must be positive")
        if self.max_document_bytes <= 0:
            found.append("MAX_DOCUMENT_BYTES must be positive")
        found.extend(self._database_timeout_problems())
        found.extend(self._observability_problems())
        if self.payments_provider not in PAYMENT_PROVIDERS:
            found.append(f"PAYMENTS_PROVIDER {self.payments_provider!r} is not available")
        if self.payments_provider == "stripe" and not (
            self.stripe_secret_key and self.stripe_webhook_secret
        ):
            found.append("Stripe payments need STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET")
        if not self.is_production:
            return found
        if self.secret_key == DEFAULT_SECRET_KEY or len(self.secret_key) < 32:
            found.append("SECRET_KEY must be set to a random value of 32 characters or more")
        if self.database_url.startswith("sqlite"):
            found.append("DATABASE_URL must point at PostgreSQL, not SQLite")
        if self.payments_provider == "simulated":
            found.append("the simulated payment provider cannot take real payments")
        if not self.second_factor_for_staff:
            found.append(
                "SECOND_FACTOR_FOR_STAFF cannot be off: staff sign in with a second factor"
            )
        return found

    def _database_timeout_problems(self) -> list[str]:
        timeouts = {
            "DATABASE_CONNECT_TIMEOUT": self.database_connect_timeout,
            "DATABASE_STATEMENT_TIMEOUT": self.database_statement_timeout,
            "DATABASE_LOCK_TIMEOUT": self.database_lock_timeout,
        }
        return [
            f"{name} must be 0 (no limit) or a number of seconds"
            for name, seconds in timeouts.items()
            if seconds < 0
        ]

    def _observability_problems(self) -> list[str]:
        found = []
        if self.log_format not in LOG_FORMATS:
            found.append(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}")
        if self.metrics_token is not None and len(self.metrics_token) < 32:
            found.append("METRICS_TOKEN must be a random value of 32 characters or more")
        for network in self.metrics_networks:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                found.append(f"METRICS_ALLOW_NETWORKS: {network!r} is not a network")
        return found

    def flask_config(self) -> dict[str, Any]:
        return {
            "SECRET_KEY": self.secret_key,
            "TESTING": self.env == "testing",
            "SESSION_COOKIE_HTTPONLY": True,
            "SESSION_COOKIE_SAMESITE": "Lax",
            "SESSION_COOKIE_SECURE": self.is_production,
            "REMEMBER_COOKIE_HTTPONLY": True,
            "REMEMBER_COOKIE_SECURE": self.is_production,
            "WTF_CSRF_TIME_LIMIT": None,
            "RATELIMIT_STORAGE_URI": self.redis_url or "memory://",
            "RATELIMIT_STORAGE_OPTIONS": self._rate_limit_storage_options(),
            # Redis stopped or slow: limits are counted in memory rather than failing the
            # request, and any other error of the limiter is logged, never a 500.
            "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": True,
            "RATELIMIT_SWALLOW_ERRORS": True,
            "RATELIMIT_HEADERS_ENABLED": True,
            "LOGIN_RATE_LIMIT": self.login_rate_limit,
            "API_RATE_LIMIT": self.api_rate_limit,
            # The document limit is enforced while streaming; this caps the whole request.
            "MAX_CONTENT_LENGTH": self.max_document_bytes + 1024 * 1024,
        }

    def _rate_limit_storage_options(self) -> dict[str, Any]:
        """redis-py's options for the limiter's connection (none for memory)."""
        if not self.redis_url:
            return {}
        return {
            "socket_connect_timeout": RATE_LIMIT_REDIS_TIMEOUT,
            "socket_timeout": RATE_LIMIT_REDIS_TIMEOUT,
            "retry": Retry(NoBackoff(), 0),
        }


def load_settings(overrides: Mapping[str, str] | None, instance_path: Path) -> Settings:
    environ = {**os.environ, **(overrides or {})}
    settings = Settings.from_env(environ, instance_path)
    if problems := settings.problems():
        raise ConfigurationError("refusing to start: " + "; ".join(problems))
    return settings
