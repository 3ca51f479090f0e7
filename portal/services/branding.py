"""A client's logo, shown to its debtors on their payment page and to its own users.

A logo is a PNG or JPEG image of at most 512 KB, recognised by its content (the same
check documents go through), never by its name: a GIF or a text file named ``logo.png``
is refused. It is kept through the storage adapter under the tenant's prefix, named by
its content's hash (``tenant/<id>/branding/logo-<sha8>.png``), and replaces the previous
one.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import IO

from sqlalchemy.orm import Session

from portal.adapters.storage import DocumentNotFound, Storage
from portal.models import Tenant
from portal.services import audit, documents

MAX_LOGO_BYTES = 512 * 1024
EXTENSIONS = {documents.PNG: "png", documents.JPEG: "jpg"}
CONTENT_TYPES = {extension: content_type for content_type, extension in EXTENSIONS.items()}


class LogoRefused(ValueError):
    """The upload is not a logo the portal accepts; the message says why."""


@dataclass(frozen=True)
class Logo:
    data: bytes
    content_type: str


def upload_logo(
    session: Session,
    storage: Storage,
    tenant: Tenant,
    *,
    filename: str | None,
    stream: IO[bytes] | None,
    actor_id: int,
) -> str:
    """Check the image, store it and make it the tenant's logo; returns its storage key.

    ``LogoRefused`` leaves the tenant's logo as it was and stores nothing.
    """
    if stream is None or not filename:
        raise LogoRefused("Choose the logo's image file.")
    name = documents.display_name(filename)
    data = stream.read(MAX_LOGO_BYTES + 1)  # small enough to hold whole; never more
    if len(data) > MAX_LOGO_BYTES:
        raise LogoRefused(
            f"“{name}” is larger than the {documents.human_size(MAX_LOGO_BYTES)} a logo may be."
        )
    if not data:
        raise LogoRefused(f"“{name}” is empty.")
    content_type = _image_type(data, name)
    key = f"tenant/{tenant.id}/branding/logo-{hashlib.sha256(data).hexdigest()[:8]}"
    key = f"{key}.{EXTENSIONS[content_type]}"
    storage.put(key, io.BytesIO(data), content_type)
    previous, tenant.logo_key = tenant.logo_key, key
    audit.record(
        session,
        "tenant.logo_changed",
        actor_id=actor_id,
        tenant_id=tenant.id,
        subject=tenant,
        key=key,
        previous_key=previous,
        content_type=content_type,
        size_bytes=len(data),
    )
    session.flush()
    if previous and previous != key:
        storage.delete(previous)
    return key


def _image_type(data: bytes, name: str) -> str:
    refusal = LogoRefused(f"“{name}” is not a PNG or JPEG image. A logo must be one of those.")
    try:
        content_type = documents.detect_content_type(io.BytesIO(data), name)
    except documents.DocumentRefused:
        raise refusal from None
    if content_type not in EXTENSIONS:
        raise refusal
    return content_type


def logo(storage: Storage, tenant: Tenant) -> Logo | None:
    """The tenant's logo, or None when it has none (or it is no longer stored)."""
    if not tenant.logo_key:
        return None
    extension = tenant.logo_key.rpartition(".")[2]
    try:
        data = storage.get(tenant.logo_key)
    except DocumentNotFound:
        return None
    return Logo(data, CONTENT_TYPES.get(extension, documents.PNG))


# WCAG's minimum contrast for normal text: links and buttons in the brand colour must
# stay readable on the page's white (and white button text on the colour).
MIN_CONTRAST = 4.5


def _luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast_with_white(colour: str) -> float:
    """How ``#rrggbb`` contrasts with white, from 1 (white itself) to 21 (black)."""
    return 1.05 / (_luminance(colour) + 0.05)


def stylesheet(tenant: Tenant) -> str:
    """The CSS that gives the debtor's pages the creditor's colour (a file, not an inline
    style: the pages' Content-Security-Policy allows only style sheets of the portal)."""
    colour = tenant.brand_colour
    return (
        ":root, [data-theme=light] {\n"
        f"  --pico-primary: {colour};\n"
        f"  --pico-primary-background: {colour};\n"
        f"  --pico-primary-border: {colour};\n"
        f"  --pico-primary-hover: {colour};\n"
        f"  --pico-primary-hover-background: {colour};\n"
        f"  --pico-primary-underline: {colour}80;\n"
        "}\n"
    )
