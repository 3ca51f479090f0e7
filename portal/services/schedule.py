"""The periodic work and when it is due: the daily run, the instalment charges, the
daily digest of notices, the daily erasure of expired personal data, the monthly
statements.

Each task fires once per period (a UTC day or a UTC month), whichever scheduler
process gets to it first: a tick takes the period's lock before it queues the task,
so several schedulers, or one restarted, never queue it twice. The task runs the same
``flask`` command an operator would, with the period as its option.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum

from portal.adapters.locks import PeriodLock


class Period(StrEnum):
    DAILY = "daily"
    MONTHLY = "monthly"


# How long a period's lock outlives its start: past the end of the period, by a margin.
LOCK_SECONDS = {Period.DAILY: 2 * 86_400, Period.MONTHLY: 62 * 86_400}


def period_key(period: Period, now: datetime) -> str:
    """The period ``now`` falls in, in UTC: ``2026-05-14`` for a day, ``2026-05`` for a month."""
    moment = now.astimezone(UTC)
    return moment.date().isoformat() if period is Period.DAILY else moment.strftime("%Y-%m")


def _as_date(key: str) -> tuple[str, ...]:
    return ("--date", date.fromisoformat(key).isoformat())


def _month_before(key: str) -> tuple[str, ...]:
    first = datetime.strptime(key, "%Y-%m").date()
    year, month = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
    return ("--month", f"{year:04d}-{month:02d}")


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    period: Period
    command: tuple[str, ...]  # the ``flask`` command, e.g. ("collections", "run-due")
    options: Callable[[str], tuple[str, ...]]  # the command's options for a period key

    def argv(self, key: str) -> tuple[str, ...]:
        """The command line for the period ``key`` (ValueError: not a key of this period)."""
        return (*self.command, *self.options(key))


TASKS = (
    # The dunning run of the day: steps, interest, promises, invoice checks, charges.
    PeriodicTask("collections-run-due", Period.DAILY, ("collections", "run-due"), _as_date),
    # The charges again on their own, so a failing dunning run does not hold them up;
    # an instalment is claimed before it is charged, so the second pass charges nothing twice.
    PeriodicTask("payments-charge-due", Period.DAILY, ("payments", "charge-due"), _as_date),
    # The digest of notices, early in each day: what is unread and in no digest yet.
    PeriodicTask("notifications-digest", Period.DAILY, ("notifications", "digest"), _as_date),
    # Debtors whose cases have been closed longer than their client keeps personal data.
    PeriodicTask("debtors-erase-expired", Period.DAILY, ("debtors", "erase-expired"), _as_date),
    # On the first tick of a month: the statements of the month that has just ended.
    PeriodicTask("statements-issue", Period.MONTHLY, ("statements", "issue"), _month_before),
)


def task_named(name: str) -> PeriodicTask:
    for task in TASKS:
        if task.name == name:
            return task
    raise ValueError(f"no scheduled task is called {name!r}")


@dataclass(frozen=True)
class Firing:
    """One task for one period, queued."""

    task: PeriodicTask
    period: str


def tick(now: datetime, lock: PeriodLock, enqueue: Callable[[Firing], None]) -> list[Firing]:
    """Queue every task whose period has not fired yet; the ones this tick queued.

    A task whose queueing fails gives its period back, so the next tick tries again.
    """
    fired = []
    for task in TASKS:
        firing = Firing(task, period_key(task.period, now))
        if not lock.acquire(task.name, firing.period, LOCK_SECONDS[task.period]):
            continue
        try:
            enqueue(firing)
        except Exception:
            lock.release(task.name, firing.period)
            raise
        fired.append(firing)
    return fired
