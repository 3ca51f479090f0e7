"""The scheduler: each task queued once per period however many schedulers tick at once,
again in the next period; ``flask scheduler --once`` says what it queued, and the
worker runs the same commands an operator would."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from portal.adapters.jobs import RedisJobs
from portal.adapters.locks import FilePeriodLock, PeriodLock, RedisPeriodLock
from portal.cli.scheduler import run_task
from portal.db import utcnow
from portal.services import schedule
from tests.jobs_support import REDIS_TEST_URL, redis_or_skip, remove_namespace, unique_name

MAY_14 = datetime(2026, 5, 14, 0, 0, 5, tzinfo=UTC)
EVERY_TASK = [
    "collections-run-due",
    "debtors-erase-expired",
    "notifications-digest",
    "payments-charge-due",
    "statements-issue",
]
DAILY_TASKS = [
    "collections-run-due",
    "debtors-erase-expired",
    "notifications-digest",
    "payments-charge-due",
]


@pytest.fixture
def queue() -> Iterator[RedisJobs]:
    """A Redis queue of this test's own; its name is also the lock's namespace."""
    connection = redis_or_skip()
    name = unique_name()
    yield RedisJobs(connection, name)
    remove_namespace(connection, name)
    connection.close()


@pytest.fixture(params=["redis", "file"])
def make_lock(
    request: pytest.FixtureRequest, queue: RedisJobs, tmp_path: Path
) -> Callable[[], PeriodLock]:
    """A new lock object per scheduler, as each process would build its own."""
    if request.param == "redis":
        return lambda: RedisPeriodLock(queue.connection, queue.queue.name)
    return lambda: FilePeriodLock(tmp_path / "schedule")


def enqueue_on(queue: RedisJobs) -> Callable[[schedule.Firing], None]:
    return lambda firing: queue.enqueue(run_task, firing.task.name, firing.period)


def queued(queue: RedisJobs) -> list[tuple[str, ...]]:
    return sorted(tuple(job.args) for job in queue.queue.get_jobs())


def tick_together(schedulers: int, now: datetime, queue: RedisJobs, make_lock) -> list[str]:
    """``schedulers`` ticks at the same moment, each in its own thread with its own lock."""
    start = threading.Barrier(schedulers)
    fired: list[str] = []
    errors: list[BaseException] = []

    def one() -> None:
        lock = make_lock()
        start.wait()
        try:
            fired.extend(f.task.name for f in schedule.tick(now, lock, enqueue_on(queue)))
        except BaseException as error:  # reported below, in the test's thread
            errors.append(error)

    threads = [threading.Thread(target=one) for _ in range(schedulers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    return sorted(fired)


# --- periods -----------------------------------------------------------------------------


def test_period_keys_are_the_utc_day_and_month() -> None:
    assert schedule.period_key(schedule.Period.DAILY, MAY_14) == "2026-05-14"
    assert schedule.period_key(schedule.Period.MONTHLY, MAY_14) == "2026-05"
    # 01:30 on 1 June in Berlin is still 31 May in UTC.
    berlin = datetime(2026, 6, 1, 1, 30, tzinfo=timezone(timedelta(hours=2)))
    assert schedule.period_key(schedule.Period.DAILY, berlin) == "2026-05-31"
    assert schedule.period_key(schedule.Period.MONTHLY, berlin) == "2026-05"


def test_each_task_runs_its_command_for_the_period() -> None:
    run_due = schedule.task_named("collections-run-due")
    assert run_due.argv("2026-05-14") == ("collections", "run-due", "--date", "2026-05-14")
    charges = schedule.task_named("payments-charge-due")
    assert charges.argv("2026-05-14") == ("payments", "charge-due", "--date", "2026-05-14")
    digest = schedule.task_named("notifications-digest")
    assert digest.argv("2026-05-14") == ("notifications", "digest", "--date", "2026-05-14")
    erasure = schedule.task_named("debtors-erase-expired")
    assert erasure.argv("2026-05-14") == ("debtors", "erase-expired", "--date", "2026-05-14")
    statements = schedule.task_named("statements-issue")
    assert statements.argv("2026-05") == ("statements", "issue", "--month", "2026-04")
    assert statements.argv("2026-01") == ("statements", "issue", "--month", "2025-12")


@pytest.mark.parametrize(
    ("name", "period"),
    [("collections-run-due", "2026-05"), ("statements-issue", "2026-05-14"), ("rm", "2026-05")],
)
def test_a_task_or_period_that_does_not_fit_is_refused(app: Flask, name: str, period: str) -> None:
    with app.app_context(), pytest.raises(ValueError):
        run_task(name, period)


# --- single firing -----------------------------------------------------------------------


def test_two_schedulers_at_once_queue_each_task_once(queue: RedisJobs, make_lock) -> None:
    assert tick_together(2, MAY_14, queue, make_lock) == EVERY_TASK
    assert queued(queue) == [
        ("collections-run-due", "2026-05-14"),
        ("debtors-erase-expired", "2026-05-14"),
        ("notifications-digest", "2026-05-14"),
        ("payments-charge-due", "2026-05-14"),
        ("statements-issue", "2026-05"),
    ]


def test_many_schedulers_still_fire_once(queue: RedisJobs, make_lock) -> None:
    assert tick_together(8, MAY_14, queue, make_lock) == EVERY_TASK
    assert len(queued(queue)) == len(EVERY_TASK)


def test_a_later_tick_in_the_same_period_queues_nothing(queue: RedisJobs, make_lock) -> None:
    schedule.tick(MAY_14, make_lock(), enqueue_on(queue))
    assert schedule.tick(MAY_14 + timedelta(hours=23), make_lock(), enqueue_on(queue)) == []
    assert len(queued(queue)) == len(EVERY_TASK)


def test_the_next_period_fires_again(queue: RedisJobs, make_lock) -> None:
    schedule.tick(MAY_14, make_lock(), enqueue_on(queue))
    next_day = tick_together(2, MAY_14 + timedelta(days=1), queue, make_lock)
    assert next_day == DAILY_TASKS  # same month
    next_month = tick_together(2, datetime(2026, 6, 1, 0, 1, tzinfo=UTC), queue, make_lock)
    assert next_month == EVERY_TASK
    assert queued(queue) == [
        ("collections-run-due", "2026-05-14"),
        ("collections-run-due", "2026-05-15"),
        ("collections-run-due", "2026-06-01"),
        ("debtors-erase-expired", "2026-05-14"),
        ("debtors-erase-expired", "2026-05-15"),
        ("debtors-erase-expired", "2026-06-01"),
        ("notifications-digest", "2026-05-14"),
        ("notifications-digest", "2026-05-15"),
        ("notifications-digest", "2026-06-01"),
        ("payments-charge-due", "2026-05-14"),
        ("payments-charge-due", "2026-05-15"),
        ("payments-charge-due", "2026-06-01"),
        ("statements-issue", "2026-05"),
        ("statements-issue", "2026-06"),
    ]


def test_a_task_that_could_not_be_queued_is_tried_on_the_next_tick(
    queue: RedisJobs, make_lock
) -> None:
    def broken(firing: schedule.Firing) -> None:
        raise ConnectionError("Redis went away")

    with pytest.raises(ConnectionError):
        schedule.tick(MAY_14, make_lock(), broken)
    fired = schedule.tick(MAY_14, make_lock(), enqueue_on(queue))
    assert sorted(firing.task.name for firing in fired) == EVERY_TASK


def test_the_file_lock_keeps_only_each_tasks_latest_marker(tmp_path: Path) -> None:
    lock = FilePeriodLock(tmp_path)
    assert lock.acquire("statements-issue", "2026-05", 60)
    assert lock.acquire("statements-issue", "2026-06", 60)
    assert lock.acquire("collections-run-due", "2026-06-01", 60)
    assert not lock.acquire("statements-issue", "2026-06", 60)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "collections-run-due.2026-06-01",
        "statements-issue.2026-06",
    ]
    with pytest.raises(ValueError, match="unsafe lock name"):
        lock.acquire("../etc", "passwd", 60)


def test_the_redis_lock_expires_after_the_period(queue: RedisJobs) -> None:
    lock = RedisPeriodLock(queue.connection, queue.queue.name)
    assert lock.acquire("collections-run-due", "2026-05-14", schedule.LOCK_SECONDS["daily"])
    key = f"portal:schedule:{queue.queue.name}:collections-run-due.2026-05-14"
    assert 86_400 < queue.connection.ttl(key) <= 2 * 86_400


# --- the commands ------------------------------------------------------------------------


@pytest.fixture
def cli_on_redis(
    app: Flask, session: Session, queue: RedisJobs, monkeypatch: pytest.MonkeyPatch
) -> Callable[..., str]:
    """``flask ...`` with the jobs and the schedule's lock on this test's Redis queue."""
    settings = app.extensions["portal.settings"]
    monkeypatch.setitem(app.extensions, "portal.jobs", queue)
    monkeypatch.setitem(
        app.extensions,
        "portal.settings",
        replace(settings, jobs_backend="rq", redis_url=REDIS_TEST_URL, rq_queue=queue.queue.name),
    )
    runner = app.test_cli_runner()

    def run(*args: str) -> str:
        result = runner.invoke(args=list(args))
        assert result.exit_code == 0, result.output
        return result.output

    return run


def test_scheduler_once_prints_what_it_queued_and_the_worker_runs_it(
    cli_on_redis: Callable[..., str], queue: RedisJobs
) -> None:
    now = utcnow()
    day, month = now.date().isoformat(), now.strftime("%Y-%m")
    last_month = (now.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")

    first = cli_on_redis("scheduler", "--once")
    second = cli_on_redis("scheduler", "--once")

    assert first.splitlines() == [
        f"queued collections-run-due for {day}: flask collections run-due --date {day}",
        f"queued payments-charge-due for {day}: flask payments charge-due --date {day}",
        f"queued notifications-digest for {day}: flask notifications digest --date {day}",
        f"queued debtors-erase-expired for {day}: flask debtors erase-expired --date {day}",
        f"queued statements-issue for {month}: flask statements issue --month {last_month}",
    ]
    assert second == ""  # the period has fired
    assert len(queued(queue)) == len(EVERY_TASK)

    # The worker runs the commands themselves: their own output is the proof.
    output = cli_on_redis("worker", "--burst", "--no-fork")
    assert f"{day}: 0 instalment(s) charged: 0 paid, 0 failed" in output
    assert "0 letter(s) filed as PDF" in output
    assert "0 hearing reminder(s) sent" in output
    assert f"{day}: 0 digest(s) sent" in output
    assert f"{day}: 0 debtor(s) erased" in output
    assert "0 statement(s) issued" in output
    assert queue.failed_count() == 0
    assert queue.queue.count == 0


def test_scheduler_without_redis_uses_marker_files(
    app: Flask, session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Redis: the lock is a file under the instance folder; jobs run in-process."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    runner = app.test_cli_runner()
    first = runner.invoke(args=["scheduler", "--once"])
    second = runner.invoke(args=["scheduler", "--once"])
    assert first.exit_code == 0, first.output
    queued_lines = [line for line in first.output.splitlines() if line.startswith("queued ")]
    assert [line.split(" for ")[0] for line in queued_lines] == [
        "queued collections-run-due",
        "queued payments-charge-due",
        "queued notifications-digest",
        "queued debtors-erase-expired",
        "queued statements-issue",
    ]
    assert "0 statement(s) issued" in first.output  # the test app runs its jobs inline
    assert second.output == ""
    assert sorted(p.name.split(".")[0] for p in (tmp_path / "schedule").iterdir()) == EVERY_TASK


@pytest.mark.parametrize("interval", ["0", "soon"])
def test_scheduler_refuses_a_bad_interval(app: Flask, interval: str) -> None:
    result = app.test_cli_runner().invoke(args=["scheduler", "--once", "--interval", interval])
    assert result.exit_code == 2
    assert "Invalid value for '--interval'" in result.output
