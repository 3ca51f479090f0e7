"""Placing accounts from a CSV file: upload, column mapping, progress, preview, confirmation.

The work happens in ``portal.services.imports``; validation and placement run as
background jobs (``validate_import`` and ``place_import`` below), which the page
follows by polling its own status fragment with htmx.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from flask import Response, current_app, redirect, request, stream_with_context, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from werkzeug.wrappers import Response as BaseResponse
from wtforms import SelectField
from wtforms.fields.choices import SelectChoice

from portal import db
from portal.adapters.errors import ServiceUnavailable
from portal.adapters.jobs import Job
from portal.adapters.storage import Storage
from portal.creditor import bp
from portal.models import ImportBatch, ImportStatus, Tenant
from portal.services import audit, imports
from portal.services.csv_reading import CsvFormat, write_rows
from portal.services.import_columns import (
    COLUMNS,
    DATE_FORMATS,
    describe_format,
    example_value,
    is_ignored,
    suggested_mapping,
    template_rows,
)
from portal.web.access import load_or_404
from portal.web.downloads import csv_attachment
from portal.web.rendering import render_page
from tenants.scoping import set_scope

IGNORE = SelectChoice("", "— not needed —")


class UploadForm(FlaskForm):  # type: ignore[misc]
    file = FileField("CSV file", validators=[FileRequired("Choose the CSV file to upload.")])
    date_format = SelectField(
        "Dates in the file are written as",
        choices=[SelectChoice(code, label) for code, (label, _pattern) in DATE_FORMATS.items()],
    )


def mapping_form(batch: ImportBatch, suggestion: dict[str, str]) -> FlaskForm:
    """One choice per column of the creditor's file (named by position: headers are free text)."""

    class MappingForm(FlaskForm):  # type: ignore[misc]
        pass

    choices = [IGNORE] + [
        SelectChoice(column.name, column.label + (" (required)" if column.required else ""))
        for column in COLUMNS
    ]
    for index, header in enumerate(batch.headers):
        if not is_ignored(header):
            field = SelectField(header, choices=choices, default=suggestion.get(header, ""))
            setattr(MappingForm, f"column_{index}", field)
    return MappingForm()


def _store() -> Storage:
    store: Storage = current_app.extensions["portal.storage"]
    return store


def _tenant() -> Tenant:
    return load_or_404(Tenant, current_user.tenant_id)


def _csv_response(lines: Callable[[], Iterable[str]], filename: str) -> Response:
    """Stream CSV text made by ``lines`` (called once the response starts)."""

    def body() -> Iterator[str]:
        # The request's session is gone by the time a streamed body is read: the one
        # used here gets the signed-in user's tenant scope again.
        set_scope(db.session, current_user.tenant_scope())
        yield "\ufeff"  # the byte order mark: spreadsheets then read UTF-8
        yield from lines()

    return csv_attachment(filename, stream_with_context(body()))


# --- jobs ----------------------------------------------------------------------------------


def validate_import(batch_id: int) -> None:
    """Background job: check the batch's rows (in tests it runs inline, in the request)."""
    imports.run_validation(db.session, _store(), batch_id)


def place_import(batch_id: int, user_id: int) -> None:
    """Background job: place the batch's valid cases in one transaction."""
    imports.run_placement(db.session, _store(), batch_id, user_id)


def _start_validation(batch: ImportBatch) -> None:
    previous = batch.status
    if imports.begin_validation(db.session, batch):
        db.session.commit()  # the job, maybe on another thread, must see the batch
        _queue(batch, previous, validate_import, batch.id)


def _queue(batch: ImportBatch, previous: ImportStatus, job: Job, *args: int) -> None:
    """Queue the job of the step the batch has just begun; when the queue does not answer,
    the batch is handed back to ``previous`` and the error answers the request (503)."""
    try:
        current_app.extensions["portal.jobs"].enqueue(job, *args)
    except ServiceUnavailable:
        db.session.rollback()
        imports.hand_back(db.session, batch, previous)
        db.session.commit()
        raise


# --- pages ---------------------------------------------------------------------------------


@bp.route("/imports", methods=["GET", "POST"])
def imports_page() -> BaseResponse | tuple[str, int] | str:
    tenant = _tenant()
    form = UploadForm(date_format=tenant.csv_date_format)
    if form.validate_on_submit():
        upload = form.file.data
        try:
            batch = imports.start_import(
                db.session,
                _store(),
                tenant=tenant,
                user_id=current_user.id,
                upload=upload.stream,
                filename=upload.filename or "",
                date_format=form.date_format.data,
            )
        except imports.ImportRefused as refusal:
            db.session.rollback()
            form.file.errors.append(str(refusal))
        else:
            db.session.commit()
            if not batch.mapping:
                return redirect(url_for("creditor.import_mapping", batch_id=batch.id))
            _start_validation(batch)
            return redirect(url_for("creditor.import_batch", batch_id=batch.id))
    page = render_page(
        "creditor/imports/upload.html",
        form=form,
        batches=imports.recent_batches(db.session),
        statuses=ImportStatus,
        max_rows=imports.MAX_ROWS,
    )
    return (page, 400) if request.method == "POST" else page


@bp.get("/imports/template")
def import_template() -> str:
    tenant = _tenant()
    formats = {"date_format": tenant.csv_date_format, "currency": tenant.currency}
    return render_page(
        "creditor/imports/template.html",
        columns=[
            (
                column,
                describe_format(column, **formats),
                example_value(column, formats["date_format"]),
            )
            for column in COLUMNS
        ],
        date_format=DATE_FORMATS[tenant.csv_date_format][0],
        max_rows=imports.MAX_ROWS,
    )


@bp.get("/imports/template.csv")
def import_template_csv() -> Response:
    rows = template_rows("iso", examples=False)
    return _csv_response(lambda: write_rows(rows), "placement-template.csv")


@bp.get("/imports/example.csv")
def import_example_csv() -> Response:
    rows = template_rows(_tenant().csv_date_format, examples=True)
    return _csv_response(lambda: write_rows(rows), "placement-example.csv")


@bp.route("/imports/<int:batch_id>/columns", methods=["GET", "POST"])
def import_mapping(batch_id: int) -> BaseResponse | tuple[str, int] | str:
    batch = load_or_404(ImportBatch, batch_id)
    tenant = _tenant()
    suggestion = batch.mapping or suggested_mapping(batch.headers, tenant.csv_column_mapping)
    form = mapping_form(batch, suggestion)
    problems: list[str] = []
    if form.validate_on_submit():
        chosen = {
            header: form[f"column_{index}"].data
            for index, header in enumerate(batch.headers)
            if f"column_{index}" in form
        }
        problems = imports.save_mapping(db.session, batch, tenant, chosen)
        if not problems:
            db.session.commit()
            _start_validation(batch)
            return redirect(url_for("creditor.import_batch", batch_id=batch.id))
    page = render_page(
        "creditor/imports/mapping.html",
        batch=batch,
        form=form,
        problems=problems,
        fields=[(i, header) for i, header in enumerate(batch.headers) if f"column_{i}" in form],
        preview=batch.summary.get("preview", []),
        file_format=CsvFormat(batch.encoding or "utf-8", batch.delimiter or ","),
        revisable=batch.status in imports.REVISABLE,
    )
    return (page, 400) if request.method == "POST" else page


def _batch_page(batch: ImportBatch, refusal: str | None = None) -> str:
    shown = batch.status in {ImportStatus.VALIDATED, ImportStatus.PLACED}
    return render_page(
        "creditor/imports/batch.html",
        fragment="batch_status",
        batch=batch,
        statuses=ImportStatus,
        busy=batch.status in imports.IN_PROGRESS,
        errors=imports.shown_errors(db.session, batch) if shown else [],
        errors_shown=imports.ERRORS_SHOWN,
        revisable=batch.status in imports.REVISABLE,
        refusal=refusal,
    )


@bp.get("/imports/<int:batch_id>")
def import_batch(batch_id: int) -> str:
    """The batch's progress, then its preview; htmx polls the status block while busy."""
    return _batch_page(load_or_404(ImportBatch, batch_id))


@bp.post("/imports/<int:batch_id>/confirm")
def confirm_import(batch_id: int) -> BaseResponse | tuple[str, int]:
    batch = load_or_404(ImportBatch, batch_id)
    previous = batch.status
    if not imports.begin_placing(db.session, batch):
        db.session.rollback()
        refusal = (
            "This import cannot be placed: it was placed already, is not checked yet, "
            "or has no valid cases."
        )
        return _batch_page(batch, refusal), 409
    db.session.commit()
    _queue(batch, previous, place_import, batch.id, current_user.id)
    return redirect(url_for("creditor.import_batch", batch_id=batch.id))


@bp.get("/imports/<int:batch_id>/rejected.csv")
def rejected_rows_csv(batch_id: int) -> Response:
    batch = load_or_404(ImportBatch, batch_id)
    delimiter = batch.delimiter or ","
    # The rows hold debtors' names and addresses: who took them away is on record.
    audit.record(
        db.session, "import.rejected_rows_exported", actor_id=current_user.id,
        tenant_id=batch.tenant_id, subject=batch, ip_address=request.remote_addr,
    )  # fmt: skip
    db.session.commit()
    return _csv_response(
        lambda: write_rows(imports.rejected_rows(db.session, batch), delimiter=delimiter),
        f"rejected-rows-{batch.id}.csv",
    )
