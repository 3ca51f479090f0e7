"""Render a full page, or only one of its blocks when htmx asks for a fragment.

A page and the fragment htmx swaps in live in one template (jinja2-fragments), so the
two cannot drift apart.
"""

from __future__ import annotations

from typing import Any

from flask import render_template
from jinja2_fragments.flask import render_block

from portal.extensions import htmx


def wants_fragment() -> bool:
    """Whether this request is htmx asking for a fragment, not the whole page: a view may
    leave out what only the whole page shows."""
    return bool(htmx and not htmx.boosted)


def render_page(template: str, fragment: str | None = None, **context: Any) -> str:
    if fragment and wants_fragment():
        return str(render_block(template, fragment, **context))
    return render_template(template, **context)
