"""A service the portal depends on is not answering: stopped, unreachable or too slow.

Each adapter turns its client library's connection failures and timeouts into
``ServiceUnavailable``, naming the service in words, so the web layer answers every
such fault the same way: nothing was saved, try again in a minute. Answers that are
the service's verdict on the request (a declined card, a missing object) stay what
they are.
"""

from __future__ import annotations

DOCUMENT_STORAGE = "document storage"
PAYMENT_PROVIDER = "the payment provider"
JOB_QUEUE = "the job queue"
MAIL_SERVER = "the mail server"
# Seconds a client is asked to wait before trying again (the Retry-After header).
RETRY_AFTER_SECONDS = 30


class ServiceUnavailable(RuntimeError):
    """``service`` (in words, e.g. "document storage") did not answer in time."""

    def __init__(self, service: str, reason: str = "") -> None:
        super().__init__(f"{service} is not answering" + (f" ({reason})" if reason else ""))
        self.service = service
