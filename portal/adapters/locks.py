"""Once-per-period locks for the scheduler: the first to take (task, period) fires it.

On Redis (``SET key NX EX``) the lock is shared by every machine; without Redis a
marker file under the instance folder serves the schedulers of one machine, which is
the whole deployment when no Redis is configured.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Protocol

from redis import Redis

_SAFE = re.compile(r"^[A-Za-z0-9_.-]+$")


class PeriodLock(Protocol):
    def acquire(self, task: str, period: str, seconds: int) -> bool:
        """True for the first caller for (task, period); False for all others."""
        ...

    def release(self, task: str, period: str) -> None:
        """Let (task, period) be taken again (its queueing failed)."""
        ...


def _name(task: str, period: str) -> str:
    if not (_SAFE.match(task) and _SAFE.match(period)):
        raise ValueError(f"unsafe lock name {task!r}/{period!r}")
    return f"{task}.{period}"


class RedisPeriodLock:
    def __init__(self, connection: Redis, namespace: str = "portal") -> None:
        self._redis = connection
        self._prefix = f"portal:schedule:{namespace}:"

    def acquire(self, task: str, period: str, seconds: int) -> bool:
        key = self._prefix + _name(task, period)
        return bool(self._redis.set(key, "fired", nx=True, ex=seconds))

    def release(self, task: str, period: str) -> None:
        self._redis.delete(self._prefix + _name(task, period))


class FilePeriodLock:
    """A marker file per (task, period), created exclusively; a task's older markers are
    removed when a newer period is taken, so the folder stays small."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def acquire(self, task: str, period: str, seconds: int) -> bool:
        self._directory.mkdir(parents=True, exist_ok=True)
        marker = self._directory / _name(task, period)
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        except FileExistsError:
            return False
        for older in self._directory.glob(f"{task}.*"):
            if older != marker and older.name < marker.name:
                older.unlink(missing_ok=True)
        return True

    def release(self, task: str, period: str) -> None:
        (self._directory / _name(task, period)).unlink(missing_ok=True)


def period_lock(redis_url: str | None, directory: Path, namespace: str) -> PeriodLock:
    """Redis when it is configured, marker files in ``directory`` otherwise.

    ``namespace`` (the job queue's name) keeps apart deployments that share a Redis.
    """
    if redis_url:
        return RedisPeriodLock(Redis.from_url(redis_url), namespace)
    return FilePeriodLock(directory)
