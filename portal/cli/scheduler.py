"""``flask scheduler``: queue the periodic work (portal.services.schedule) once per period.

Run one or several anywhere: the period lock (Redis when configured) lets only one
of them queue each task. ``--once`` runs a single tick, for cron and tests. The tasks
run as jobs, on the worker with Redis (``flask worker``), on this process's own
thread pool without it.
"""

from __future__ import annotations

import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from portal.adapters.jobs import JobQueue
from portal.adapters.locks import PeriodLock, period_lock
from portal.config import Settings
from portal.db import utcnow
from portal.services import schedule


def run_task(name: str, period: str) -> None:
    """Job: one scheduled task, run as its ``flask`` command for the period."""
    argv = schedule.task_named(name).argv(period)
    current_app.cli.main(args=list(argv), prog_name="flask", standalone_mode=False)


def tick(queue: JobQueue, lock: PeriodLock) -> list[schedule.Firing]:
    """Queue what is due now and not yet queued by any scheduler."""
    return schedule.tick(
        utcnow(), lock, lambda firing: queue.enqueue(run_task, firing.task.name, firing.period)
    )


@click.command("scheduler")
@click.option("--once", is_flag=True, help="Run one tick and stop (for cron and tests).")
@click.option(
    "--interval",
    type=click.IntRange(1, 3600),
    default=60,
    show_default=True,
    help="Seconds between ticks.",
)
@with_appcontext
def scheduler_command(once: bool, interval: int) -> None:
    """Queue the dunning run and the instalment charges once a day, the remittance
    statements once a month (UTC), however many schedulers run."""
    settings: Settings = current_app.extensions["portal.settings"]
    queue: JobQueue = current_app.extensions["portal.jobs"]
    lock = period_lock(
        settings.redis_url, Path(current_app.instance_path) / "schedule", settings.rq_queue
    )
    while True:
        for firing in tick(queue, lock):
            argv = " ".join(firing.task.argv(firing.period))
            click.echo(f"queued {firing.task.name} for {firing.period}: flask {argv}")
        if once:
            return
        time.sleep(interval)
