"""Documents on a case, uploaded as multipart/form-data.

The upload goes through ``portal.services.documents`` like the portal's own upload
form: the same storage, the same content and size checks.
"""

from __future__ import annotations

from typing import IO

from flask import current_app, request

from portal import db
from portal.adapters.storage import Storage
from portal.api.cases import CASE_ID, load_case
from portal.api.operations import Reply, operation
from portal.api.problems import DOCUMENT_REFUSED, ApiProblem, pointer
from portal.api.schemas import DocumentFields, DocumentOut, DocumentUpload, FieldError
from portal.config import Settings
from portal.services import documents


def _size(stream: IO[bytes]) -> int:
    """The size of an upload werkzeug has spooled (to memory or a temporary file)."""
    stream.seek(0, 2)
    return stream.tell()


@operation(
    f"/cases/{CASE_ID}/documents",
    "POST",
    summary="Add a document to a case",
    form=DocumentFields,
    form_schema=DocumentUpload,
    ok={201: ("The document, stored.", DocumentOut)},
    refusals={
        413: "The file is larger than the document size limit.",
        422: "The file is empty or of a type the portal does not accept, or a field is wrong.",
    },
)
def add_document(case_id: int, form: DocumentFields) -> Reply:
    """Its type is judged by its content (PDF, PNG, JPEG, TIFF, DOCX, XLSX, CSV, TXT, EML),
    never by its name."""
    case = load_case(case_id)
    settings: Settings = current_app.extensions["portal.settings"]
    storage: Storage = current_app.extensions["portal.storage"]
    upload = request.files.get("file")
    try:
        document = documents.add_document(
            db.session,
            storage,
            case,
            filename=upload.filename if upload else None,
            stream=upload.stream if upload else None,
            kind=form.kind.value,
            shareable_with_debtor=form.shareable_with_debtor,
            uploaded_by_id=None,  # an API key acts for its tenant, not for a person
            max_bytes=settings.max_document_bytes,
        )
    except documents.DocumentRefused as refusal:
        too_big = upload is not None and _size(upload.stream) > settings.max_document_bytes
        raise ApiProblem(
            413 if too_big else 422,
            str(refusal),
            kind=DOCUMENT_REFUSED,
            title="Document refused",
            errors=[FieldError(field=pointer("file"), message=str(refusal))],
        ) from None
    return Reply(201, DocumentOut.model_validate(document, from_attributes=True))
