from __future__ import annotations

from portal.debtor import bp
from portal.web.rendering import render_page


@bp.get("/")
def start() -> str:
    return render_page("debtor/start.html")
