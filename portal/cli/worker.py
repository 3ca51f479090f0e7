"""``flask worker``: run the jobs queued on Redis (JOBS_BACKEND=rq), as many as you start.

An RQ worker whose jobs each run in a fresh application context: the adapters are
there, and the job's database session is removed when it ends. By default each job
runs in a forked child (RQ's own model: a crash or a timeout kills only that job);
``--no-fork`` runs them in this process.
"""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from rq import Queue, SimpleWorker, Worker
from rq.executions import Execution
from rq.job import Job
from rq.serializers import JSONSerializer
from rq.worker import BaseWorker

from portal.adapters import metrics
from portal.adapters.jobs import RedisJobs


class _InAppContext(BaseWorker):
    app: Flask

    def perform_job(self, job: Job, queue: Queue, execution: Execution) -> bool:
        with self.app.app_context():
            done = super().perform_job(job, queue, execution)
        (metrics.job_completed if done else metrics.job_failed)(job.func_name or job.id)
        return done


class AppWorker(_InAppContext, Worker):
    def main_work_horse(self, job: Job, queue: Queue) -> None:
        # The child must not use the parent's pooled connections: it opens its own.
        self.app.extensions["portal.engine"].dispose(close=False)
        super().main_work_horse(job, queue)


class SimpleAppWorker(_InAppContext, SimpleWorker):
    pass


@click.command("worker")
@click.option("--burst", is_flag=True, help="Stop once the queue is empty.")
@click.option(
    "--fork/--no-fork",
    default=True,
    show_default=True,
    help="Run each job in a forked child, or in this process.",
)
@with_appcontext
def worker_command(burst: bool, fork: bool) -> None:
    """Run queued jobs; failed ones are retried with backoff, then listed at /agency/jobs."""
    queue = current_app.extensions["portal.jobs"]
    if not isinstance(queue, RedisJobs):
        raise click.ClickException(
            "jobs run in the web process here: set REDIS_URL (and JOBS_BACKEND=rq) for workers"
        )
    worker_class = AppWorker if fork else SimpleAppWorker
    worker = worker_class(queue.queue, connection=queue.connection, serializer=JSONSerializer)
    worker.app = current_app._get_current_object()  # type: ignore[attr-defined]
    # with_scheduler: the worker also queues the retries whose backoff has passed.
    worker.work(burst=burst, with_scheduler=True, logging_level="INFO")
