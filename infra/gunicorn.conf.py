"""Gunicorn settings for the portal: ``gunicorn -c infra/gunicorn.conf.py 'portal:create_app()'``.

Read from the environment: PORT (default 8000), WEB_CONCURRENCY (caps the worker count)
and FORWARDED_ALLOW_IPS (the proxies whose X-Forwarded-* headers are trusted).
"""

from __future__ import annotations

import os

_cpus = os.cpu_count() or 1
_cap = os.environ.get("WEB_CONCURRENCY")

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = min(2 * _cpus + 1, int(_cap)) if _cap else 2 * _cpus + 1
timeout = 30
# Below the 30s stop_grace_period in infra/compose.yaml, so requests finish before SIGKILL.
graceful_timeout = 25
# The worker heartbeat file on a memory-backed disk, not the container's overlay filesystem.
worker_tmp_dir = "/dev/shm"  # noqa: S108  # nosec B108
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
# Combined log format plus the request id (or "-") and the time taken in milliseconds.
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
    "request_id=%({x-request-id}i)s duration_ms=%(M)s"
)
