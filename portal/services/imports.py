"""Placing accounts from a CSV file: upload, validation in the background, placement at once.

A batch moves UPLOADED → VALIDATING → VALIDATED → PLACING → PLACED, or to FAILED with a
message for the creditor. The file is kept in document storage, never in the database.

Validation reads the stored file as a stream, a chunk of about ``CHUNK_ROWS`` rows at a
time (see ``import_rows`` for why a case's rows must be consecutive). It places nothing:
it writes the rejected rows (``ImportRowError``) and the counts, committing every chunk
so the page can show progress. Placing reads the file twice more, in one transaction
that commits once at the end: a first pass checks every case again, a second places the
ones that passed with ``place_many``, a chunk at a time. If anything fails on the way,
no case of the batch exists.

Both jobs take ids, load the batch with the tenant filter switched off (a job has no
signed-in user) and then scope the session to the batch's tenant explicitly.

Starting a job takes two steps: the batch is marked VALIDATING or PLACING and
committed (a worker elsewhere must see that before it runs the job), then the job is
queued. When the queue does not answer, ``hand_back`` returns the batch to the status
it had before, so nothing is left half-done: no batch waits for a job that was never
queued, and the creditor can ask for the same step again once the queue is back.
"""

from __future__ import annotations

import io
import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import PurePosixPath
from typing import Any, BinaryIO, cast

from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.adapters.storage import DocumentNotFound, Storage
from portal.db import utcnow
from portal.models import (
    ImportBatch,
    ImportRowError,
    ImportStatus,
    NotificationKind,
    Tenant,
    User,
)
from portal.services import audit, notices
from portal.services.csv_reading import CsvFileError, CsvFormat, inspect, read_rows
from portal.services.import_columns import (
    DATE_FORMATS,
    automatic_mapping,
    mapping_problems,
    remembered_after,
)
from portal.services.import_rows import (
    ReadCase,
    RowLayout,
    SeenInvoices,
    SourceRow,
    group_cases,
    read_case,
)
from portal.services.placement import check_placements, place_many
from tenants.scoping import TenantScope, current_scope, scoped_get, set_scope, unscoped

log = logging.getLogger(__name__)

MAX_ROWS = 100_000
CHUNK_ROWS = 1_000
ERRORS_SHOWN = 100
# A batch whose columns may be mapped (again) and that may be validated (again).
REVISABLE = (ImportStatus.UPLOADED, ImportStatus.VALIDATED, ImportStatus.FAILED)
IN_PROGRESS = (ImportStatus.VALIDATING, ImportStatus.PLACING)
INTERNAL_ERROR = "The import stopped on an unexpected error, which was logged. Please try again."
CONFLICT = (
    "Some of these accounts were placed another way at the same moment. Nothing was placed: "
    "check the file again."
)


class ImportRefused(ValueError):
    """The import cannot go on; the message tells the creditor why."""


# --- upload and mapping --------------------------------------------------------------------


def display_name(filename: str) -> str:
    """The uploaded file's own name, without any folder a browser sent along."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip()
    return name[:255] or "upload.csv"


def start_import(
    session: Session,
    store: Storage,
    *,
    tenant: Tenant,
    user_id: int,
    upload: BinaryIO,
    filename: str,
    date_format: str,
) -> ImportBatch:
    """Check the file as a whole, store it and record the batch (nothing is validated yet).

    The tenant's date format is remembered, and so is the column mapping chosen for the
    same columns before: the batch then needs no mapping (``batch.mapping`` is filled).
    """
    if date_format not in DATE_FORMATS:
        raise ImportRefused("Choose how the dates in the file are written.")
    try:
        shape = inspect(upload, max_rows=MAX_ROWS)
    except CsvFileError as error:
        raise ImportRefused(str(error)) from error
    upload.seek(0)
    key = f"tenant/{tenant.id}/imports/{uuid.uuid4().hex}.csv"
    store.put(key, upload, "text/csv")
    tenant.csv_date_format = date_format
    batch = ImportBatch(
        tenant_id=tenant.id,
        created_by_id=user_id,
        filename=display_name(filename),
        storage_key=key,
        status=ImportStatus.UPLOADED,
        encoding=shape.format.encoding,
        delimiter=shape.format.delimiter,
        headers=shape.headers,
        mapping=automatic_mapping(shape.headers, tenant.csv_column_mapping),
        total_rows=shape.rows,
        summary={"date_format": date_format, "preview": shape.preview},
    )
    session.add(batch)
    session.flush()
    return batch


def save_mapping(
    session: Session, batch: ImportBatch, tenant: Tenant, chosen: dict[str, str]
) -> list[str]:
    """Use ``chosen`` ({their header: template field}) for the batch and remember it.

    Returns the problems instead when the choice is incomplete or contradictory, and
    then changes nothing.
    """
    if batch.status not in REVISABLE:
        return ["This import is under way or finished: its columns cannot change now."]
    if problems := mapping_problems(batch.headers, chosen):
        return problems
    batch.mapping = {header: field for header in batch.headers if (field := chosen.get(header))}
    tenant.csv_column_mapping = remembered_after(tenant.csv_column_mapping, batch.headers, chosen)
    session.flush()
    return []


def _move(session: Session, batch: ImportBatch, condition: Any, **values: Any) -> bool:
    """Change the batch only if ``condition`` still holds in the database (no race)."""
    statement = (
        update(ImportBatch)
        .where(ImportBatch.id == batch.id, ImportBatch.tenant_id == batch.tenant_id, condition)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    moved = cast(CursorResult[Any], session.execute(statement)).rowcount == 1
    session.refresh(batch)
    return moved


def begin_validation(session: Session, batch: ImportBatch) -> bool:
    """Mark the batch VALIDATING; False when it has no mapping or is busy or placed."""
    if not batch.mapping:
        return False
    return _move(
        session,
        batch,
        ImportBatch.status.in_(REVISABLE),
        status=ImportStatus.VALIDATING,
        processed_rows=0,
        error=None,
        finished_at=None,
    )


def hand_back(session: Session, batch: ImportBatch, previous: ImportStatus) -> None:
    """The job of the step just begun could not be queued: the batch goes back to
    ``previous`` (unless a job has moved it on since)."""
    _move(session, batch, ImportBatch.status.in_(IN_PROGRESS), status=previous)


def begin_placing(session: Session, batch: ImportBatch) -> bool:
    """Mark a validated batch PLACING, once: a second confirmation gets False."""
    return _move(
        session,
        batch,
        (ImportBatch.status == ImportStatus.VALIDATED) & (ImportBatch.valid_cases > 0),
        status=ImportStatus.PLACING,
        error=None,
    )


# --- the two jobs --------------------------------------------------------------------------


def run_validation(
    session: Session, store: Storage, batch_id: int, *, today: date | None = None
) -> None:
    """Job: check every row of the batch's file and record what is wrong; place nothing."""
    _run_job(
        session,
        batch_id,
        ImportStatus.VALIDATING,
        lambda batch: _validate(session, store, batch, today or utcnow().date()),
    )


def run_placement(
    session: Session,
    store: Storage,
    batch_id: int,
    placed_by_id: int | None,
    *,
    today: date | None = None,
) -> None:
    """Job: place every valid case of a validated batch, in one transaction."""
    _run_job(
        session,
        batch_id,
        ImportStatus.PLACING,
        lambda batch: _place(session, store, batch, placed_by_id, today or utcnow().date()),
    )


def _run_job(
    session: Session,
    batch_id: int,
    expected: ImportStatus,
    work: Callable[[ImportBatch], None],
) -> None:
    previous = current_scope(session)
    with unscoped(session):  # a job has no signed-in user: the batch says whose it is
        batch = session.execute(
            select(ImportBatch).where(ImportBatch.id == batch_id)
        ).scalar_one_or_none()
    if batch is None or batch.status != expected:
        log.warning("import %s is not %s: job skipped", batch_id, expected)
        return
    set_scope(session, TenantScope.only(batch.tenant_id))
    try:
        work(batch)
    except Exception as error:
        session.rollback()
        if isinstance(error, ImportRefused):
            message = str(error)
        elif isinstance(error, IntegrityError):
            log.warning("import %s collided with another placement: %s", batch_id, error)
            message = CONFLICT
        else:
            log.exception("import %s failed", batch_id)
            message = INTERNAL_ERROR
        session.execute(
            update(ImportBatch)
            .where(ImportBatch.id == batch_id)
            .values(status=ImportStatus.FAILED, error=message, finished_at=utcnow())
        )
        _tell_owner(session, batch, "Import failed", message)
        session.commit()
    finally:
        set_scope(session, previous)


def _tell_owner(session: Session, batch: ImportBatch, outcome: str, text: str) -> None:
    """The person who started the import, in the job's last commit. A job has no mailer:
    a notice wanted at once comes with the digest (see ``notices``)."""
    person = session.get(User, batch.created_by_id)
    notices.notify(
        session, None, kind=NotificationKind.IMPORT_FINISHED,
        recipients=[person] if person is not None else [],
        title=f"{outcome}: {batch.filename}", body=text,
        link=notices.import_path(batch.id), tenant_id=batch.tenant_id, case_id=None,
    )  # fmt: skip


@dataclass
class Counts:
    rows: int = 0
    cases: int = 0
    valid_rows: int = 0
    valid_cases: int = 0
    rejected_rows: int = 0

    def add(self, case: ReadCase) -> None:
        size = len(case.rows.rows)
        self.rows += size
        if case.rows.reference and case.rows.refused is None:
            self.cases += 1
        if case.valid:
            self.valid_rows += size
            self.valid_cases += 1
        else:
            self.rejected_rows += size


def _validate(session: Session, store: Storage, batch: ImportBatch, today: date) -> None:
    session.execute(delete(ImportRowError).where(ImportRowError.batch_id == batch.id))
    counts = Counts()
    for chunk in _read_chunks(session, store, batch, today):
        rejected: list[dict[str, Any]] = []
        for case in chunk:
            counts.add(case)
            rows = {row.line: row.cells for row in case.rows.rows}
            rejected += [
                {"tenant_id": batch.tenant_id, "batch_id": batch.id, "line_number": line,
                 "reason": reason, "raw": rows[line]}
                for line, reason in case.reasons().items()
            ]  # fmt: skip
        if rejected:
            session.execute(insert(ImportRowError), rejected)
        batch.processed_rows = counts.rows
        session.commit()  # every chunk (about CHUNK_ROWS rows): the progress bar moves
    if counts.rows == 0:
        raise ImportRefused("The file has no rows below the header.")
    batch.total_rows = counts.rows
    batch.valid_rows = counts.valid_rows
    batch.valid_cases = counts.valid_cases
    batch.rejected_rows = counts.rejected_rows
    batch.summary = {**batch.summary, "cases": counts.cases, "checked_on": today.isoformat()}
    batch.status = ImportStatus.VALIDATED
    batch.finished_at = utcnow()
    _tell_owner(session, batch, "Import checked",
                f"{batch.valid_cases} case(s) ready to place, {batch.rejected_rows} row(s) "
                "rejected. Look at the preview and confirm to place them.")  # fmt: skip
    session.commit()


def _place(
    session: Session, store: Storage, batch: ImportBatch, placed_by_id: int | None, today: date
) -> None:
    """Check the whole file again, then place what passed: both inside one transaction.

    The checks run as on the day of the preview, so what was shown is what gets placed;
    a difference can only come from cases placed another way since, and then nothing is
    placed. They all run before the first insert, so no look-up has to search the rows
    this batch is adding. Which cases passed is kept as one byte per case.
    """
    tenant = scoped_get(session, Tenant, batch.tenant_id)
    if tenant is None:
        raise ImportRefused("The account this import belongs to is not available.")
    checked_on = date.fromisoformat(batch.summary.get("checked_on", today.isoformat()))
    passed = bytearray()
    for chunk in _read_chunks(session, store, batch, checked_on):
        passed.extend(case.valid for case in chunk)
    if sum(passed) != batch.valid_cases:
        raise ImportRefused(
            f"The preview showed {batch.valid_cases} cases to place, but {sum(passed)} still "
            "pass the checks: some were placed another way since. Nothing was placed. Check "
            "the file again to see which."
        )
    placed = 0
    cases = iter(passed)
    for chunk in _read_chunks(session, store, batch, checked_on, check=False):
        requests = [case.request for case in chunk if next(cases) and case.request is not None]
        placed += len(place_many(session, tenant, requests, placed_by_id=placed_by_id,
                                 today=today, import_batch_id=batch.id))  # fmt: skip
    batch.status = ImportStatus.PLACED
    batch.placed_cases = placed
    batch.finished_at = utcnow()
    audit.record(session, "import.placed", actor_id=placed_by_id, tenant_id=tenant.id,
                 subject=batch, cases=placed, rows=batch.valid_rows)  # fmt: skip
    _tell_owner(session, batch, "Import placed", f"{placed} case(s) placed.")
    session.commit()


@contextmanager
def _opened(store: Storage, key: str) -> Iterator[BinaryIO]:
    """The stored file as a stream (read whole only from a backend that cannot stream)."""
    opener = getattr(store, "open", None)
    try:
        stream: BinaryIO = opener(key) if callable(opener) else io.BytesIO(store.get(key))
    except DocumentNotFound as error:
        raise ImportRefused("The uploaded file is no longer stored: upload it again.") from error
    try:
        yield stream
    finally:
        stream.close()


def layout_of(batch: ImportBatch, tenant: Tenant) -> RowLayout:
    fmt = CsvFormat(batch.encoding or "utf-8", batch.delimiter or ",")
    return RowLayout(
        headers=batch.headers,
        mapping=batch.mapping,
        date_format=batch.summary.get("date_format", tenant.csv_date_format),
        decimal_separator=fmt.decimal_separator,
        default_currency=tenant.currency,
    )


def _read_chunks(
    session: Session, store: Storage, batch: ImportBatch, today: date, *, check: bool = True
) -> Iterator[list[ReadCase]]:
    """The file's cases, about ``CHUNK_ROWS`` rows at a time, read and maybe checked.

    With ``check`` each chunk also goes through ``check_placements``; without, only the
    cells are read (what the second pass of ``_place`` needs).
    """
    tenant = scoped_get(session, Tenant, batch.tenant_id)
    if tenant is None:
        raise ImportRefused("The account this import belongs to is not available.")
    layout = layout_of(batch, tenant)
    fmt = CsvFormat(batch.encoding or "utf-8", batch.delimiter or ",")
    with _opened(store, batch.storage_key) as stream, closing(read_rows(stream, fmt)) as rows:
        try:
            next(rows, None)  # the header, read when the file was uploaded
            source = (SourceRow(line, cells) for line, cells in rows)
            seen = SeenInvoices()
            chunk: list[ReadCase] = []
            size = 0
            for case_rows in group_cases(source, layout):
                case = read_case(case_rows, layout, today)
                seen.check(case, layout)
                chunk.append(case)
                size += len(case_rows.rows)
                if size >= CHUNK_ROWS:
                    yield _checked(session, chunk, layout, today) if check else chunk
                    chunk, size = [], 0
            if chunk:
                yield _checked(session, chunk, layout, today) if check else chunk
        except CsvFileError as error:
            raise ImportRefused(str(error)) from error


def _checked(
    session: Session, chunk: list[ReadCase], layout: RowLayout, today: date
) -> list[ReadCase]:
    """The chunk with the placement checks added: duplicates are looked up in batches."""
    readable = [case for case in chunk if case.request is not None]
    requests = [case.request for case in readable if case.request is not None]
    for case, problems in zip(readable, check_placements(session, requests, today), strict=True):
        case.add_problems(problems, layout)
    return chunk


# --- reading the results -------------------------------------------------------------------


def recent_batches(session: Session, limit: int = 20) -> list[ImportBatch]:
    statement = select(ImportBatch).order_by(ImportBatch.id.desc()).limit(limit)
    return list(session.scalars(statement))


def shown_errors(session: Session, batch: ImportBatch) -> list[ImportRowError]:
    statement = (
        select(ImportRowError)
        .where(ImportRowError.batch_id == batch.id)
        .order_by(ImportRowError.line_number)
        .limit(ERRORS_SHOWN)
    )
    return list(session.scalars(statement))


def rejected_rows(session: Session, batch: ImportBatch) -> Iterator[list[str]]:
    """The rejected rows as uploaded, with their line and reason in two last columns."""
    width = len(batch.headers)
    yield [*batch.headers, "import_line", "import_error"]
    statement = (
        select(ImportRowError.line_number, ImportRowError.reason, ImportRowError.raw)
        .where(ImportRowError.batch_id == batch.id)
        .order_by(ImportRowError.line_number)
        .execution_options(yield_per=1000)
    )
    for line, reason, raw in session.execute(statement):
        cells = [str(cell) for cell in raw]
        if not any(cell.strip() for cell in cells[width:]):
            cells = cells[:width] + [""] * (width - len(cells))
        yield [*cells, str(line), reason]
