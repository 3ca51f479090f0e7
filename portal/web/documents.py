"""Documents on cases, the same for creditors and agency staff.

Upload, download, and direct uploads to S3 with a confirmation step; each blueprint
registers these views with ``register_document_views``. The rules live in
``portal.services.documents``.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from portal import db
from portal.adapters.storage import DocumentNotFound, Storage, content_disposition, read_in_chunks
from portal.config import Settings
from portal.models import Case, Document, DocumentKind
from portal.services import documents
from portal.web.access import load_on_case, load_or_404

JSON_VIEWS = {"start_direct_upload", "confirm_direct_upload"}


def _storage() -> Storage:
    storage: Storage = current_app.extensions["portal.storage"]
    return storage


def _max_bytes() -> int:
    settings: Settings = current_app.extensions["portal.settings"]
    return settings.max_document_bytes


def _case_page(case_id: int) -> Response:
    return redirect(url_for(".case", case_id=case_id, _anchor="documents"))


def _document_helpers() -> dict[str, Any]:
    return {
        "document_kinds": list(DocumentKind),
        "file_size": documents.human_size,
        "max_document_size": documents.human_size(_max_bytes()),
    }


def _request_too_large(_error: RequestEntityTooLarge) -> Any:
    """A request far over the limit is cut off before any view reads it: say why."""
    message = f"That upload is larger than the {documents.human_size(_max_bytes())} limit."
    view = (request.endpoint or "").rpartition(".")[2]
    if view in JSON_VIEWS:
        return jsonify(error=message), 413
    case_id = (request.view_args or {}).get("case_id")
    if view == "upload_document" and isinstance(case_id, int):
        flash(message, "error")
        return _case_page(case_id)
    page = render_template("errors/error.html", status=413, title="Too large", text=message)
    return page, 413


def upload_document(case_id: int) -> Response:
    case = load_or_404(Case, case_id)
    upload = request.files.get("file")
    try:
        document = documents.add_document(
            db.session,
            _storage(),
            case,
            filename=upload.filename if upload else None,
            stream=upload.stream if upload else None,
            kind=request.form.get("kind"),
            shareable_with_debtor=bool(request.form.get("shareable_with_debtor")),
            uploaded_by_id=current_user.id,
            max_bytes=_max_bytes(),
        )
    except documents.DocumentRefused as refusal:
        db.session.rollback()
        flash(str(refusal), "error")
        return _case_page(case.id)
    _commit_or_discard(document.storage_key)
    flash(f"Added “{document.filename}”.", "success")
    return _case_page(case.id)


def _commit_or_discard(stored_key: str) -> None:
    """Commit the row naming ``stored_key``; if the commit fails, the stored bytes go too."""
    try:
        db.session.commit()
    except Exception:
        documents.discard_stored(_storage(), stored_key)
        raise


def download_document(case_id: int, document_id: int) -> Response:
    return send_document(load_on_case(Document, document_id, case_id), actor_id=current_user.id)


def send_document(document: Document, *, actor_id: int | None) -> Response:
    """Send the browser a stored document (a presigned link, or the portal streams it);
    the download is audited. 404 for one that is not stored."""
    try:
        found = documents.download(
            db.session,
            _storage(),
            document,
            actor_id=actor_id,
            ip_address=request.remote_addr,
        )
    except DocumentNotFound:
        abort(404)
    db.session.commit()
    if isinstance(found, str):
        return redirect(found)
    return Response(
        read_in_chunks(found),
        mimetype=document.content_type,
        headers={
            "Content-Disposition": content_disposition(document.filename),
            "Content-Length": str(document.size_bytes),
        },
    )


def start_direct_upload(case_id: int) -> tuple[Response, int]:
    """JSON in: filename, kind, shareable_with_debtor, size. JSON out: the form to post."""
    case = load_or_404(Case, case_id)
    details = request.get_json(silent=True)
    if not isinstance(details, dict):
        return jsonify(error="Send the file's name, kind and size as a JSON object."), 400
    size = details.get("size")
    try:
        document, form = documents.start_direct_upload(
            db.session,
            _storage(),
            case,
            filename=str(details.get("filename") or ""),
            kind=str(details.get("kind") or ""),
            shareable_with_debtor=details.get("shareable_with_debtor") is True,
            declared_size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            uploaded_by_id=current_user.id,
            max_bytes=_max_bytes(),
        )
    except documents.DirectUploadUnavailable as unavailable:
        db.session.rollback()
        return jsonify(error=str(unavailable)), 409
    except documents.DocumentRefused as refusal:
        db.session.rollback()
        return jsonify(error=str(refusal)), 422
    db.session.commit()
    confirm = url_for(".confirm_direct_upload", case_id=case.id, document_id=document.id)
    return jsonify(
        document_id=document.id, upload={"url": form.url, "fields": form.fields}, confirm=confirm
    ), 201


def confirm_direct_upload(case_id: int, document_id: int) -> tuple[Response, int]:
    document = load_on_case(Document, document_id, case_id)
    try:
        result = documents.confirm_direct_upload(
            db.session, _storage(), document, max_bytes=_max_bytes()
        )
    except documents.UploadNotArrived as missing:
        db.session.rollback()
        return jsonify(error=str(missing)), 409
    if result.document is None:
        db.session.commit()  # the object and the row are deleted: keep that
        return jsonify(error=result.problem), 422
    stored = result.document
    if result.superseded is None:  # confirmed before: nothing new was stored
        db.session.commit()
    else:
        _commit_or_discard(stored.storage_key)
        documents.discard_stored(_storage(), result.superseded)
    return jsonify(
        document_id=stored.id,
        status=stored.status.value,
        filename=stored.filename,
        content_type=stored.content_type,
        size_bytes=stored.size_bytes,
        sha256=stored.sha256,
    ), 200


def register_document_views(bp: Blueprint) -> None:
    bp.context_processor(_document_helpers)
    bp.register_error_handler(RequestEntityTooLarge, _request_too_large)
    case_documents = "/cases/<int:case_id>/documents"
    bp.add_url_rule(case_documents, view_func=upload_document, methods=["POST"])
    bp.add_url_rule(f"{case_documents}/<int:document_id>", view_func=download_document)
    bp.add_url_rule(f"{case_documents}/direct", view_func=start_direct_upload, methods=["POST"])
    bp.add_url_rule(
        f"{case_documents}/<int:document_id>/confirm",
        view_func=confirm_direct_upload,
        methods=["POST"],
    )
