"""The lawyer-ready case bundle: a summary PDF and every case document in one ZIP.

The summary (claim, invoices, ledger with a running balance, the timeline oldest first,
the legal file) is read from the database and rendered into a ``Bundle`` first, while
the request's session and tenant scope are there. Only then is the archive written:
from storage, one chunk at a time, into a ZIP that needs no seekable output, so a
bundle of any size passes through a bounded amount of memory and a response can send
it as it is made.

Timeline entries a collector kept from the creditor are in the summary only when
``include_internal`` says so (the agency's staff export it; creditors get their view).

No Flask here: the view passes the session, storage and renderer, and commits the audit
row before the first byte is sent.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import date, datetime
from itertools import accumulate
from typing import IO, Any, BinaryIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.adapters.storage import Storage, read_in_chunks
from portal.db import utcnow
from portal.models import (
    Activity,
    AuditEntry,
    Case,
    Document,
    DocumentStatus,
    Judgment,
    LedgerEntry,
    LegalProceeding,
    LegalRequest,
    LegalRequestStatus,
)
from portal.services import audit, ledger
from portal.services.letters import Renderer
from portal.services.money import format_money

TEMPLATE = "bundle_summary.html"
# What is read from storage and compressed at a time: each piece the stream yields is
# about this size (deflate adds a little to data that does not compress).
ZIP_CHUNK_BYTES = 256 * 1024
DAY = "%d %b %Y"


@dataclass(frozen=True)
class BundleDocument:
    """A stored case document as the archive names it."""

    name: str
    storage_key: str
    uploaded_at: datetime


@dataclass(frozen=True)
class Bundle:
    """Everything the archive holds, read before a byte of it is written."""

    reference: str
    summary_pdf: bytes
    documents: tuple[BundleDocument, ...]
    made_at: datetime

    @property
    def summary_name(self) -> str:
        return f"{self.reference}-summary.pdf"

    @property
    def filename(self) -> str:
        return f"{self.reference}-bundle.zip"

    @property
    def names(self) -> list[str]:
        return [self.summary_name, *(document.name for document in self.documents)]


# -- the summary ----------------------------------------------------------------------


def _claim(session: Session, case: Case, money: Callable[[int], str]) -> dict[str, Any]:
    debtor, owed = case.debtor, ledger.balance(session, case)
    return {
        "reference": case.agency_reference,
        "creditor_reference": case.creditor_reference,
        "creditor": case.tenant.display_name,
        "stage": case.stage.label,
        "placed_on": case.placed_at.strftime(DAY),
        "currency": case.currency,
        "debtor": {
            "name": debtor.name,
            "address_lines": debtor.address_lines,
            "email": debtor.email or "",
            "phone": debtor.phone or "",
            "registration_number": debtor.registration_number or "",
            "vat_number": debtor.vat_number or "",
        },
        "amounts": {
            "principal": money(owed.principal),
            "interest": money(owed.interest),
            "fees": money(owed.fees),
            "adjustments": money(owed.adjustments),
            "total": money(owed.total_claimed),
            "paid": money(owed.paid),
            "outstanding": money(owed.outstanding),
        },
    }


def _invoices(case: Case, money: Callable[[int], str]) -> list[dict[str, str]]:
    return [
        {
            "number": invoice.number,
            "issue_date": invoice.issue_date.strftime(DAY),
            "due_date": invoice.due_date.strftime(DAY),
            "amount": money(invoice.amount_minor),
        }
        for invoice in case.invoices
    ]


def _ledger(session: Session, case: Case, money: Callable[[int], str]) -> list[dict[str, str]]:
    """Entries by value date, each with the balance after it (what is owed is positive)."""
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.case_id == case.id)
        .order_by(LedgerEntry.value_date, LedgerEntry.id)
    ).all()
    running = accumulate(entry.amount_minor for entry in entries)
    return [
        {
            "date": entry.value_date.strftime(DAY),
            "kind": entry.kind.value.capitalize(),
            "description": entry.description,
            "amount": money(entry.amount_minor),
            "balance": money(after),
        }
        for entry, after in zip(entries, running, strict=True)
    ]


def _timeline(session: Session, case: Case, *, include_internal: bool) -> list[dict[str, Any]]:
    statement = select(Activity).where(Activity.case_id == case.id)
    if not include_internal:
        statement = statement.where(Activity.visible_to_creditor.is_(True))
    activities = session.scalars(statement.order_by(Activity.occurred_at, Activity.id)).all()
    return [
        {
            "when": f"{activity.occurred_at:{DAY} %H:%M} UTC",
            "who": activity.actor.name if activity.actor else "Portal",
            "kind": activity.kind.value.replace("_", " ").capitalize(),
            "summary": activity.summary,
            "outcome": activity.outcome or "",
            "body": activity.body or "",
            "internal": not activity.visible_to_creditor,
        }
        for activity in activities
    ]


def _legal(session: Session, case: Case, money: Callable[[int], str]) -> dict[str, Any] | None:
    """The lawyer the creditor approved, the court file and the judgment; None before legal."""
    request = session.scalars(
        select(LegalRequest)
        .where(LegalRequest.case_id == case.id, LegalRequest.status == LegalRequestStatus.APPROVED)
        .order_by(LegalRequest.id.desc())
    ).first()
    proceeding = session.scalar(select(LegalProceeding).where(LegalProceeding.case_id == case.id))
    judgment = session.scalar(select(Judgment).where(Judgment.case_id == case.id))
    if request is None and proceeding is None and judgment is None:
        return None
    lawyer = proceeding.lawyer if proceeding else request.lawyer if request else None
    return {
        "lawyer": f"{lawyer.label} <{lawyer.email}>" if lawyer else "",
        "court": (proceeding.court or "") if proceeding else "",
        "court_case_number": (proceeding.court_case_number or "") if proceeding else "",
        "filed_on": proceeding.filed_on.strftime(DAY) if proceeding and proceeding.filed_on else "",
        "judgment": {
            "date": judgment.judgment_date.strftime(DAY),
            "principal": money(judgment.principal_minor),
            "interest": money(judgment.interest_minor),
            "costs": money(judgment.costs_minor),
            "total": money(judgment.total_minor),
        }
        if judgment
        else None,
    }


def summary_context(
    session: Session, case: Case, today: date, *, include_internal: bool
) -> dict[str, Any]:
    """What the summary shows, as plain values (no database objects reach the template)."""

    def money(amount_minor: int) -> str:
        return format_money(amount_minor, case.currency)

    return {
        "today": today.strftime(DAY),
        "case": _claim(session, case, money),
        "invoices": _invoices(case, money),
        "ledger": _ledger(session, case, money),
        "timeline": _timeline(session, case, include_internal=include_internal),
        "include_internal": include_internal,
        "legal": _legal(session, case, money),
    }


def bundle_pdf(
    session: Session, case: Case, renderer: Renderer, today: date, *, include_internal: bool
) -> bytes:
    context = summary_context(session, case, today, include_internal=include_internal)
    return renderer.pdf(renderer.render_html(TEMPLATE, context))


# -- the archive ----------------------------------------------------------------------


def prepare(
    session: Session, case: Case, renderer: Renderer, today: date, *, include_internal: bool
) -> Bundle:
    """Render the summary and list the stored documents: all the bundle needs of the database."""
    stored = session.scalars(
        select(Document)
        .where(Document.case_id == case.id, Document.status == DocumentStatus.STORED)
        .order_by(Document.uploaded_at, Document.id)
    ).all()
    return Bundle(
        reference=case.agency_reference,
        summary_pdf=bundle_pdf(session, case, renderer, today, include_internal=include_internal),
        documents=tuple(
            BundleDocument(f"documents/{d.id}-{d.filename}", d.storage_key, d.uploaded_at)
            for d in stored
        ),
        made_at=utcnow(),
    )


def record_export(
    session: Session,
    case: Case,
    bundle: Bundle,
    *,
    actor_id: int | None,
    ip_address: str | None,
    include_internal: bool,
) -> AuditEntry:
    return audit.record(
        session,
        "case.bundle_exported",
        actor_id=actor_id,
        tenant_id=case.tenant_id,
        subject=case,
        ip_address=ip_address,
        documents=len(bundle.documents),
        internal_entries=include_internal,
    )


def _member(name: str, modified: datetime) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=modified.timetuple()[:6])
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o600 << 16  # a plain file, as ZipFile.writestr marks them
    return info


def _members(bundle: Bundle, storage: Storage) -> Iterator[tuple[zipfile.ZipInfo, BinaryIO]]:
    """Each entry with its bytes as a stream; a document is opened only when its turn comes."""
    yield _member(bundle.summary_name, bundle.made_at), io.BytesIO(bundle.summary_pdf)
    for document in bundle.documents:
        yield _member(document.name, document.uploaded_at), storage.open(document.storage_key)


def _fill(
    archive: zipfile.ZipFile, bundle: Bundle, storage: Storage, chunk_bytes: int
) -> Generator[None, None, None]:
    """Copy every entry into ``archive`` chunk by chunk, pausing after each chunk.

    ``DocumentNotFound`` from storage ends the archive unfinished: a bundle never leaves
    out a document silently.
    """
    for info, stream in _members(bundle, storage):
        with archive.open(info, "w", force_zip64=True) as entry:
            for piece in read_in_chunks(stream, chunk_bytes):
                entry.write(piece)
                yield


def write_bundle(
    session: Session,
    case: Case,
    storage: Storage,
    renderer: Renderer,
    out: IO[bytes],
    *,
    today: date,
    include_internal: bool,
) -> list[str]:
    """Write the bundle of ``case`` as a ZIP to ``out`` (which need not be seekable)."""
    bundle = prepare(session, case, renderer, today, include_internal=include_internal)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for _ in _fill(archive, bundle, storage, ZIP_CHUNK_BYTES):
            pass
    return bundle.names


class _Pipe:
    """A write-only file the ZIP is written into and its bytes taken out of as they come.

    It has no ``tell`` or ``seek``: ``zipfile`` then writes each entry's sizes after its
    data, never going back.
    """

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def write(self, data: bytes, /) -> int:
        self._pieces.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        """Nothing is held back: ``drain`` hands out all that was written."""

    def close(self) -> None:
        """Nothing to release; ``zipfile`` leaves a file it was handed open anyway."""

    def drain(self) -> bytes:
        data = b"".join(self._pieces)
        self._pieces.clear()
        return data


def stream_bundle(
    bundle: Bundle, storage: Storage, *, chunk_bytes: int = ZIP_CHUNK_BYTES
) -> Iterator[bytes]:
    """The ZIP of ``bundle`` piece by piece as it is made, each piece about ``chunk_bytes``.

    It reads storage, never the database, so it can run after the request has ended.
    """
    pipe = _Pipe()
    with (
        zipfile.ZipFile(pipe, "w", zipfile.ZIP_DEFLATED) as archive,
        # Closed first when the download is abandoned, so the entry being written is
        # finished before the archive closes: zipfile refuses to close around it.
        closing(_fill(archive, bundle, storage, chunk_bytes)) as filling,
    ):
        for _ in filling:
            if piece := pipe.drain():
                yield piece
    if rest := pipe.drain():  # the central directory, written when the archive closes
        yield rest
