"""Files the portal's pages hand out for download, answered the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Response


def csv_attachment(filename: str, body: str | Iterable[str]) -> Response:
    """A CSV (text, or lines to stream) saved as ``filename`` (a name the portal made)."""
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
