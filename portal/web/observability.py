"""What operators see of the running portal: request ids, logs, metrics.

- Every request gets an id: the caller's ``X-Request-Id`` when it is a plain token
  (letters, digits, dashes, at most 64), else a fresh one. It is kept in ``flask.g``,
  sent back in the response's ``X-Request-Id`` and stamped on every log record made
  while the request runs (gunicorn's access log reads it from the response header).
- Logs go to standard error, as one JSON object a line (``LOG_FORMAT=json``, the
  production default) or as text; a debtor's payment link token in a logged path is
  replaced by ``[token]``.
- Each request's time is observed in the latency histogram, labelled by route (the
  endpoint name, never the raw path, so the label set stays small).
- ``GET /metrics`` shows the metrics in Prometheus' text format, to a caller presenting
  ``Authorization: Bearer <METRICS_TOKEN>`` or connecting from a network listed in
  ``METRICS_ALLOW_NETWORKS``; with neither configured it is not there (404).
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import sys
import time
import uuid
from typing import Any

from flask import Flask, Response, abort, g, has_request_context, request
from flask.logging import default_handler
from pythonjsonlogger.json import JsonFormatter

from portal.adapters import metrics
from portal.config import Settings

REQUEST_ID_HEADER = "X-Request-Id"
_VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9-]{1,64}")
# A payment link token in a path (``/pay/<43 characters>``): a bearer secret, kept out of logs.
_PAYMENT_TOKEN = re.compile(r"(/pay/)[A-Za-z0-9_-]{32,}")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Libraries that log every step at INFO (a line per PDF rendering stage, per font subset).
CHATTY_LIBRARIES = ("weasyprint", "fontTools")
# The handler this module puts on the root logger (replaced when an app is built again).
_HANDLER_NAME = "portal.observability"


def request_id() -> str:
    """The current request's id, chosen on first use."""
    found: str | None = g.get("request_id")
    if found is None:
        incoming = request.headers.get(REQUEST_ID_HEADER, "")
        found = incoming if _VALID_REQUEST_ID.fullmatch(incoming) else uuid.uuid4().hex
        g.request_id = found
    return found


# --- logs ---------------------------------------------------------------------------------


def _stamp_request_id(record_factory: Any) -> Any:
    """A LogRecord factory adding ``request_id`` to records made during a request.

    A factory rather than a handler's filter: every handler then sees the id, the test
    suite's capture and gunicorn's error log included, whichever runs first.
    """

    def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = record_factory(*args, **kwargs)
        if has_request_context():
            record.request_id = request_id()
        return record

    make_record.portal_request_id = True  # type: ignore[attr-defined]
    return make_record


def redact(text: str) -> str:
    """``text`` with any debtor's payment link token replaced (they open a case's page)."""
    return _PAYMENT_TOKEN.sub(r"\1[token]", text)


class RedactingJsonFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RedactingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def json_formatter() -> logging.Formatter:
    return RedactingJsonFormatter(
        ["levelname", "name", "message"],
        rename_fields={"levelname": "level", "name": "logger"},
        timestamp="time",
    )


def configure_logging(log_format: str) -> None:
    """Root logger: INFO and up, to standard error, as JSON or text."""
    factory = logging.getLogRecordFactory()
    if not getattr(factory, "portal_request_id", False):
        logging.setLogRecordFactory(_stamp_request_id(factory))
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(
        json_formatter()
        if log_format == "json"
        else RedactingTextFormatter(TEXT_FORMAT, defaults={"request_id": "-"})
    )
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)


# --- requests -----------------------------------------------------------------------------


def _start_request() -> None:
    request_id()
    g.request_started = time.perf_counter()


def _finish_request(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = request_id()
    started: float | None = g.get("request_started")
    if started is not None:
        endpoint = request.url_rule.endpoint if request.url_rule else "unmatched"
        elapsed = time.perf_counter() - started
        metrics.observe_request(endpoint, request.method, response.status_code, elapsed)
    return response


# --- /metrics -----------------------------------------------------------------------------


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def may_read_metrics(settings: Settings, remote_addr: str | None, token: str) -> bool:
    if (
        settings.metrics_token
        and token
        and hmac.compare_digest(token.encode(), settings.metrics_token.encode())
    ):
        return True
    if not remote_addr:
        return False
    try:
        address = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.metrics_networks
    )


def _queue_collectors(app: Flask) -> list[metrics.QueueCollector]:
    """The job queue's own figures, where it keeps them (RQ on Redis); in-process queues
    have none beyond the counters."""
    jobs = app.extensions.get("portal.jobs")
    queue = getattr(jobs, "queue", None)
    failed_count = getattr(jobs, "failed_count", None)
    if queue is None or failed_count is None:
        return []
    return [metrics.QueueCollector(lambda: int(queue.count), failed_count)]


def register_observability(app: Flask, settings: Settings) -> None:
    """Logs, request ids and timing, and /metrics. Call before the other request hooks:
    a request another hook refuses (a rate limit) still gets its id and its timing."""
    configure_logging(settings.log_format)
    app.logger.removeHandler(default_handler)  # the root handler above writes app logs
    app.before_request(_start_request)
    app.after_request(_finish_request)  # after-request hooks run last-registered first

    @app.get("/metrics")
    def prometheus_metrics() -> Response:
        if not (settings.metrics_token or settings.metrics_networks):
            abort(404)
        if not may_read_metrics(settings, request.remote_addr, _bearer_token()):
            abort(403)
        body, content_type = metrics.exposition(*_queue_collectors(app))
        response = Response(body, content_type=content_type)
        response.headers["Cache-Control"] = "no-store"
        return response
