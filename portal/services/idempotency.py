"""``Idempotency-Key`` for the API's POSTs: the same request sent twice has one effect.

The first response to a key is kept with a fingerprint of the request (SHA-256 of the
method, the path and the raw body). A repeat with the same fingerprint gets that
response back and changes nothing; a repeat with another body is refused.

Two requests with the same key can arrive at the same time. The first claims the key by
inserting its row in the same transaction as the work it does, so the unique
constraint on (api key, key) holds the second back: on PostgreSQL its insert waits until
the first commits and then fails, and the second replays what the first stored.
"""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.models import ApiKey, IdempotentResponse

MAX_KEY_LENGTH = 255


class Outcome(enum.Enum):
    NEW = "new"  # the key is claimed for this request: do the work, then ``finish``
    REPLAY = "replay"  # the same request was answered before: send ``stored`` again
    MISMATCH = "mismatch"  # the key was used for another request


@dataclass(frozen=True)
class Claim:
    outcome: Outcome
    record: IdempotentResponse


def fingerprint(method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode()):
        digest.update(part)
        digest.update(b"\n")
    digest.update(body)
    return digest.hexdigest()


def find(session: Session, api_key: ApiKey, key: str) -> IdempotentResponse | None:
    statement = select(IdempotentResponse).where(
        IdempotentResponse.api_key_id == api_key.id, IdempotentResponse.key == key
    )
    return session.scalars(statement).one_or_none()


def _judge(record: IdempotentResponse, request_fingerprint: str) -> Claim:
    same = record.request_fingerprint == request_fingerprint
    return Claim(Outcome.REPLAY if same else Outcome.MISMATCH, record)


def claim(session: Session, api_key: ApiKey, key: str, request_fingerprint: str) -> Claim:
    """Claim ``key`` for this request, or say how it was used before.

    A claimed record is flushed, not committed: it becomes visible with the work it
    stands for, when the caller commits, and vanishes with it on a rollback.
    """
    if (found := find(session, api_key, key)) is not None:
        return _judge(found, request_fingerprint)
    record = IdempotentResponse(
        tenant_id=api_key.tenant_id,
        api_key_id=api_key.id,
        key=key,
        request_fingerprint=request_fingerprint,
        status_code=0,
        body="",
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        # Another request with this key committed between our look-up and our insert.
        found = find(session, api_key, key)
        if found is None:
            raise
        return _judge(found, request_fingerprint)
    return Claim(Outcome.NEW, record)


def finish(session: Session, record: IdempotentResponse, status_code: int, body: str) -> None:
    """Keep the response the claimed request got, to replay it."""
    record.status_code, record.body = status_code, body
    session.flush()
