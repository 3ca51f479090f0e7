"""Racing real connections: each piece of work in its own thread, session and
transaction, released together by a barrier (the ``race_engine`` database)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from tenants.scoping import unscoped


def race(engine: Engine, *work: Callable[[Session], object]) -> list[BaseException]:
    """Run each step at once, unscoped as the agency's own jobs are, committing after
    it; returns what any step raised (a test asserts it is empty)."""
    barrier = threading.Barrier(len(work), timeout=10)
    errors: list[BaseException] = []

    def run(step: Callable[[Session], object]) -> None:
        try:
            with Session(engine, expire_on_commit=False) as own, unscoped(own):
                barrier.wait()
                step(own)
                own.commit()
        except BaseException as error:  # reported by the test, not lost in the thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(step,)) for step in work]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return errors
