"""The three journeys at once under load, then every confirmed action found in the database.

    .venv/bin/python bench/journeys_bench.py [--users 50] [--seconds 60] [--cases 20000]
        [--tenants 20] [--links 3000] [--job-workers 1] [--reuse] [--keep]

Starts the stack as ``load_bench.py`` does (a scratch PostgreSQL database filled by
``reporting_bench.py``'s generator, Redis, an S3 endpoint, two gunicorn instances of the
portal and a job worker) and drives it with locust for ``--seconds``: ``--users`` clients
that never pause, in three journeys:

- creditors (a quarter): sign in, place an account through the placement form (a
  reference of this run's own), open the case the portal sends them to, browse their
  case list;
- collectors (a quarter): sign in, open their queue, open a case from it, add a note
  that carries a marker of this run's own;
- debtors (half): open a payment link, pay in full through the simulated provider's
  checkout and see the thank-you page; each client takes a link no other client has.

Each client writes down what the portal confirmed: the placement's redirect to its
case, the note's redirect, the payment's redirect to the thank-you page. Anything else
(a refusal, an error page, a broken connection) is an error. After the run, and after
the worker has finished what the run queued, the database is reconciled with those
notes:

- cases with the run's references = placements confirmed, each reference once;
- notes with the run's marker = notes confirmed;
- payments recorded in the ledger during the run = payments confirmed, one per paid
  link's case, none on any other case; each of those cases owes nothing and has one
  paid checkout;
- ``flask ledger verify`` finds every stored summary equal to the ledger.

It prints throughput and latency per step, the errors and the reconciliation, and exits
with 1 on any error or mismatch. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_bench  # the stack and the locust base come from there
from load_bench import BIN, ROOT, Processes, csrf_token

THIS_SCRIPT = Path(__file__).resolve()
INVOICE_DUE = "2026-06-30"  # long past, as a placed account's invoice is


# --- the clients (in the locust child process) ---------------------------------------------


def drive(config_path: Path, result_path: Path) -> None:
    """Run the three journeys together; write their figures and what was confirmed."""
    import locust  # noqa: PLC0415, F401 - patches the standard library first
    from locust import task  # noqa: PLC0415

    config = json.loads(config_path.read_text())
    run = config["run"]
    RoundRobin = load_bench.round_robin_user(iter(range(1_000_000)))
    links = iter(config["tokens"])
    confirmed: dict[str, list[str]] = {"placed": [], "notes": [], "paid": []}
    numbers = iter(range(1, 10_000_000))

    class Journey(RoundRobin):  # type: ignore[misc, valid-type]
        abstract = True
        hosts = tuple(config["portal"])

        def expect(self, method: str, path: str, name: str, status: int, **kw: Any) -> Any:
            """Send a request; anything but ``status`` counts as an error. The response."""
            with self.client.request(
                method, self.url(path), name=name, catch_response=True,
                allow_redirects=False, **kw,
            ) as response:  # fmt: skip
                if response.status_code != status:
                    response.failure(f"{response.status_code} where {status} was expected")
                    return None
                return response

        def post_form(self, path: str, name: str, data: dict[str, str]) -> str | None:
            """POST a form the portal should accept with a redirect; where it sends us."""
            response = self.expect("POST", path, name, 303 if path.startswith("/pay") else 302,
                                   data=data)  # fmt: skip
            return urlsplit(response.headers["Location"]).path if response else None

    class Creditor(Journey):
        weight = 1

        def on_start(self) -> None:
            self.sign_in(config["creditors"][self.number % len(config["creditors"])])

        @task
        def place_and_follow(self) -> None:
            page = self.expect("GET", "/creditor/place", "creditor: placement form", 200)
            if page is None:
                return
            reference = f"{run}-{next(numbers)}"
            case_page = self.post_form(
                "/creditor/place", "creditor: place an account", placement(page.text, reference)
            )
            if case_page is None:
                return
            confirmed["placed"].append(reference)
            self.expect("GET", case_page, "creditor: the placed case", 200)
            self.expect("GET", "/creditor/", "creditor: case list", 200)

    class Collector(Journey):
        weight = 1

        def on_start(self) -> None:
            self.sign_in(config["collectors"][self.number % len(config["collectors"])])

        @task
        def work_a_case(self) -> None:
            queue = self.expect("GET", "/agency/", "collector: queue", 200)
            cases = case_links(queue.text if queue else "")
            if not cases:
                return
            case = cases[(self.sent * 7919 + self.number) % len(cases)]
            page = self.expect("GET", case, "collector: case page", 200)
            if page is None:
                return
            marker = f"{run} note {next(numbers)}"
            data = {"note-csrf_token": csrf_token(page.text, "note-csrf_token"),
                    "note-text": f"Called the debtor's office. {marker}"}  # fmt: skip
            if self.post_form(f"{case}/notes", "collector: add a note", data):
                confirmed["notes"].append(marker)

    class Debtor(Journey):
        weight = 2

        @task
        def pay_in_full(self) -> None:
            token = next(links, None)
            if token is None:  # every link paid: keep reading a paid one's page
                self.expect("GET", f"/pay/{config['tokens'][0]}", "debtor: payment page", 200)
                return
            page = self.expect("GET", f"/pay/{token}", "debtor: payment page", 200)
            if page is None:
                return
            checkout = self.post_form(
                f"/pay/{token}/checkout", "debtor: pay in full",
                {"csrf_token": csrf_token(page.text), "purpose": "full"},
            )  # fmt: skip
            form = checkout and self.expect("GET", checkout, "debtor: checkout page", 200)
            if not form:
                return
            paid = self.post_form(
                checkout, "debtor: pay (simulated card)",
                {"csrf_token": csrf_token(form.text), "outcome": "pay"},
            )  # fmt: skip
            if paid == f"/pay/{token}/paid":
                confirmed["paid"].append(token)
                self.expect("GET", paid, "debtor: thank-you page", 200)

    results = load_bench.run_phase([Debtor, Collector, Creditor], config)
    result_path.write_text(json.dumps({"journeys": results, "confirmed": confirmed}, indent=2))


def placement(form_page: str | None, reference: str) -> dict[str, str]:
    """The placement form filled in for one business account with one overdue invoice."""
    return {
        "csrf_token": csrf_token(form_page),
        "creditor_reference": reference,
        "currency": "EUR",
        "debtor_kind": "business",
        "debtor_name": f"Nordwind Logistik AG ({reference})",
        "email": "ap@nordwind.example",
        "country": "DE",
        "language": "de",
        "invoices-0-number": f"INV-{reference}",
        "invoices-0-issue_date": "2026-06-01",
        "invoices-0-due_date": INVOICE_DUE,
        "invoices-0-amount": "1,250.50",
        "reminders_sent": "2",
        "place": "1",
    }


def case_links(queue_page: str) -> list[str]:
    """The case pages the collector's queue links to."""
    import re  # noqa: PLC0415

    return sorted(set(re.findall(r'href="(/agency/cases/\d+)"', queue_page)))


# --- reconciliation -------------------------------------------------------------------------


def last_ledger_entry(database_url: str) -> int:
    """The ledger's newest entry id: entries above it were written during the run."""
    from sqlalchemy import func, select  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from portal import db  # noqa: PLC0415
    from portal.models import LedgerEntry  # noqa: PLC0415
    from tenants.scoping import unscoped  # noqa: PLC0415

    engine = db.make_engine(database_url)
    try:
        with Session(engine) as session, unscoped(session):
            return session.scalar(select(func.max(LedgerEntry.id))) or 0
    finally:
        engine.dispose()


def reconcile(
    database_url: str, run: str, before: int, confirmed: dict[str, list[str]],
    links: dict[str, int],
) -> list[str]:  # fmt: skip
    """Compare what clients were told with what the database holds; the mismatches.
    ``before`` is the ledger's newest entry id when the run started."""
    from sqlalchemy import func, select  # noqa: PLC0415
    from sqlalchemy.orm import Session  # noqa: PLC0415

    from portal import db  # noqa: PLC0415
    from portal.models import (  # noqa: PLC0415
        Activity,
        Case,
        Checkout,
        CheckoutStatus,
        EntryKind,
        LedgerEntry,
    )  # fmt: skip
    from tenants.scoping import unscoped  # noqa: PLC0415

    engine = db.make_engine(database_url)
    problems: list[str] = []
    try:
        with Session(engine) as session, unscoped(session):
            placed = session.scalars(
                select(Case.creditor_reference).where(Case.creditor_reference.like(f"{run}-%"))
            ).all()
            notes = session.scalars(
                select(Activity.body).where(Activity.body.like(f"%{run} note %"))
            ).all()
            payments = session.execute(
                select(LedgerEntry.case_id, func.count())
                .where(LedgerEntry.kind == EntryKind.PAYMENT, LedgerEntry.id > before)
                .group_by(LedgerEntry.case_id)
            ).all()
            paid_cases = [links[token] for token in confirmed["paid"]]
            owing = session.scalar(
                select(func.count()).where(Case.id.in_(paid_cases), Case.outstanding_minor != 0)
            )
            paid_checkouts = session.execute(
                select(Checkout.case_id, func.count())
                .where(Checkout.case_id.in_(paid_cases), Checkout.status == CheckoutStatus.PAID)
                .group_by(Checkout.case_id)
            ).all()
    finally:
        engine.dispose()
    compare(problems, "placements", sorted(confirmed["placed"]), sorted(placed))
    compare(problems, "notes", sorted(confirmed["notes"]),
            sorted(body[body.index(run):] for body in notes if body))  # fmt: skip
    compare(problems, "payments (case: count)", sorted((c, 1) for c in paid_cases),
            sorted((int(c), int(n)) for c, n in payments))  # fmt: skip
    compare(problems, "paid checkouts (case: count)", sorted((c, 1) for c in paid_cases),
            sorted((int(c), int(n)) for c, n in paid_checkouts))  # fmt: skip
    if owing:
        problems.append(f"{owing} paid cases still owe something")
    print(f"  placements: {len(confirmed['placed']):,} confirmed, {len(placed):,} in the database")
    print(f"  notes:      {len(confirmed['notes']):,} confirmed, {len(notes):,} in the database")
    print(f"  payments:   {len(paid_cases):,} confirmed, {sum(n for _, n in payments):,} ledger "
          f"payments on {len(payments):,} cases, {len(paid_checkouts):,} paid checkouts, "
          f"{owing} paid cases still owing")  # fmt: skip
    return problems


def compare(problems: list[str], what: str, told: list[Any], stored: list[Any]) -> None:
    if told != stored:
        missing = [item for item in told if item not in stored][:5]
        extra = [item for item in stored if item not in told][:5]
        problems.append(
            f"{what}: clients were told {len(told)}, the database holds {len(stored)} "
            f"(missing e.g. {missing}, unexpected e.g. {extra})"
        )


def ledger_verify(env: dict[str, str]) -> list[str]:
    found = subprocess.run(  # noqa: S603 - the portal's own command
        [str(BIN / "flask"), "--app", "portal", "ledger", "verify"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    last = (found.stdout.strip().splitlines() or [""])[-1]
    print(f"  flask ledger verify: exit {found.returncode}: {last}")
    return [] if found.returncode == 0 else [f"ledger verify: {found.stdout}{found.stderr}"]


def wait_for_worker(env: dict[str, str], timeout: float) -> None:
    """Let the worker finish the mail and receipts the run queued before counting (what
    is counted does not wait for them: placements, notes and payments are written in
    the request)."""
    from portal.adapters.jobs import RedisJobs  # noqa: PLC0415

    queue = RedisJobs.from_url(env["REDIS_URL"], env["RQ_QUEUE"], 60)
    queue.wait_idle(timeout)
    left = queue.queue.count + queue.queue.started_job_registry.count
    print(f"  jobs left on the worker's queue: {left}; failed jobs: {queue.failed_count()}")


# --- the run --------------------------------------------------------------------------------


def bench(args: argparse.Namespace, processes: Processes) -> int:
    print(f"Working folder (process logs): {processes.workdir}")
    database_url, reused = load_bench.postgres_database(args.database_name, args.reuse)
    print(f"\nData: {database_url}")
    people = load_bench.fill(database_url, args.cases, args.tenants, reused)
    secret_key = secrets.token_urlsafe(48)
    links = load_bench.issue_links(database_url, secret_key, args.links)
    print(f"  {people['cases']:,} cases; {len(links):,} payment links issued")

    print("\nStarting: S3 (moto), Redis queue, 2 portal instances, job worker")
    portal, env = load_bench.start_portal(processes, database_url, secret_key, True, args)
    run = f"J{int(time.time())}"
    before = last_ledger_entry(database_url)
    print(f"\nJourneys: {args.users} clients for {args.seconds} s (after {args.warmup} s "
          f"unmeasured), run marker {run}")  # fmt: skip
    results = load_bench.run_load(processes.workdir, {
        "portal": portal, "tokens": list(links), "users": args.users, "seconds": args.seconds,
        "warmup": args.warmup, "creditors": people["creditors"],
        "collectors": people["collectors"], "run": run,
    }, script=THIS_SCRIPT)  # fmt: skip
    errors = load_bench.show("Creditors, collectors and debtors together", results["journeys"])

    print("\nReconciliation")
    wait_for_worker(env, args.job_timeout)
    problems = reconcile(database_url, run, before, results["confirmed"], links)
    problems += ledger_verify(env)
    for problem in problems:
        print(f"  MISMATCH {problem}")
    print(f"\n{errors} errors, {len(problems)} mismatches (target: 0 and 0)")
    return errors + len(problems)


def main() -> None:
    parser = load_bench.stack_arguments(
        (__doc__ or "").splitlines()[0], users=50, seconds=60, links=3_000
    )  # fmt: skip
    args = load_bench.checked(parser)
    if args.drive:
        drive(*args.drive)
        return
    failures = load_bench.run_alone(parser, args, "journeys-bench-", bench)
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
