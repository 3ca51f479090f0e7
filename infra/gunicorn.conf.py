"""Gunicorn settings for the portal: ``gunicorn -c infra/gunicorn.conf.py 'portal:create_app()'``.

Read from the environment: PORT (default 8000), WEB_CONCURRENCY (caps the worker count),
FORWARDED_ALLOW_IPS (the proxies whose X-Forwarded-* headers are trusted), LOG_FORMAT
(``json`` or ``text``; default ``json`` when PORTAL_ENV=production, like the app) and
PROMETHEUS_MULTIPROC_DIR (where the workers keep their metrics; default: a fresh folder
in /dev/shm, one per gunicorn instance).

Access log lines carry the request id the app sent back (``X-Request-Id``) and the time
taken. They name the path without its query string (searches carry debtors' names), and
a debtor's payment link token in a path or referrer is replaced by ``[token]``.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any


def _metrics_dir() -> str:
    """Set PROMETHEUS_MULTIPROC_DIR before prometheus-client is first imported: the
    client picks its way of keeping values (per process, in files) at import."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if not path:
        shm = "/dev/shm"  # noqa: S108  # nosec B108 - memory-backed, per-host
        path = tempfile.mkdtemp(prefix="portal-metrics-", dir=shm if Path(shm).is_dir() else None)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    Path(path).mkdir(parents=True, exist_ok=True)
    return path


METRICS_DIR = _metrics_dir()

from gunicorn.glogging import Logger  # noqa: E402 - after the metrics folder is set
from prometheus_client import multiprocess  # noqa: E402
from pythonjsonlogger.json import JsonFormatter  # noqa: E402

_cpus = os.cpu_count() or 1
_cap = os.environ.get("WEB_CONCURRENCY")
LOG_FORMAT = os.environ.get("LOG_FORMAT") or (
    "json" if os.environ.get("PORTAL_ENV") == "production" else "text"
)
_PAYMENT_TOKEN = re.compile(r"(/pay/)[A-Za-z0-9_-]{32,}")

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = min(2 * _cpus + 1, int(_cap)) if _cap else 2 * _cpus + 1
timeout = 30
# Below the 30s stop_grace_period in infra/compose.yaml, so requests finish before SIGKILL.
graceful_timeout = 25
# The worker heartbeat file on a memory-backed disk, not the container's overlay filesystem.
worker_tmp_dir = "/dev/shm"  # noqa: S108  # nosec B108
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# gunicorn 25+ opens a control socket in $HOME by default: not used, and two instances on
# one host would fight over it.
control_socket_disable = True

accesslog = "-"
errorlog = "-"
# Text lines: the combined log format (the request line without its query string) plus
# the request id the app answered with and the time taken in milliseconds.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s "%(f)s" "%(a)s" '
    "request_id=%({x-request-id}o)s duration_ms=%(M)s"
)


def _redact(value: str) -> str:
    return _PAYMENT_TOKEN.sub(r"\1[token]", value)


class PortalLogger(Logger):
    """Gunicorn's logger, payment link tokens redacted, lines as JSON with LOG_FORMAT=json
    (the same fields as the app's: time, level, logger, message, request_id)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        if LOG_FORMAT == "json":
            for handler in (*self.error_log.handlers, *self.access_log.handlers):
                handler.setFormatter(
                    JsonFormatter(
                        ["levelname", "name", "message"],
                        rename_fields={"levelname": "level", "name": "logger"},
                        timestamp="time",
                    )
                )

    def atoms(self, resp: Any, req: Any, environ: Any, request_time: Any) -> dict[str, Any]:
        found: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        for name in ("U", "f", "{referer}i"):
            if isinstance(found.get(name), str):
                found[name] = _redact(found[name])
        found["r"] = f"{found['m']} {found['U']} {found['H']}"
        return found

    def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
        if LOG_FORMAT != "json":
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        atoms = self.atoms(resp, req, environ, request_time)
        fields = {
            "request_id": atoms.get("{x-request-id}o", "-"),
            "remote_addr": atoms["h"],
            "method": atoms["m"],
            "path": atoms["U"],
            "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
            "bytes": atoms["B"],
            "duration_ms": round(request_time.total_seconds() * 1000, 1),
            "referer": atoms["f"],
            "user_agent": atoms["a"],
        }
        self.access_log.info("%s", atoms["r"], extra=fields)


logger_class = PortalLogger


def on_starting(server: Any) -> None:
    """Forget the metrics a previous run left in the folder."""
    for stale in Path(METRICS_DIR).glob("*.db"):
        stale.unlink(missing_ok=True)


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: its gauges' live values go with it (counters stay summed)."""
    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
